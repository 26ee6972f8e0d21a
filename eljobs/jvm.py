"""Where the set-up put the JVM artifacts of ``jvm/pom.xml``, and which of them a process needs.

``scripts/fetch_jvm.sh`` (run by the README's set-up) resolves the one pinned declaration,
``jvm/pom.xml``, into a folder of jars per module under ``.jvm/`` in the checkout (or
``$ELJOBS_JVM_DIR``):

* ``spark-kafka``: Spark's ``spark-sql-kafka-0-10`` connector for the pinned pyspark, with its
  dependencies;
* ``kafka-broker``: Apache Kafka's broker (KRaft), run in its own JVM by ``eljobs.testing``;
* ``hadoop-minicluster``: Hadoop's mini cluster (HDFS + YARN) for the tests;
* ``iceberg``: Iceberg's Spark runtime.

Nothing here downloads anything: a missing folder means the set-up has not fetched it, and the
callers say so (or, for the connector, fall back as documented).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

#: The modules of jvm/pom.xml, one folder of jars each.
MODULES = ("spark-kafka", "kafka-broker", "hadoop-minicluster", "iceberg")

_VERSIONED_JAR = re.compile(r"^(?P<name>.+?)-\d[\w.\-]*\.jar$")


class JvmArtifactsMissing(RuntimeError):
    """A module of jvm/pom.xml that a caller needs was not fetched by the set-up."""


def jvm_dir() -> Path:
    """The folder of fetched artifacts: ``$ELJOBS_JVM_DIR`` or ``.jvm`` beside the package."""
    env = os.environ.get("ELJOBS_JVM_DIR")
    if env:
        return Path(env).absolute()
    return Path(__file__).resolve().parent.parent / ".jvm"


def module_jars(module: str) -> list[Path]:
    """The jars of one module, sorted by name; empty when the set-up has not fetched it."""
    if module not in MODULES:
        raise ValueError(f"unknown JVM module {module!r}; expected one of {list(MODULES)}")
    folder = jvm_dir() / module
    return sorted(folder.glob("*.jar")) if folder.is_dir() else []


def require_jars(module: str) -> list[Path]:
    """Like :func:`module_jars`, but raise :class:`JvmArtifactsMissing` when there are none."""
    jars = module_jars(module)
    if not jars:
        raise JvmArtifactsMissing(
            f"expected the jars of jvm/pom.xml module {module!r} in {jvm_dir() / module}, found "
            "none: run 'make setup' (scripts/fetch_jvm.sh) once, with Maven Central reachable"
        )
    return jars


def classpath(module: str) -> str:
    """A ``java -cp`` class path of every jar of ``module`` (raises when it is missing)."""
    return os.pathsep.join(str(p) for p in require_jars(module))


def artifact_name(jar: Path | str) -> str:
    """``kafka-clients-3.9.1.jar`` -> ``kafka-clients``: the jar's name without its version."""
    name = Path(jar).name
    m = _VERSIONED_JAR.match(name)
    return m.group("name") if m else name.removesuffix(".jar")


def spark_extra_jars(module: str, spark_jars_dir: Path | None = None) -> list[Path]:
    """The jars of ``module`` that Spark does not ship itself.

    A Spark distribution already carries Scala, Hadoop's client, compression codecs and
    logging; adding a second version of those to the class path is what ``--packages`` avoids
    by taking Spark's. So a jar whose artifact name Spark's ``jars/`` folder has is left out.
    ``spark_jars_dir`` defaults to the installed pyspark's.
    """
    if spark_jars_dir is None:
        # Lazy: the broker and mini-cluster commands use this module without pyspark loaded.
        import pyspark

        spark_jars_dir = Path(pyspark.__file__).parent / "jars"
    shipped = {artifact_name(p) for p in spark_jars_dir.glob("*.jar")}
    return [p for p in module_jars(module) if artifact_name(p) not in shipped]
