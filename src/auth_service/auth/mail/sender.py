"""Mail transports and the mailer that runs them off the request path.

`Mailer.send` returns at once: the message is delivered by a background task bounded by
SMTP_TIMEOUT_SECONDS, so a slow or unreachable mail server never holds a request, and the
answer (and its timing) is the same whether a message was sent or not. A failed delivery is
logged with the kind of message and the reason, never with its link or token.
"""

from __future__ import annotations

import asyncio
import logging
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Protocol

import aiosmtplib

from auth_service.auth.mail.templates import RenderedMail
from auth_service.settings import Settings

log = logging.getLogger("auth_service.mail")

MAX_PENDING = 1000
"""Deliveries in flight beyond which new messages are dropped (and logged) rather than queued."""


class MailTransport(Protocol):
    name: str

    async def deliver(self, message: EmailMessage, mail: RenderedMail) -> None: ...


class LogTransport:
    """Development: the message, link included, goes to the log instead of a mail server."""

    name = "log"

    async def deliver(self, message: EmailMessage, mail: RenderedMail) -> None:
        log.info(
            "mail (MAIL_TRANSPORT=log, not sent) kind=%s to=%s subject=%r\n%s\nlink: %s",
            mail.kind.value,
            mail.to,
            mail.subject,
            mail.body,
            mail.url,
        )


class SmtpTransport:
    """An SMTP server: implicit TLS, STARTTLS or plain, with optional credentials."""

    name = "smtp"

    def __init__(self, settings: Settings) -> None:
        assert settings.smtp_host is not None  # checked by Settings
        self.host = settings.smtp_host
        self.port = settings.smtp_port
        self.username = settings.smtp_username or None
        password = settings.smtp_password
        self.password = password.get_secret_value() if password is not None else None
        self.security = settings.smtp_security
        self.timeout = settings.smtp_timeout_seconds

    async def deliver(self, message: EmailMessage, mail: RenderedMail) -> None:
        await aiosmtplib.send(
            message,
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            use_tls=self.security == "tls",
            start_tls=self.security == "starttls",
            timeout=self.timeout,
        )


def build_transport(settings: Settings) -> MailTransport:
    if settings.mail_transport == "smtp":
        return SmtpTransport(settings)
    if settings.is_production:
        log.warning(
            "MAIL_TRANSPORT=log in production: messages are not sent, and their links (which "
            "carry sign-in secrets) are written to the log. Set MAIL_TRANSPORT=smtp."
        )
    return LogTransport()


def mask_address(address: str) -> str:
    """`jane@example.com` -> `j***@example.com`, for log lines."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


class Mailer:
    def __init__(self, transport: MailTransport, from_address: str, timeout: float) -> None:
        self.transport = transport
        self.from_address = from_address
        self.timeout = timeout
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    def from_settings(cls, settings: Settings) -> Mailer:
        return cls(build_transport(settings), settings.smtp_from, settings.smtp_timeout_seconds)

    def send(self, mail: RenderedMail) -> None:
        """Deliver `mail` in the background; never raises, never waits."""
        if len(self._tasks) >= MAX_PENDING:
            log.warning(
                "mail %s dropped: %d deliveries already pending", mail.kind.value, MAX_PENDING
            )
            return
        task = asyncio.get_running_loop().create_task(self._deliver(mail))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _message(self, mail: RenderedMail) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.from_address
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Date"] = formatdate(localtime=False)
        domain = parseaddr(self.from_address)[1].rpartition("@")[2] or "localhost"
        message["Message-ID"] = make_msgid(domain=domain)
        message.set_content(mail.body)
        return message

    async def _deliver(self, mail: RenderedMail) -> None:
        kind, to = mail.kind.value, mask_address(mail.to)
        try:
            message = self._message(mail)
            async with asyncio.timeout(self.timeout):
                await self.transport.deliver(message, mail)
        except TimeoutError:
            log.warning("mail %s to %s not sent: no answer within %ss", kind, to, self.timeout)
        except Exception as exc:  # any failure is logged; none reaches a request
            log.warning("mail %s to %s not sent: %s: %s", kind, to, type(exc).__name__, exc)
        else:
            if self.transport.name != "log":
                log.info("mail %s sent to %s", kind, to)

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def drain(self, grace_seconds: float) -> None:
        """At shutdown: let deliveries in flight finish for up to `grace_seconds`, then cancel."""
        tasks = set(self._tasks)
        if not tasks:
            return
        _, still_running = await asyncio.wait(tasks, timeout=grace_seconds)
        for task in still_running:
            task.cancel()
        if still_running:
            log.warning("%d mail deliveries cancelled at shutdown", len(still_running))
