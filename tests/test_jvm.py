"""The one pinned JVM declaration agrees with the Python side, and what the set-up fetched is
what the local sessions and the broker use. No Spark session."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from importlib.metadata import version
from pathlib import Path

import pytest

from eljobs.jvm import (
    MODULES,
    JvmArtifactsMissing,
    artifact_name,
    module_jars,
    require_jars,
    spark_extra_jars,
)

ROOT = Path(__file__).resolve().parents[1]
NS = {"m": "http://maven.apache.org/POM/4.0.0"}


def _pom_properties() -> dict[str, str]:
    props = ET.parse(ROOT / "jvm" / "pom.xml").getroot().find("m:properties", NS)
    assert props is not None
    return {el.tag.split("}")[1]: (el.text or "").strip() for el in props}


def test_connector_version_is_the_pinned_pyspark_everywhere() -> None:
    pyspark = version("pyspark")
    assert _pom_properties()["spark.version"] == pyspark
    pin = re.search(r'"pyspark==([^"]+)"', (ROOT / "pyproject.toml").read_text())
    assert pin and pin.group(1) == pyspark
    conf = (ROOT / "conf" / "spark-kafka.properties").read_text()
    packages = re.search(r"^packages=(\S+)$", conf, re.M)
    assert packages and packages.group(1) == f"org.apache.spark:spark-sql-kafka-0-10_2.13:{pyspark}"


def test_every_module_was_fetched_by_the_set_up() -> None:
    for module in MODULES:
        assert module_jars(module), f"{module}: run make setup"
    names = {artifact_name(j) for j in module_jars("spark-kafka")}
    assert "spark-sql-kafka" in names  # artifact_name stops at the first -<digit>
    kafka = {j.name for j in module_jars("kafka-broker")}
    assert f"kafka_2.13-{_pom_properties()['kafka.version']}.jar" in kafka


def test_local_sessions_add_only_what_pyspark_lacks() -> None:
    extra = {artifact_name(j) for j in spark_extra_jars("spark-kafka")}
    assert "spark-sql-kafka" in extra and "kafka-clients" in extra
    # Scala and Hadoop's client come from pyspark's own jars, never twice.
    assert not any(n.startswith(("scala-library", "hadoop-client")) for n in extra)


def test_a_missing_module_says_how_to_fetch_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ELJOBS_JVM_DIR", str(tmp_path))
    assert module_jars("kafka-broker") == []
    with pytest.raises(JvmArtifactsMissing, match=r"kafka-broker.*make setup"):
        require_jars("kafka-broker")
    with pytest.raises(ValueError, match="unknown JVM module"):
        module_jars("zookeeper")
