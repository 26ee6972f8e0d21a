"""Typed job configuration: declared options, `.properties` files and command-line parsing.

Every job declares its options as a frozen dataclass whose fields are made with :func:`option`
(a default, or required, plus a help string). :func:`parse_config` builds that dataclass from

1. the `.properties` files named by ``--config_file`` (may repeat or be comma separated; later
   files override earlier ones; unknown keys are ignored with a warning, as the Scala jobs do),
2. then command-line options, ``--name value`` or ``--name=value`` (an unknown command-line
   option is an error: a typo on the command line should not be silently ignored).

Values are converted by the field's annotation, following the rules of the Scala originals:

* ``bool``: ``true``/``false`` (case-insensitive); on the command line a bare ``--flag`` also
  means true (the Scala jobs require a value; we accept both).
* ``int``, ``float``, ``str``.
* ``tuple[str, ...]``: comma separated, or a JSON array when the value is ``[...]``.
* ``dict[str, str]``: ``k1:v1,k2:v2`` (a pair without ``:`` is an error).
* ``re.Pattern[str]``: a regular expression, compiled up front.
* ``datetime``: ISO-8601 (zone-less means UTC) or a whole number of hours before now.
* ``Literal[...]``: one of the listed strings.
* ``X | None``: an empty value means None.

A job config inherits :class:`JobConfig`, so it checks itself when it is made: its
``validate()`` returns a list of problems and construction raises one :class:`ConfigError`
naming them all. A config built in Python (notebooks, the demo, tests) is therefore as checked
as one parsed from the command line, where conversion problems are reported together too.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from eljobs.io.fs import LOCAL_DEFAULT_FS, local_path
from eljobs.timewindow import parse_when

log = logging.getLogger(__name__)

T = TypeVar("T")

_MISSING: Any = dataclasses.MISSING


class ConfigError(ValueError):
    """One or more options are missing or invalid; the message lists every problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class JobConfig:
    """Base of every job's config dataclass: a config is valid from the moment it exists.

    The dataclass-generated ``__init__`` calls :meth:`__post_init__`, which raises a
    :class:`ConfigError` listing every problem :meth:`validate` finds. Subclasses extend
    ``validate`` (calling ``super().validate()``); one that normalizes its fields in its own
    ``__post_init__`` calls ``super().__post_init__()`` last.
    """

    def validate(self) -> list[str]:
        """Every problem with the options, as messages naming the option (empty: usable)."""
        return []

    def __post_init__(self) -> None:
        self.coerce_fields()
        problems = list(self.validate())
        if problems:
            raise ConfigError(problems)

    def coerce_fields(self) -> None:
        """Make every field's value fit its annotated type, as the command line would.

        Python callers (notebooks) may pass an option's command-line text
        (``since="2024-01-05T03"``, ``topics_regex="eventlogging_.*"``): it is converted exactly
        as :func:`parse_config` converts it. A list becomes a tuple and a whole number a float
        where those are expected. Anything else of the wrong type is a :class:`ConfigError`
        naming the option, before :meth:`validate` (or a subclass's normalization) trips over
        it. Idempotent.

        Raises:
            ConfigError: every option whose value does not fit, with what was expected.
        """
        hints = _field_types(type(self))
        problems = []
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            tp = hints.get(f.name)
            if tp is None:
                continue
            value = getattr(self, f.name)
            try:
                fitted = _fit(tp, value, pair_sep=f.metadata.get("pair_sep", ":"))
            except ValueError as e:
                shown = "<secret>" if f.metadata.get("secret") else repr(value)
                problems.append(f"--{f.name}: {e} (given {shown})")
                continue
            if fitted is not value:
                object.__setattr__(self, f.name, fitted)
        if problems:
            raise ConfigError(problems)


_FIELD_TYPES: dict[type, dict[str, Any]] = {}


def _field_types(cls: type) -> dict[str, Any]:
    """The resolved annotations of a config class (cached: resolving them is not free)."""
    if cls not in _FIELD_TYPES:
        _FIELD_TYPES[cls] = typing.get_type_hints(cls)
    return _FIELD_TYPES[cls]


def _fit(tp: Any, value: Any, *, pair_sep: str = ":") -> Any:
    """``value`` as an instance of ``tp`` (the same object when it already is one).

    Raises:
        ValueError: it is not and cannot be converted; the message says what was expected.
    """
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        if len(non_none) == 1:
            return _fit(non_none[0], value, pair_sep=pair_sep)
        return value
    if origin is Literal:
        if value not in args:
            raise ValueError(f"expected one of {', '.join(map(str, args))}")
        return value
    kinds: dict[Any, tuple[type, ...]] = {
        bool: (bool,),
        int: (int,),
        float: (int, float),
        str: (str,),
        datetime: (datetime,),
        tuple: (tuple, list),
        dict: (Mapping,),
        re.Pattern: (re.Pattern,),
    }
    want = kinds.get(origin or tp)
    if want is None:
        return value
    if isinstance(value, str) and tp is not str:
        return convert_value(tp, value, pair_sep=pair_sep)
    if not isinstance(value, want) or (isinstance(value, bool) and tp in (int, float)):
        raise ValueError(f"expected {describe_type(tp)}, found {type(value).__name__}")
    if tp is float and isinstance(value, int):
        return float(value)
    if origin is tuple and isinstance(value, list):
        return tuple(value)
    return value


class HelpRequested(Exception):
    """Raised by :func:`parse_config` when ``--help`` is given; carries the usage text."""

    def __init__(self, text: str) -> None:
        self.text = text
        super().__init__(text)


def option(
    default: Any = _MISSING,
    *,
    help: str,
    default_factory: Callable[[], Any] | None = None,
    secret: bool = False,
    bare: str | None = None,
    accumulate: bool = False,
    pair_sep: str = ":",
    prefix: str | None = None,
    positional: bool = False,
    default_doc: str | None = None,
) -> Any:
    """Declare one job option as a dataclass field.

    Args:
        default: the default value; leave unset for a required option.
        help: the help text shown by ``--help`` and in the generated option reference.
        default_factory: a callable giving the default (evaluated at parse time).
        secret: mask the value when the effective configuration is logged.
        bare: value to use when the option is given on the command line without a value.
        accumulate: for tuple and dict options, repeated occurrences add up instead of the
            last one winning. A list given on the command line still replaces the properties
            files' list; a map merges with theirs key by key.
        pair_sep: for dict options, the separator between key and value of one pair.
        prefix: for dict options, every key starting with this prefix (command line or
            properties file) is collected into the dict (Spark's ``kafka.`` convention).
        positional: the option may also be given as the first positional argument.
        default_doc: how the default is shown in ``--help`` when it is computed.
    """
    metadata = {
        "help": help,
        "secret": secret,
        "bare": bare,
        "accumulate": accumulate,
        "pair_sep": pair_sep,
        "prefix": prefix,
        "positional": positional,
        "default_doc": default_doc,
    }
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


# --------------------------------------------------------------------------------------------
# Properties files


def read_properties(text: str) -> dict[str, str]:
    """Parse Java ``.properties`` text (``k=v``, ``k: v`` or ``k v``; ``#``/``!`` comments;
    backslash line continuation) into a dict, later keys winning."""
    out: dict[str, str] = {}
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.lstrip()
        if not pending and (not line or line[0] in "#!"):
            continue
        # A line ending in an odd number of backslashes continues on the next line.
        trailing = len(line) - len(line.rstrip("\\"))
        if trailing % 2 == 1:
            pending += line[:-1]
            continue
        logical.append(pending + line)
        pending = ""
    if pending:
        logical.append(pending)
    for line in logical:
        m = re.match(r"((?:\\.|[^=:\s\\])+)\s*[=:\s]?\s*(.*)$", line)
        if not m:
            continue
        key = _unescape_properties(m.group(1))
        out[key] = _unescape_properties(m.group(2).rstrip())
    return out


def _unescape_properties(s: str) -> str:
    escapes = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}

    def sub(m: re.Match[str]) -> str:
        c = m.group(1)
        if c.startswith("u"):
            return chr(int(c[1:], 16))
        return escapes.get(c, c)

    return re.sub(r"\\(u[0-9a-fA-F]{4}|.)", sub, s)


def load_properties_files(paths: Iterable[str]) -> dict[str, str]:
    """Read and merge properties files in order (later files override earlier ones).

    Raises:
        ConfigError: a file cannot be read (the message names it).
    """
    merged: dict[str, str] = {}
    for p in paths:
        try:
            text = _read_text(p)
        except OSError as e:
            raise ConfigError([f"--config_file: cannot read {p!r}: {e}"]) from e
        merged.update(read_properties(text))
    return merged


def _read_text(path: str) -> str:
    # Options are read before any Spark session exists, so this is plain Python on the local
    # disk of the launching machine (bin/ wrappers pass conf/*.properties of the checkout): a
    # bare path is local here whatever fs.defaultFS says, file:// is accepted, and any other
    # file system is refused with a message rather than looked up on the local disk.
    local = local_path(path, default=LOCAL_DEFAULT_FS)
    if local is None:
        raise OSError(
            "expected a local file (a path or file://): options files are read before Spark "
            "starts, so other file systems are not reachable"
        )
    return Path(local).read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------
# Value conversion


def _split_list(value: str) -> tuple[str, ...]:
    v = value.strip()
    if v.startswith("[") and v.endswith("]"):
        parsed = json.loads(v)
        if not isinstance(parsed, list):
            raise ValueError("expected a JSON array")
        return tuple(str(x) for x in parsed)
    if not v:
        return ()
    return tuple(part.strip() for part in v.split(",") if part.strip())


def _split_map(value: str, sep: str) -> dict[str, str]:
    out: dict[str, str] = {}
    v = value.strip()
    if not v:
        return out
    for pair in v.split(","):
        if sep not in pair:
            raise ValueError(f"expected key{sep}value pairs separated by commas, found {pair!r}")
        k, _, val = pair.partition(sep)
        if not k.strip():
            raise ValueError(f"empty key in pair {pair!r}")
        out[k.strip()] = val.strip()
    return out


def convert_value(tp: Any, value: str, *, pair_sep: str = ":", now: datetime | None = None) -> Any:
    """Convert one option string to the annotated type ``tp``.

    Raises:
        ValueError: the value does not fit; the message says what was expected.
    """
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        if value.strip() == "":
            return None
        if len(non_none) == 1:
            return convert_value(non_none[0], value, pair_sep=pair_sep, now=now)
        raise TypeError(f"unsupported union option type {tp}")
    if origin is Literal:
        if value not in args:
            raise ValueError(f"expected one of {', '.join(map(str, args))}, found {value!r}")
        return value
    if tp is bool:
        low = value.strip().lower()
        if low not in ("true", "false"):
            raise ValueError(f"expected true or false, found {value!r}")
        return low == "true"
    if tp is int:
        try:
            return int(value.strip())
        except ValueError:
            raise ValueError(f"expected a whole number, found {value!r}") from None
    if tp is float:
        try:
            return float(value.strip())
        except ValueError:
            raise ValueError(f"expected a number, found {value!r}") from None
    if tp is str:
        return value
    if tp is datetime:
        return parse_when(value, now=now)
    if origin is tuple:
        return _split_list(value)
    if origin is dict:
        return _split_map(value, pair_sep)
    if origin is re.Pattern or tp is re.Pattern:
        try:
            return re.compile(value)
        except re.error as e:
            raise ValueError(f"invalid regular expression {value!r}: {e}") from None
    raise TypeError(f"unsupported option type {tp}")


def _is_bool(tp: Any) -> bool:
    if tp is bool:
        return True
    args = typing.get_args(tp)
    return typing.get_origin(tp) in (typing.Union, types.UnionType) and bool in args


def _is_map(tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_is_map(a) for a in typing.get_args(tp))
    return origin is dict


def _is_accumulating_container(tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_is_accumulating_container(a) for a in typing.get_args(tp))
    return origin in (tuple, dict)


# --------------------------------------------------------------------------------------------
# Parsing


def parse_config(
    cls: type[T],
    argv: Sequence[str] | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    prog: str | None = None,
    now: datetime | None = None,
) -> T:
    """Build the job config ``cls`` from properties files, command-line options and overrides.

    Args:
        cls: a frozen dataclass whose fields were declared with :func:`option`.
        argv: command-line arguments (without the program or job name).
        overrides: values already typed (used by notebooks and tests), applied last.
        prog: program name for the usage text.
        now: the current time for hours-ago values (tests pin it).

    Raises:
        HelpRequested: ``--help`` was given.
        ConfigError: any option is unknown, malformed or invalid (all problems together).
    """
    argv = list(argv or [])
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    problems: list[str] = []

    if "--help" in argv or "-h" in argv:
        raise HelpRequested(usage(cls, prog=prog))

    cli_pairs, positionals, cli_problems = _tokenize(argv, fields, hints)
    problems.extend(cli_problems)

    config_files: list[str] = []
    for k, v in cli_pairs:
        if k == "config_file":
            config_files.extend(_split_list(v))
    props: dict[str, str] = {}
    if config_files:
        try:
            props = load_properties_files(config_files)
        except ConfigError as e:
            problems.extend(e.problems)

    raw: dict[str, list[tuple[str, str]]] = {}
    prefixed = {
        f.metadata.get("prefix"): name for name, f in fields.items() if f.metadata.get("prefix")
    }

    def add(key: str, value: str, source: str) -> None:
        for pre, name in prefixed.items():
            if pre and key.startswith(pre) and key not in fields:
                raw.setdefault(name, []).append(
                    (f"{key}{fields[name].metadata['pair_sep']}{value}", source)
                )
                return
        if key not in fields:
            if source == "properties":
                log.warning("ignoring unknown option %r from --config_file", key)
                return
            problems.append(f"--{key}: unknown option (see --help)")
            return
        raw.setdefault(key, []).append((value, source))

    for k, v in props.items():
        if k != "config_file":
            add(k, v, "properties")
    for k, v in cli_pairs:
        if k != "config_file":
            add(k, v, "cli")

    positional_fields = [n for n, f in fields.items() if f.metadata.get("positional")]
    for i, value in enumerate(positionals):
        if i < len(positional_fields):
            raw.setdefault(positional_fields[i], []).append((value, "cli"))
        else:
            problems.append(f"unexpected argument {value!r} (options are given as --name value)")

    values: dict[str, Any] = {}
    # Options given but not convertible: their problem is reported, not also "missing".
    unparsed: set[str] = set()
    for name, occurrences in raw.items():
        f = fields[name]
        tp = hints[name]
        accumulate = f.metadata.get("accumulate") or f.metadata.get("prefix")
        # Properties values are replaced by command-line ones, except for maps, which merge
        # key by key (the command line wins a key). A list option given on the command line
        # replaces the file's list: `--output file:///tmp/check` on a production config file
        # must not also write to the file's Kafka output.
        if (not accumulate or not _is_map(tp)) and any(src == "cli" for _, src in occurrences):
            occurrences = [o for o in occurrences if o[1] == "cli"]
        if not accumulate:
            occurrences = occurrences[-1:]
        try:
            converted = [
                convert_value(tp, v, pair_sep=f.metadata.get("pair_sep", ":"), now=now)
                for v, _ in occurrences
            ]
        except (ValueError, json.JSONDecodeError) as e:
            problems.append(f"--{name}: {e}")
            unparsed.add(name)
            continue
        if accumulate and _is_accumulating_container(tp) and len(converted) > 1:
            if isinstance(converted[0], dict):
                merged: dict[str, str] = {}
                for c in converted:
                    merged.update(c or {})
                values[name] = merged
            else:
                values[name] = tuple(x for c in converted for x in (c or ()))
        else:
            values[name] = converted[-1]

    if overrides:
        for k, v in overrides.items():
            if k not in fields:
                problems.append(f"{k}: unknown option")
            else:
                values[k] = v

    for name, f in fields.items():
        if name in values or name in unparsed:
            continue
        if f.default is _MISSING and f.default_factory is _MISSING:
            problems.append(f"--{name}: required option is missing ({f.metadata.get('help', '')})")

    if problems:
        raise ConfigError(problems)

    try:
        # A JobConfig validates itself here (every problem in one ConfigError).
        return cls(**values)
    except ConfigError:
        raise
    except (TypeError, ValueError) as e:
        raise ConfigError([str(e)]) from e


def _tokenize(
    argv: list[str], fields: Mapping[str, dataclasses.Field[Any]], hints: Mapping[str, Any]
) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    pairs: list[tuple[str, str]] = []
    positionals: list[str] = []
    problems: list[str] = []
    prefixes = [str(f.metadata["prefix"]) for f in fields.values() if f.metadata.get("prefix")]
    i = 0
    while i < len(argv):
        tok = argv[i]
        if tok.startswith("--") and len(tok) > 2:
            body = tok[2:]
            if "=" in body:
                k, _, v = body.partition("=")
                pairs.append((k, v))
                i += 1
                continue
            k = body
            nxt = argv[i + 1] if i + 1 < len(argv) else None
            f = fields.get(k)
            bare = f.metadata.get("bare") if f is not None else None
            is_bool = f is not None and _is_bool(hints[k])
            if is_bool:
                if nxt is not None and nxt.lower() in ("true", "false"):
                    pairs.append((k, nxt))
                    i += 2
                else:
                    pairs.append((k, "true"))
                    i += 1
                continue
            if nxt is None or (nxt.startswith("--") and len(nxt) > 2):
                if bare is not None:
                    pairs.append((k, bare))
                    i += 1
                    continue
                known = k == "config_file" or any(k.startswith(p) for p in prefixes)
                if f is None and not known:
                    # A typo such as a trailing --dryrun: name it as unknown, the problem the
                    # user has to fix, rather than as a value it could never take.
                    problems.append(f"--{k}: unknown option (see --help)")
                else:
                    problems.append(f"--{k}: expected a value")
                i += 1
                continue
            pairs.append((k, nxt))
            i += 2
            continue
        positionals.append(tok)
        i += 1
    return pairs, positionals, problems


# --------------------------------------------------------------------------------------------
# Help and display


def describe_type(tp: Any) -> str:
    """A short human name for an option type, for ``--help``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return describe_type(next(a for a in args if a is not type(None)))
    if origin is Literal:
        return "|".join(map(str, args))
    if tp is datetime:
        return "datetime|hours-ago"
    if origin is tuple:
        return "list"
    if origin is dict:
        return "map"
    if origin is re.Pattern or tp is re.Pattern:
        return "regex"
    return getattr(tp, "__name__", str(tp))


def _show_default(f: dataclasses.Field[Any]) -> str:
    if f.metadata.get("default_doc"):
        return str(f.metadata["default_doc"])
    if f.default is not _MISSING:
        return format_value(f.default)
    factory: Any = f.default_factory
    if factory is not _MISSING:
        return format_value(factory())
    return "required"


def option_rows(cls: type) -> list[tuple[str, str, str, str]]:
    """(name, type, default, help) for every option of ``cls``; used by ``--help`` and docs."""
    hints = typing.get_type_hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        rows.append(
            (f.name, describe_type(hints[f.name]), _show_default(f), f.metadata.get("help", ""))
        )
    return rows


def usage(cls: type, *, prog: str | None = None) -> str:
    """The ``--help`` text: the job's docstring summary and every option with its default."""
    doc = (cls.__doc__ or "").strip()
    lines = [
        f"usage: {prog or 'eljobs'} [--config_file FILE ...] [--option value | --option=value ...]"
    ]
    if doc:
        lines += ["", doc]
    lines += ["", "options:"]
    for name, tp, default, text in option_rows(cls):
        lines.append(f"  --{name} <{tp}>   (default: {default})")
        for chunk in _wrap(text, 90):
            lines.append(f"      {chunk}")
    return "\n".join(lines)


def _wrap(text: str, width: int) -> list[str]:
    words, out, cur = text.split(), [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > width:
            out.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}" if cur else w
    if cur:
        out.append(cur)
    return out


def format_value(v: Any) -> str:
    """Render an option value the way a user would type it."""
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, re.Pattern):
        return v.pattern
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, tuple | list):
        return ",".join(map(str, v))
    if isinstance(v, dict):
        return ",".join(f"{k}:{val}" for k, val in v.items())
    return str(v)


SECRET_MASK = "*****"
_SECRET_KEY = re.compile(r"(password|secret|salt|token|sasl|jaas|key\.password)", re.IGNORECASE)


def effective_config(cfg: Any) -> dict[str, str]:
    """The config as display strings, secrets masked (for the start-of-job log and reports)."""
    out: dict[str, str] = {}
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        if f.metadata.get("secret"):
            out[f.name] = SECRET_MASK if v not in (None, "", (), {}) else format_value(v)
        elif isinstance(v, dict):
            out[f.name] = ",".join(
                f"{k}:{SECRET_MASK if _SECRET_KEY.search(k) else val}" for k, val in v.items()
            )
        else:
            out[f.name] = format_value(v)
    return out
