"""A local SMTP server for tests (aiosmtpd on a free loopback port), collecting messages.

Usage::

    with LocalSmtpServer() as smtp:
        run(..., smtp_uri=smtp.uri)
        assert smtp.messages[0]["Subject"] == "..."
"""

from __future__ import annotations

import socket
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class _Collector:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


class LocalSmtpServer:
    """An SMTP server on ``127.0.0.1:<free port>`` for the duration of a ``with`` block."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = free_port(host)
        self._handler = _Collector()
        self._controller = Controller(self._handler, hostname=host, port=self.port)

    @property
    def uri(self) -> str:
        """``host:port`` for ``--smtp_uri``."""
        return f"{self.host}:{self.port}"

    @property
    def messages(self) -> list[Message]:
        """Messages received so far, in order."""
        return self._handler.messages

    @property
    def envelopes(self) -> list[tuple[str, list[str]]]:
        """(MAIL FROM, RCPT TO list) of each message received."""
        return self._handler.envelopes

    def start(self) -> LocalSmtpServer:
        """Start serving (in a background thread)."""
        self._controller.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._controller.stop()

    def __enter__(self) -> LocalSmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
