"""The bounded wait for executors: the decision without Spark, and one real Spark application
whose executor can never be placed (a ``local-cluster`` master, Spark's own standalone master
and worker in the driver's JVM, with a worker of one core and executors of two)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from eljobs.executors import (
    DEFAULT_TIMEOUT_S,
    TIMEOUT_CONF,
    WaitClock,
    is_local_master,
    requested_size,
    timeout_from,
)

ROOT = Path(__file__).resolve().parents[1]


def test_the_clock_fires_only_after_an_unbroken_wait() -> None:
    clock = WaitClock(10)
    assert not clock.observe(0, waiting=True, executors=0)
    assert not clock.observe(9.9, waiting=True, executors=0)
    assert clock.observe(10, waiting=True, executors=0)


def test_an_executor_or_no_waiting_work_resets_the_clock() -> None:
    clock = WaitClock(10)
    clock.observe(0, waiting=True, executors=0)
    assert not clock.observe(8, waiting=True, executors=1)  # one came (and may go again)
    assert not clock.observe(15, waiting=True, executors=0)
    assert clock.waited(15) == 0
    assert not clock.observe(24, waiting=True, executors=0)
    assert not clock.observe(25, waiting=False, executors=0)  # idle between Spark jobs
    assert not clock.observe(40, waiting=True, executors=0)
    assert clock.observe(50, waiting=True, executors=0)


def test_timeout_setting() -> None:
    assert timeout_from(None) == DEFAULT_TIMEOUT_S
    assert timeout_from("120") == 120
    assert timeout_from("90s") == 90
    assert timeout_from("0") == 0
    with pytest.raises(ValueError, match=rf"{TIMEOUT_CONF}: expected a number of seconds.*'soon'"):
        timeout_from("soon")
    with pytest.raises(ValueError, match="expected seconds >= 0"):
        timeout_from("-1")


def test_only_local_masters_are_not_watched() -> None:
    assert is_local_master("local")
    assert is_local_master("local[2]")
    assert is_local_master("local[*, 3]")
    assert not is_local_master("local-cluster[1,1,1024]")
    assert not is_local_master("yarn")
    assert not is_local_master("spark://host:7077")


def test_requested_size_names_what_is_set() -> None:
    conf = {"spark.executor.memory": "8g", "spark.executor.cores": "4"}
    assert requested_size(conf.get) == "spark.executor.memory=8g, spark.executor.cores=4"
    assert requested_size({}.get) == "Spark's default executor size"


APP = textwrap.dedent(
    """
    import sys
    from eljobs.spark import get_session
    spark = get_session("cluster", app_name="eljobs-executor-wait", hive=False, conf={
        "spark.master": "local-cluster[1,1,1024]",
        "spark.executor.cores": "2",
        "spark.executor.memory": "512m",
        "spark.ui.enabled": "false",
        "spark.eljobs.executorWaitTimeout": "6",
    })
    try:
        spark.range(10).count()
    except Exception as e:
        print("FAILED:", e)
        sys.exit(3)
    print("RAN")
    """
)


@pytest.mark.slow
def test_a_job_whose_executors_cannot_be_placed_fails_after_the_wait(tmp_path: Path) -> None:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", APP],
        env=dict(
            os.environ,
            PYTHONPATH=str(ROOT),
            ELJOBS_WORK=str(tmp_path),
            PYSPARK_PYTHON=sys.executable,
            SPARK_LOCAL_IP="127.0.0.1",
        ),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 3, (done.stdout[-2000:], done.stderr[-3000:])
    assert "no executor was granted in 6 s" in done.stdout
    assert "spark.executor.cores=2" in done.stdout
    assert "spark.executor.memory=512m" in done.stdout
    # Waited, then gave up: not at once, and not Spark's forever.
    assert 6 <= elapsed < 240
