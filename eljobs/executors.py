"""A bounded wait for executors: fail a job whose executors the cluster cannot grant.

Spark itself waits forever when no executor can be placed: a standalone master logs "Initial
job has not accepted any resources" every 15 s, and a YARN queue without room keeps the request
pending. For a scheduled job that is the worst outcome (nothing fails, the next hour queues up
behind it), so jobs on a cluster master run a small watch beside them: when tasks are waiting
and not one executor has been registered for ``timeout_s`` seconds in a row, it cancels the
running Spark jobs with a reason that names the executor size asked for, and the job fails with
that message.

The decision (:class:`WaitClock`) is pure and tested without Spark; :class:`ExecutorWatch`
feeds it from Spark's status tracker on a daemon thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

#: Spark setting (pass it with ``--conf``) for the wait, in seconds; 0 turns the watch off.
TIMEOUT_CONF = "spark.eljobs.executorWaitTimeout"
#: Long enough for a busy YARN queue to free a container, short enough to fail within the hour.
DEFAULT_TIMEOUT_S = 900.0
#: The executor settings the message repeats, so the operator sees what was asked for.
SIZE_SETTINGS = (
    "spark.executor.memory",
    "spark.executor.memoryOverhead",
    "spark.executor.cores",
    "spark.executor.instances",
    "spark.dynamicAllocation.enabled",
)


@dataclass
class WaitClock:
    """Decides when waiting for executors has gone on too long.

    ``observe`` is called with the time, whether tasks are waiting (active stages) and how many
    executors are registered; it returns True once tasks have waited with no executor for
    ``timeout_s`` seconds without a break. Any registered executor, or no waiting work, resets
    the clock: executors that come and go (dynamic allocation) are not a failure.
    """

    timeout_s: float
    _since: float | None = field(default=None, repr=False)

    def observe(self, now: float, *, waiting: bool, executors: int) -> bool:
        if not waiting or executors > 0:
            self._since = None
            return False
        if self._since is None:
            self._since = now
        return now - self._since >= self.timeout_s

    def waited(self, now: float) -> float:
        """Seconds the current wait has lasted (0 when not waiting)."""
        return 0.0 if self._since is None else now - self._since


def timeout_from(conf_value: str | None) -> float:
    """The wait in seconds from the Spark setting (default :data:`DEFAULT_TIMEOUT_S`).

    Raises:
        ValueError: the setting is not a number of seconds ≥ 0.
    """
    if conf_value is None or conf_value.strip() == "":
        return DEFAULT_TIMEOUT_S
    text = conf_value.strip().removesuffix("s")
    try:
        value = float(text)
    except ValueError:
        raise ValueError(
            f"{TIMEOUT_CONF}: expected a number of seconds (0 turns the wait off), "
            f"found {conf_value!r}"
        ) from None
    if value < 0:
        raise ValueError(f"{TIMEOUT_CONF}: expected seconds >= 0, found {conf_value!r}")
    return value


def is_local_master(master: str) -> bool:
    """``local``, ``local[N]`` and ``local[N,F]`` run tasks in the driver: nothing to wait for.
    (``local-cluster[...]`` starts real executors and is watched.)"""
    return master == "local" or master.startswith("local[")


def requested_size(get: Callable[[str], str | None]) -> str:
    """``spark.executor.memory=8g, spark.executor.cores=4, ...`` for the settings that are set."""
    parts = [f"{k}={v}" for k in SIZE_SETTINGS if (v := get(k)) is not None]
    return ", ".join(parts) or "Spark's default executor size"


class ExecutorWatch:
    """Cancels the session's Spark jobs when no executor is granted in time (see module doc)."""

    def __init__(self, spark: SparkSession, timeout_s: float, *, poll_s: float = 2.0) -> None:
        self._spark = spark
        self._clock = WaitClock(timeout_s)
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name="eljobs-executor-watch", daemon=True
        )
        self.fired: str | None = None

    def start(self) -> ExecutorWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def message(self) -> str:
        conf = self._spark.sparkContext.getConf()
        return (
            f"no executor was granted in {self._clock.timeout_s:.0f} s while tasks waited; the "
            f"cluster could not place an executor of {requested_size(conf.get)} (a worker or "
            "YARN container too small, or a queue without room). Size executors to the "
            f"cluster (docs/operations.md, 'Sizing executors') or raise {TIMEOUT_CONF}"
        )

    def _loop(self) -> None:
        jsc = self._spark.sparkContext._jsc.sc()
        tracker = jsc.statusTracker()
        while not self._stop.wait(self._poll_s):
            try:
                waiting = len(tracker.getActiveStageIds()) > 0
                # The status tracker lists the driver too.
                executors = max(0, len(tracker.getExecutorInfos()) - 1)
                jobs = list(tracker.getActiveJobIds())
            except Exception:  # the context stopped under us: nothing left to watch
                return
            if self._clock.observe(time.monotonic(), waiting=waiting, executors=executors):
                self.fired = self.message()
                log.error("%s", self.fired)
                for job_id in jobs:
                    jsc.cancelJob(int(job_id), self.fired)
                self._clock = WaitClock(self._clock.timeout_s)


def watch_executors(spark: SparkSession) -> ExecutorWatch | None:
    """Start the watch for a session on a cluster master (none for ``local[...]`` or when the
    setting is 0)."""
    conf = spark.sparkContext.getConf()
    if is_local_master(conf.get("spark.master") or "local"):
        return None
    timeout = timeout_from(conf.get(TIMEOUT_CONF))
    if timeout == 0:
        return None
    return ExecutorWatch(spark, timeout).start()
