"""Run Refine: discover targets, refine each (read, transform, evolve the table, write one
partition, flag), tables in parallel, and report (spec refine §1.7, §1.9, §1.10).

:func:`run_refine` is the entry used by ``eljobs.jobs.refine`` and by RefineSanitize, which
passes its sanitizer as ``extra_transforms`` (applied after ``transform_functions``).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eljobs.refine.context import TransformFn

if TYPE_CHECKING:
    from eljobs.refine.options import RefineConfig


class TransformLookupError(ValueError):
    """A ``transform_functions`` name does not name a known transform function."""


@dataclass
class TargetResult:
    """The outcome of one target.

    Attributes:
        target: the target's string form (spec §1.4).
        table: ``db.table``.
        partition_path: the output partition directory.
        status: ``refined``, ``failed`` or ``dry_run``.
        read: input records read (before corrupt records are dropped); None when not read.
        corrupt: corrupt input records.
        written: rows written to the partition.
        seconds: wall time of this target.
        error: the failure message (``Failed refinement of <target>. Original exception: ...``).
    """

    target: str
    table: str
    partition_path: str
    status: str
    read: int | None = None
    corrupt: int | None = None
    written: int | None = None
    seconds: float = 0.0
    error: str | None = None


@dataclass
class RefineResult:
    """What a Refine run did; ``ok`` is true iff no target failed."""

    ok: bool
    targets: list[TargetResult] = field(default_factory=list)
    report_path: str | None = None
    failure_report: str | None = None


def resolve_transforms(names: Sequence[str]) -> list[TransformFn]:
    """Turn ``--transform_functions`` entries into functions.

    Accepted forms, tried in this order:

    * a name (or alias) exported by :mod:`eljobs.refine.transforms`, e.g. ``event_transforms``,
      ``deduplicate_eventlogging``;
    * a Scala object name whose last dot-separated segment is such a name
      (``org.wikimedia.analytics.refinery.job.refine.event_transforms``);
    * a Python ``package.module:function`` or ``package.module.function``.

    Raises:
        TransformLookupError: a name resolves to nothing callable (the message names it).
    """
    out: list[TransformFn] = []
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        fn = _lookup_transform(name)
        if fn is None:
            raise TransformLookupError(
                f"--transform_functions: cannot find transform function {name!r}; expected a "
                "name from eljobs.refine.transforms (e.g. event_transforms), a Scala object "
                "name ending in one, or a Python 'package.module:function'"
            )
        out.append(fn)
    return out


def _lookup_transform(name: str) -> TransformFn | None:
    transforms: Any = importlib.import_module("eljobs.refine.transforms")
    if ":" in name:
        module_name, _, attr = name.partition(":")
        return _import_attr(module_name, attr)
    last = name.rsplit(".", 1)[-1]
    for candidate in (name, last):
        fn = getattr(transforms, candidate, None)
        if callable(fn) and not isinstance(fn, type):
            return fn
    if "." in name:
        module_name, _, attr = name.rpartition(".")
        return _import_attr(module_name, attr)
    return None


def _import_attr(module_name: str, attr: str) -> TransformFn | None:
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    fn = getattr(module, attr, None)
    return fn if callable(fn) else None


def run_refine(
    spark: Any,
    cfg: RefineConfig,
    *,
    extra_transforms: Sequence[TransformFn] = (),
    job_name: str = "refine",
) -> RefineResult:
    """Refine every target of ``cfg`` that needs it.

    Args:
        spark: the session (Hive support on).
        cfg: the validated config.
        extra_transforms: applied after ``cfg.transform_functions`` (RefineSanitize's sanitizer).
        job_name: names the run report and the email subject.

    Returns:
        A :class:`RefineResult`, ``ok`` iff no target failed.
    """
    raise NotImplementedError("run_refine is being built (interface commit)")
