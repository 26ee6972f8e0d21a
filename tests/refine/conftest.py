"""Fixtures for the Refine tests: raw hourly input written from the real schemas' examples.

``RawWriter`` writes JSON lines the way the backfill file sink lays them out
(``<base>/eventlogging_<Schema>/year=YYYY/month=MM/day=DD/hour=HH/part-00000.json``), either as
EventLogging capsules (for ``schema_base_uris=eventlogging``) or as Event Platform events with a
``$schema`` (for schema repositories), built from each schema's ``examples``.
"""

from __future__ import annotations

import copy
import json
import os
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

# Transforms called without a database geocode with the bundled GeoLite2 City of 2018 (tests
# only); jobs keep the production default unless a test passes --geocode_database.
os.environ.setdefault("ELJOBS_MAXMIND_CITY_DB", "bundled")
import yaml

#: Three real schemas used end to end (directory name, EventLogging name).
SCHEMAS = (("navigationtiming", "NavigationTiming"), ("savetiming", "SaveTiming"), ("test", "Test"))


def latest_schema_doc(schemas_dir: Path, name: str) -> dict[str, Any]:
    """The YAML document of the highest version of ``name``."""
    d = schemas_dir / name
    versions = sorted(d.glob("*.yaml"), key=lambda p: tuple(int(x) for x in p.stem.split(".")))
    return dict(yaml.safe_load(versions[-1].read_text()))


class RawWriter:
    """Writes hourly raw input directories of JSON lines."""

    schemas = SCHEMAS

    def __init__(self, base: Path, schemas_dir: Path) -> None:
        self.base = base
        self.schemas_dir = schemas_dir

    def hour_dir(self, el_name: str, hour: datetime) -> Path:
        """``<base>/eventlogging_<Name>/year=YYYY/month=MM/day=DD/hour=HH`` (zero padded)."""
        return (
            self.base
            / f"eventlogging_{el_name}"
            / f"year={hour:%Y}/month={hour:%m}/day={hour:%d}/hour={hour:%H}"
        )

    def events(
        self,
        name: str,
        el_name: str,
        hour: datetime,
        n: int,
        *,
        capsule: bool,
        extra_event: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """``n`` events of schema ``name`` at ``hour``, from the schema's first example."""
        doc = latest_schema_doc(self.schemas_dir, name)
        example = doc["examples"][0]
        out = []
        for i in range(n):
            dt = hour.replace(minute=i % 60).strftime("%Y-%m-%dT%H:%M:%SZ")
            event = copy.deepcopy(example.get("event", {}))
            event.update(extra_event or {})
            eid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{name}/{hour.isoformat()}/{i}"))
            if capsule:
                out.append(
                    {
                        "dt": dt,
                        "event": event,
                        "ip": "10.0.2.2",
                        "recvFrom": "cp1001.eqiad.wmnet",
                        "revision": 1234,
                        "schema": el_name,
                        "seqId": i,
                        "userAgent": {
                            "browser_family": "Chrome",
                            "browser_major": "80",
                            "browser_minor": "0",
                            "device_family": "Other",
                            "is_bot": False,
                            "is_mediawiki": False,
                            "os_family": "Mac OS X",
                            "os_major": "10",
                            "os_minor": "15",
                            "wmf_app_version": "-",
                        },
                        "uuid": eid.replace("-", ""),
                        "webHost": "en.wikipedia.org",
                        "wiki": "enwiki",
                    }
                )
            else:
                ev = copy.deepcopy(example)
                ev["event"] = event
                ev["dt"] = dt
                ev.setdefault("meta", {})
                ev["meta"]["dt"] = dt
                ev["meta"]["id"] = eid
                ev["meta"]["domain"] = "en.wikipedia.org"
                out.append(ev)
        return out

    def write(
        self, el_name: str, hour: datetime, lines: Iterable[str], *, name: str = "part-00000.json"
    ) -> Path:
        """Write lines into the hour directory; returns the directory."""
        d = self.hour_dir(el_name, hour)
        d.mkdir(parents=True, exist_ok=True)
        (d / name).write_text("".join(line + "\n" for line in lines))
        return d

    def write_events(
        self,
        name: str,
        el_name: str,
        hour: datetime,
        n: int,
        *,
        capsule: bool,
        extra_event: Mapping[str, Any] | None = None,
    ) -> Path:
        """Write ``n`` events (see :meth:`events`) as sorted-key JSON lines."""
        evs = self.events(name, el_name, hour, n, capsule=capsule, extra_event=extra_event)
        return self.write(el_name, hour, (json.dumps(e, sort_keys=True) for e in evs))

    @staticmethod
    def touch(path: Path, *, seconds_later: int = 5) -> None:
        """Move a directory's modification time forward (as when new input arrives)."""
        st = path.stat()
        os.utime(path, (st.st_atime, st.st_mtime + seconds_later))


@pytest.fixture
def raw_writer(tmp_path: Path, schemas_dir: Path) -> RawWriter:
    """A :class:`RawWriter` under ``tmp_path/raw``."""
    return RawWriter(tmp_path / "raw", schemas_dir)


def backfill_into_raw(
    spark: Any,
    tmp_path: Path,
    schemas_dir: Path,
    names: tuple[str, ...],
    hours: Iterable[datetime],
    n: int,
) -> tuple[Path, dict[tuple[str, int], int]]:
    """Run the real backfill job (file sink) for each hour over generated raw lines of
    ``names``, then lay its output out as the hourly import would
    (``raw/eventlogging_<Schema>/year=.../hour=HH/``).

    Returns:
        The EventLogging schema directory the backfill used (``<Name>/<revision>.json``) and
        the number of events per (normalized table, hour).
    """
    from eljobs.jobs import backfill
    from eljobs.testing.sample import generate_lines, write_sample_schemas, write_text_hour

    el_schemas = tmp_path / "el_schemas"
    schemas = write_sample_schemas(el_schemas, names, source=schemas_dir)
    counts: dict[tuple[str, int], int] = {}
    for i, hour in enumerate(hours):
        lines = generate_lines(schemas, n, hour=hour, seed=100 + i, first_seq=10_000 * i)
        write_text_hour(tmp_path / f"lines/{hour:%Y/%m/%d/%H}", [s.line for s in lines])
        out = tmp_path / f"backfill_{hour:%H}"
        code = backfill.main(
            [
                "--input_path", str(tmp_path / "lines"),
                "--since", hour.isoformat(),
                "--until", (hour + timedelta(hours=1)).isoformat(),
                "--schemas_path", str(el_schemas),
                "--output", f"file://{out}",
                "--report_path", str(tmp_path / f"backfill_{hour:%H}.json"),
            ]
        )  # fmt: skip
        assert code == 0
        for topic_dir in sorted(out.glob("topic=eventlogging_*")):
            el_name = topic_dir.name.removeprefix("topic=eventlogging_")
            dest = (
                tmp_path
                / "raw"
                / f"eventlogging_{el_name}"
                / f"year={hour:%Y}/month={hour:%m}/day={hour:%d}/hour={hour:%H}"
            )
            dest.mkdir(parents=True)
            n_lines = 0
            for part in sorted(topic_dir.iterdir()):
                if part.is_file() and not part.name.startswith((".", "_")) and part.stat().st_size:
                    text = part.read_text()
                    n_lines += sum(1 for line in text.splitlines() if line.strip())
                    (dest / part.name).write_text(text)
            counts[(el_name.lower(), hour.hour)] = n_lines
    return el_schemas, counts


@pytest.fixture(name="backfill_into_raw")
def _backfill_into_raw() -> Any:
    """:func:`backfill_into_raw` as a fixture (test modules cannot import this conftest)."""
    return backfill_into_raw
