"""Shared fixtures: one session-scoped local Spark (UTC, UI off), a work folder per run,
and paths to the real inputs in ../shared/data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("ELJOBS_SHARED", ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def work_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A work folder for the whole run (warehouse, metastore, reports)."""
    p = tmp_path_factory.mktemp("eljobs-work")
    os.environ["ELJOBS_WORK"] = str(p)
    return p


@pytest.fixture(scope="session")
def spark(work_root: Path) -> Iterator[object]:
    """The one local Spark session of the test run (``local[2]``, UTC, UI off, Hive on)."""
    from eljobs.spark import get_session

    session = get_session("test", app_name="eljobs-tests")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``: the real allowlists and EventLogging schemas."""
    p = SHARED / "data"
    if not p.is_dir():
        pytest.fail(f"expected the shared data folder at {p} (set ELJOBS_SHARED)")
    return p


@pytest.fixture(scope="session")
def schemas_dir(shared_data: Path) -> Path:
    """The 55 real legacy EventLogging schemas (Event Platform layout)."""
    return shared_data / "event-schemas-secondary"


@pytest.fixture(scope="session")
def broker() -> Iterator[object]:
    """One Apache Kafka broker (single KRaft node, free loopback port, storage in a temporary
    directory) for the whole run.

    Tests that kill or restart it must leave it running when they finish (``restart()``)."""
    from eljobs.testing.broker import ApacheKafkaBroker

    with ApacheKafkaBroker() as b:
        yield b


@pytest.fixture(scope="session")
def hadoop_cluster() -> Iterator[object]:
    """One Hadoop mini cluster (HDFS + YARN, ``eljobs.testing.hadoop``) for the whole run.

    Started only when a test asks for it: about 50 s and 400 MB (docs/operations.md)."""
    from eljobs.testing.hadoop import MiniHadoopCluster

    with MiniHadoopCluster() as cluster:
        yield cluster
