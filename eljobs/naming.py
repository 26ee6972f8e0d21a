"""Name normalization shared by Refine and RefineSanitize.

``normalize_name``: the first character is replaced by ``_`` unless it is ``[A-Za-z_]``, every
other character outside ``[A-Za-z0-9_]`` likewise, then the whole name is lower-cased
(``mediawiki.revision-create`` → ``mediawiki_revision_create``, ``$schema`` → ``_schema``).
``sanitize_field_name`` does the same replacement but keeps the case (nested struct fields).
"""

from __future__ import annotations

import re

_FIRST = re.compile(r"^[^A-Za-z_]")
_REST = re.compile(r"[^A-Za-z0-9_]")


def sanitize_field_name(name: str) -> str:
    """Replace invalid characters by ``_``, keeping the case."""
    if not name:
        return name
    return _FIRST.sub("_", name[0]) + _REST.sub("_", name[1:])


def normalize_name(name: str) -> str:
    """Replace invalid characters by ``_``, then lower-case.

    Used for tables, top-level fields and every allowlist key.
    """
    return sanitize_field_name(name).lower()
