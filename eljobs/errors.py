"""Exception classes shared by every job. Each message says what was expected and what was found."""

from __future__ import annotations


class EljobsError(Exception):
    """Base class of the errors eljobs raises on purpose."""


class InputError(EljobsError, ValueError):
    """Input data cannot be read as expected; the message names the file (and line)."""


class OutputError(EljobsError):
    """A sink could not write; the message names the target (topic, path, servers)."""
