"""A real SMTP server for the tests (aiosmtpd, in a thread, on a free loopback port) that
keeps every message it receives, and helpers to find a message and the link in it."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.auth_client import shared_server
from tests.support.server import LiveServer, free_port

LINK = re.compile(r"https?://\S+")


@dataclass(frozen=True)
class ReceivedMail:
    sender: str
    recipients: tuple[str, ...]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None
        return str(part.get_content())

    @property
    def link(self) -> str:
        links = LINK.findall(self.body)
        assert len(links) == 1, self.body
        return str(links[0])


class _Collector:
    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.messages: list[ReceivedMail] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        mail = ReceivedMail(envelope.mail_from, tuple(envelope.rcpt_tos), message)
        with self.lock:
            self.messages.append(mail)
        return "250 Message accepted"


class SmtpSink:
    """An SMTP server collecting messages; `delay` makes it answer DATA that late."""

    def __init__(self, *, delay: float = 0.0) -> None:
        self.port = free_port()
        self.collector = _Collector(delay)
        self.controller = Controller(self.collector, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        atexit.register(self.stop)

    def stop(self) -> None:
        with contextlib.suppress(AssertionError, RuntimeError):  # already stopped
            self.controller.stop()

    def env(self, **extra: str) -> dict[str, str]:
        """Settings of a server that sends its mail here."""
        return {
            "MAIL_TRANSPORT": "smtp",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.port),
            "SMTP_SECURITY": "none",
            "SMTP_FROM": "Auth Tests <auth@example.test>",
            **extra,
        }

    def messages(self) -> list[ReceivedMail]:
        with self.collector.lock:
            return list(self.collector.messages)

    def to(self, address: str) -> list[ReceivedMail]:
        return [m for m in self.messages() if address.lower() in m.recipients]

    def wait_for(
        self,
        address: str,
        *,
        count: int = 1,
        subject: str | None = None,
        timeout: float = 10.0,
    ) -> ReceivedMail:
        """The `count`-th message to `address` (with `subject`), waiting for it to arrive."""
        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in self.to(address) if subject is None or m.subject == subject]
            if len(found) >= count:
                return found[count - 1]
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no message #{count} to {address} ({subject}) within {timeout}s; "
                    f"got {[(m.recipients, m.subject) for m in self.messages()]}"
                )
            time.sleep(0.05)

    def assert_none_to(self, address: str, *, wait: float = 1.0) -> None:
        time.sleep(wait)
        assert self.to(address) == [], [m.subject for m in self.to(address)]


_sinks: dict[str, SmtpSink] = {}


def mail_sink(name: str = "default", *, delay: float = 0.0) -> SmtpSink:
    """One sink per name for the whole run."""
    if name not in _sinks:
        _sinks[name] = SmtpSink(delay=delay)
    return _sinks[name]


def mail_server(
    factory: Callable[..., LiveServer], sink: SmtpSink, env: Mapping[str, str] | None = None
) -> LiveServer:
    """One auth server per (sink, settings) for the whole run, mailing through `sink`."""
    return shared_server(factory, sink.env(**dict(env or {})))


SUBJECT_VERIFY = "Verify your e-mail address"
SUBJECT_RESET = "Reset your password"
SUBJECT_CHANGE_CONFIRM = "Confirm the change of your e-mail address"
SUBJECT_CHANGE_VERIFY = "Verify your new e-mail address"
SUBJECT_DELETE = "Confirm the deletion of your account"
