"""Fixtures of the tests of eljobs.testing: the Hadoop mini cluster."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def hadoop_cluster() -> Iterator[object]:
    """One Hadoop mini cluster (HDFS + YARN, ``eljobs.testing.hadoop``) for the whole run.

    Started only when a test asks for it: about 50 s and 400 MB (docs/operations.md)."""
    from eljobs.testing.hadoop import MiniHadoopCluster

    with MiniHadoopCluster() as cluster:
        yield cluster
