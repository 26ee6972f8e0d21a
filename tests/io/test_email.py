"""Email through a real local SMTP server (aiosmtpd)."""

from __future__ import annotations

import pytest

from eljobs.errors import OutputError
from eljobs.io.email import parse_smtp_uri, send_email
from eljobs.testing.smtp import LocalSmtpServer, free_port


def test_send_and_receive():
    with LocalSmtpServer() as smtp:
        send_email(
            smtp_uri=smtp.uri,
            from_email="Refine <noreply@wikimedia.org>",
            to_emails=("a@example.org", "b@example.org"),
            subject="Refine failures for job x",
            body="line 1\n\tline 2\n",
        )
        assert len(smtp.messages) == 1
        msg = smtp.messages[0]
        assert msg["Subject"] == "Refine failures for job x"
        assert msg["To"] == "a@example.org, b@example.org"
        assert msg.get_payload(decode=True).decode().replace("\r\n", "\n") == "line 1\n\tline 2\n"
        assert smtp.envelopes[0] == ("noreply@wikimedia.org", ["a@example.org", "b@example.org"])


def test_unreachable_server_and_no_recipients_are_named_errors():
    port = free_port()
    with pytest.raises(OutputError, match=f"through 127.0.0.1:{port}"):
        send_email(smtp_uri=f"127.0.0.1:{port}", from_email="a@x", to_emails=("b@x",),
                   subject="s", body="b", timeout=5)  # fmt: skip
    with pytest.raises(OutputError, match="to_emails is empty"):
        send_email(smtp_uri="localhost:25", from_email="a@x", to_emails=(), subject="s", body="")


def test_parse_smtp_uri():
    assert parse_smtp_uri("localhost:25") == ("localhost", 25)
    assert parse_smtp_uri("mail") == ("mail", 25)
    with pytest.raises(ValueError, match="host:port"):
        parse_smtp_uri("mail:x")
