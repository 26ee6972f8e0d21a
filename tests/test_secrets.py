"""The neutral registry of secret values: what is registered is redacted, nothing else."""

from __future__ import annotations

from eljobs import secrets


def test_registered_forms_are_redacted_longest_first() -> None:
    token = "tok-" + "9d" * 10
    secrets.register([token, token[:12]])
    out = secrets.redact(f"a={token} b={token[:12]} c=plain")
    assert token not in out and token[:12] not in out
    assert out == f"a={secrets.REDACTED} b={secrets.REDACTED} c=plain"


def test_short_forms_are_not_registered() -> None:
    secrets.register(["abc1234"])  # one character under the minimum length
    assert secrets.redact("key abc1234 here") == "key abc1234 here"


def test_binary_literals_are_redacted_without_registration() -> None:
    out = secrets.redact("lit 0x" + "00ff" * 5 + " and X'" + "ab" * 9 + "'")
    assert out == f"lit 0x{secrets.REDACTED} and X'{secrets.REDACTED}'"
