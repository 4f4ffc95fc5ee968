"""Every message the service sends: one subject and one plain-text body per kind.

Placeholders (`$name`, `$url`, `$new_email`, `$expires`) are filled by `render`; the links
carry secrets (tokens), so rendered messages are only ever handed to a transport.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from string import Template


@dataclass(frozen=True, slots=True)
class MailTemplate:
    subject: str
    body: str


class MailKind(Enum):
    VERIFY_EMAIL = "verify-email"
    RESET_PASSWORD = "reset-password"  # noqa: S105 - a message kind, not a password
    CHANGE_EMAIL_CONFIRMATION = "change-email-confirmation"
    CHANGE_EMAIL_VERIFICATION = "change-email-verification"
    DELETE_ACCOUNT = "delete-account"


TEMPLATES: dict[MailKind, MailTemplate] = {
    MailKind.VERIFY_EMAIL: MailTemplate(
        subject="Verify your e-mail address",
        body=(
            "Hello $name,\n\n"
            "Please confirm that this is your e-mail address by opening the link below:\n\n"
            "$url\n\n"
            "The link is valid for $expires.\n"
            "If you did not create an account, you can ignore this message.\n"
        ),
    ),
    MailKind.RESET_PASSWORD: MailTemplate(
        subject="Reset your password",
        body=(
            "Hello $name,\n\n"
            "Someone asked to reset the password of your account. To choose a new password,\n"
            "open the link below:\n\n"
            "$url\n\n"
            "The link is valid for $expires and can be used once.\n"
            "If you did not ask for this, you can ignore this message: your password stays "
            "the same.\n"
        ),
    ),
    MailKind.CHANGE_EMAIL_CONFIRMATION: MailTemplate(
        subject="Confirm the change of your e-mail address",
        body=(
            "Hello $name,\n\n"
            "Someone asked to change the e-mail address of your account to $new_email.\n"
            "To approve the change, open the link below; a confirmation link will then be sent\n"
            "to the new address:\n\n"
            "$url\n\n"
            "The link is valid for $expires.\n"
            "If you did not ask for this, do not open the link, and change your password.\n"
        ),
    ),
    MailKind.CHANGE_EMAIL_VERIFICATION: MailTemplate(
        subject="Verify your new e-mail address",
        body=(
            "Hello $name,\n\n"
            "Please confirm that $new_email is your new e-mail address by opening the link "
            "below:\n\n"
            "$url\n\n"
            "The link is valid for $expires.\n"
            "If you did not ask for this, you can ignore this message.\n"
        ),
    ),
    MailKind.DELETE_ACCOUNT: MailTemplate(
        subject="Confirm the deletion of your account",
        body=(
            "Hello $name,\n\n"
            "Someone asked to delete your account. To delete it for good, open the link below\n"
            "while signed in:\n\n"
            "$url\n\n"
            "The link is valid for $expires and can be used once.\n"
            "If you did not ask for this, do not open the link, and change your password.\n"
        ),
    ),
}


@dataclass(frozen=True, slots=True)
class RenderedMail:
    kind: MailKind
    to: str
    subject: str
    body: str
    url: str


def describe_duration(seconds: int) -> str:
    """`3600` -> "1 hour", `86400` -> "24 hours", `90` -> "2 minutes" (rounded up)."""
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return "1 hour" if hours == 1 else f"{hours} hours"
    minutes = max(1, -(-seconds // 60))
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def render(
    kind: MailKind,
    *,
    to: str,
    name: str,
    url: str,
    expires_in: int,
    new_email: str = "",
) -> RenderedMail:
    template = TEMPLATES[kind]
    values = {
        "name": name or to,
        "url": url,
        "new_email": new_email,
        "expires": describe_duration(expires_in),
    }
    return RenderedMail(
        kind=kind,
        to=to,
        subject=Template(template.subject).safe_substitute(values),
        body=Template(template.body).safe_substitute(values),
        url=url,
    )
