"""Literal paths for Hadoop readers that expand glob patterns.

Spark's file readers and Hadoop's input formats treat ``? * [ ] { } \\`` in a path as glob
syntax, so a directory named ``eventlogging_Bar{x,y}`` would be read as the two directories
``eventlogging_Barx`` and ``eventlogging_Bary``. :func:`escape_glob` makes a path stand for
itself; :func:`escape_input_paths` also protects commas for APIs that take a comma separated
list (``SparkContext.sequenceFile``, ``FileInputFormat.setInputPaths``).
"""

from __future__ import annotations

#: Characters Hadoop's ``GlobPattern`` gives a meaning (the backslash escapes the next one).
GLOB_CHARS = frozenset("\\*?[]{}")


def escape_glob(path: str) -> str:
    """``path`` with every glob character escaped by a backslash, so that a Hadoop glob of it
    matches exactly that path (``a{b,c}`` → ``a\\{b,c\\}``)."""
    return "".join("\\" + c if c in GLOB_CHARS else c for c in path)


def escape_input_paths(path: str) -> str:
    """:func:`escape_glob`, then escaped again for a comma separated path list: Hadoop splits
    the list at unescaped commas and removes one level of backslashes before globbing."""
    return escape_glob(path).replace("\\", "\\\\").replace(",", "\\,")
