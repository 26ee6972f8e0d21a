"""The names ``--transform_functions`` accepts, and their check, without the functions.

A config checks its transform names when it is validated, before any target starts
(:class:`eljobs.refine.options.RefineConfig`, ``refine_dataset``'s config). The functions live
in :mod:`eljobs.refine.transforms`, which builds its registry from :data:`TRANSFORM_NAMES`; it
imports this module and not the other way round, so reading options loads neither the
transforms nor the runner.

Two kinds of entry are accepted, so that a typo or an arbitrary module attribute
(``find_column``) is refused when the options are read instead of failing every target:

* a registry name (names, aliases and the reference's camelCase names, e.g.
  ``event_transforms``, ``deduplicate_eventlogging``), bare or as the Scala object name
  ``org.wikimedia.analytics.refinery.job.refine.<name>``;
* an explicit Python ``package.module:function``, for functions outside the registry.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from eljobs.refine.context import TransformFn

#: The Scala package whose object names ``--transform_functions`` accepts for a registry name.
SCALA_TRANSFORM_PACKAGE = "org.wikimedia.analytics.refinery.job.refine"

#: Every registry name, in registry order; each is a function of
#: :mod:`eljobs.refine.transforms` of the same name (aliases included).
TRANSFORM_NAMES: tuple[str, ...] = (
    "event_transforms",
    "remove_canary_events",
    "deduplicate",
    "deduplicate_eventlogging",
    "deduplicate_eventbus",
    "geocode_ip",
    "parse_user_agent",
    "add_is_wmf_domain",
    "filter_allowed_domains",
    "eventlogging_filter_is_allowed_hostname",
    "add_normalized_host",
    "parse_timestamp_fields",
    "parseTimestampFields",
    "normalize_field_names_and_widen_types",
    "normalizeFieldNamesAndWidenTypes",
)


class TransformLookupError(ValueError):
    """A ``transform_functions`` name does not name a known transform function."""


def registry_name(name: str) -> str:
    """The registry name an entry selects, bare or as the Scala object name.

    Raises:
        TransformLookupError: the entry names no registry function (the message lists the
            accepted names).
    """
    bare = name.removeprefix(SCALA_TRANSFORM_PACKAGE + ".")
    if bare in TRANSFORM_NAMES:
        return bare
    raise TransformLookupError(
        f"--transform_functions: unknown transform function {name!r}; expected one of "
        f"{', '.join(sorted(TRANSFORM_NAMES, key=str.lower))} (also as "
        f"{SCALA_TRANSFORM_PACKAGE}.<name>), or an explicit Python 'package.module:function'"
    )


def import_function(name: str) -> TransformFn:
    """The function an explicit ``package.module:function`` entry names.

    Raises:
        TransformLookupError: the module does not import, or has no function of that name.
    """
    module_name, _, attr = name.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise TransformLookupError(
            f"--transform_functions: {name!r}: cannot import module {module_name!r} ({e})"
        ) from e
    fn = getattr(module, attr, None)
    if not callable(fn) or isinstance(fn, type):
        raise TransformLookupError(
            f"--transform_functions: {name!r}: module {module_name!r} has no function {attr!r}"
        )
    return cast("TransformFn", fn)


def transform_name_problems(names: Sequence[str]) -> list[str]:
    """One message per entry of ``names`` that would be refused (blank entries are skipped),
    so config validation lists them all before any target starts."""
    problems = []
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        try:
            if ":" in name:
                import_function(name)
            else:
                registry_name(name)
        except TransformLookupError as e:
            problems.append(str(e))
    return problems
