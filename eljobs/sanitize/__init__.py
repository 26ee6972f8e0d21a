"""Sanitization: allowlists, the mask, native salted hashing, salts and their rotation.

Public API (contracts.md):

* :func:`load_allowlist` – a path or a mapping → :class:`Allowlist`; :class:`AllowlistError`.
* :class:`Salt`, :func:`load_salts` – the salt directory in file-name order.
* :func:`sanitize` – one frame of one table and partition → the sanitized frame (same schema).
* :func:`make_sanitizer` – the Refine transform function (reads ``context.table`` and
  ``context.partition``).

This is the privacy boundary: salts and unhashed values never appear in logs, errors or reports.
Errors raised while the sanitized frame is built are redacted (:func:`eljobs.secrets.redact`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eljobs.naming import normalize_name
from eljobs.sanitize.allowlist import Allowlist, AllowlistError, load_allowlist
from eljobs.sanitize.mask import apply_table_mask, compile_table_mask
from eljobs.sanitize.salts import (
    PartitionWindowError,
    Salt,
    SaltError,
    load_salts,
    missing_salt_reason,
    partition_window,
    select_salt,
)
from eljobs.secrets import redact

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from eljobs.refine.context import TransformContext

__all__ = [
    "Allowlist",
    "AllowlistError",
    "PartitionWindowError",
    "Salt",
    "SaltError",
    "SanitizeError",
    "load_allowlist",
    "load_salts",
    "make_sanitizer",
    "missing_salt_reason",
    "partition_window",
    "sanitize",
    "select_salt",
]

log = logging.getLogger(__name__)


class SanitizeError(ValueError):
    """Spark refused the sanitized frame (unexpected); the message is redacted."""


def sanitize(
    df: DataFrame,
    allowlist: Allowlist | Mapping[str, Any] | str | Path,
    *,
    table: str,
    partition: Mapping[str, str | int],
    salts: Iterable[Salt] = (),
) -> DataFrame:
    """Sanitize the frame of one table partition with an allowlist.

    Transform (DataFrame → DataFrame): the mask is compiled against ``df.schema`` on the driver
    first, so an invalid entry fails here, before any data is read.

    Args:
        df: the frame, partition columns included.
        allowlist: a loaded :class:`Allowlist`, a mapping or a path (loaded with
            ``keep_all_enabled=False``; load it yourself to enable keep_all).
        table: the table name (normalized before lookup).
        partition: partition keys to values, e.g. ``{"year": 2024, "month": 1}``; the keys
            name the partition columns kept whatever the allowlist says, the time keys choose
            the salt.
        salts: candidate salts, in priority order (as :func:`load_salts` returns them).

    Returns:
        A frame with the same columns: non-allowlisted values NULL (non-NULL maps empty),
        ``hash`` fields replaced by their HMAC; no rows when the table is not allowlisted; the
        frame itself for ``keep_all`` tables.

    Raises:
        PartitionWindowError: (a ValueError) ``partition`` has no ``year``.
        AllowlistError: the table's entry does not fit the schema or needs a missing salt.
    """
    al = allowlist if isinstance(allowlist, Allowlist) else load_allowlist(allowlist)
    candidates = list(salts)
    salt = select_salt(candidates, partition)
    name = normalize_name(table)
    mask = compile_table_mask(
        al,
        df.schema,
        table=name,
        partition_keys=list(partition),
        has_salt=salt is not None,
        no_salt_reason=None if salt is not None else missing_salt_reason(candidates, partition),
    )
    try:
        return apply_table_mask(df, mask, salt=salt.value if salt is not None else None)
    except Exception as e:
        # Analysis errors quote the plan, which holds the padded salt: never let one through.
        raise SanitizeError(
            f"cannot build the sanitized frame of table `{name}` for partition "
            f"{dict(partition)!r}: {redact(str(e))}"
        ) from None


def make_sanitizer(
    allowlist: Allowlist | Mapping[str, Any] | str | Path, salts: Iterable[Salt] = ()
) -> Any:
    """The Refine transform function ``fn(df, *, context) -> DataFrame`` for this allowlist.

    The function needs ``context`` (a :class:`~eljobs.refine.context.TransformContext`) for
    the table and partition; without it, it raises a ``ValueError``.
    """
    al = allowlist if isinstance(allowlist, Allowlist) else load_allowlist(allowlist)
    salt_list = list(salts)

    def sanitize_transform(df: DataFrame, *, context: TransformContext | None = None) -> DataFrame:
        if context is None:
            raise ValueError(
                "the sanitizer needs a TransformContext (table and partition); call "
                "eljobs.sanitize.sanitize(df, allowlist, table=..., partition=...) instead"
            )
        return sanitize(df, al, table=context.table, partition=context.partition, salts=salt_list)

    sanitize_transform.__name__ = "sanitize"
    return sanitize_transform
