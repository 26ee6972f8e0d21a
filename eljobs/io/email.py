"""Plain-text email through an SMTP server (Refine failure and monitor reports)."""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Sequence
from email.message import EmailMessage

from eljobs.errors import OutputError

log = logging.getLogger(__name__)


def parse_smtp_uri(smtp_uri: str) -> tuple[str, int]:
    """``host:port`` → (host, port); a missing port means 25.

    Raises:
        ValueError: the port is not a number.
    """
    host, sep, port = smtp_uri.rpartition(":")
    if not sep:
        return smtp_uri, 25
    if not port.isdigit():
        raise ValueError(f"smtp_uri: expected host:port, found {smtp_uri!r}")
    return host or "localhost", int(port)


def build_message(
    *, from_email: str, to_emails: Sequence[str], subject: str, body: str
) -> EmailMessage:
    """A plain-text message with the given headers."""
    msg = EmailMessage()
    msg["From"] = from_email
    msg["To"] = ", ".join(to_emails)
    msg["Subject"] = subject
    msg.set_content(body)
    return msg


def send_email(
    *,
    smtp_uri: str,
    from_email: str,
    to_emails: Sequence[str],
    subject: str,
    body: str,
    timeout: float = 30.0,
) -> None:
    """Send a plain-text email (no TLS, no auth: a local relay, as the reference uses).

    Raises:
        OutputError: no recipients, or the server cannot be reached or refuses the message.
    """
    if not to_emails:
        raise OutputError(f"cannot email {subject!r}: to_emails is empty")
    host, port = parse_smtp_uri(smtp_uri)
    msg = build_message(from_email=from_email, to_emails=to_emails, subject=subject, body=body)
    try:
        with smtplib.SMTP(host, port, timeout=timeout) as smtp:
            smtp.send_message(msg)
    except (OSError, smtplib.SMTPException) as e:
        raise OutputError(f"cannot send email {subject!r} through {host}:{port}: {e}") from e
    log.info("emailed %r to %s through %s:%d", subject, ", ".join(to_emails), host, port)
