"""Which Kafka sink (and reader) runs: Spark's connector when its class loads, else ours."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eljobs.io.kafka.errors import KafkaContractError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

CONNECTOR_CLASS = "org.apache.spark.sql.kafka010.KafkaSourceProvider"
CONNECTOR_HINT = (
    "add the connector with --packages or spark.jars.packages="
    "org.apache.spark:spark-sql-kafka-0-10_2.13:<spark version>"
)


def connector_available(spark: SparkSession) -> bool:
    """Whether Spark's Kafka connector class loads on the driver's JVM classpath."""
    try:
        jvm: Any = getattr(spark, "_jvm", None)
    except Exception:  # Spark Connect: no JVM access from Python
        return False
    if jvm is None:
        return False
    try:
        loader = jvm.org.apache.spark.util.Utils.getContextOrSparkClassLoader()
        jvm.java.lang.Class.forName(CONNECTOR_CLASS, False, loader)
    except Exception:
        return False
    return True


def choose_sink(spark: SparkSession, requested: str) -> tuple[str, str]:
    """Pick the Kafka sink: ``("spark" | "python", reason)``.

    ``spark`` iff the connector class :data:`CONNECTOR_CLASS` loads on the JVM classpath.

    Raises:
        KafkaContractError: ``requested`` is unknown, or ``spark`` without the connector.
    """
    if requested not in ("auto", "spark", "python"):
        raise KafkaContractError(
            f"--kafka_sink: expected auto, spark or python, found {requested!r}"
        )
    if requested == "python":
        return "python", "--kafka_sink python was requested"
    found = connector_available(spark)
    if requested == "spark":
        if not found:
            raise KafkaContractError(
                f"--kafka_sink spark: the connector class {CONNECTOR_CLASS} is not on the JVM "
                f"classpath; {CONNECTOR_HINT}, or use --kafka_sink python"
            )
        return (
            "spark",
            f"--kafka_sink spark was requested and {CONNECTOR_CLASS} is on the classpath",
        )
    if found:
        return "spark", f"auto: {CONNECTOR_CLASS} is on the JVM classpath"
    return (
        "python",
        f"auto: {CONNECTOR_CLASS} is not on the JVM classpath ({CONNECTOR_HINT}); "
        "using eljobs' Python Data Source writer",
    )
