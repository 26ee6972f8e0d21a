"""Native HMAC-SHA256 against Python's hmac, and redaction of salts."""

from __future__ import annotations

import random

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from eljobs.sanitize.hashing import (
    hmac_sha256_hex,
    hmac_sha256_hex_py,
    padded_keys,
    register_secret,
)
from eljobs.secrets import redact

VECTOR = "3BF2B893B2A0F57586E7CF73AF0690F061FAA9546F2C385AD93174BB9A81468C"


def test_python_reference_matches_spec_vector() -> None:
    assert hmac_sha256_hex_py("some salt", "some string value") == VECTOR


def test_spec_vector_in_spark(spark: SparkSession) -> None:
    df = spark.createDataFrame([("some string value",), (None,)], "v string")
    got = [r.h for r in df.select(hmac_sha256_hex(F.col("v"), "some salt").alias("h")).collect()]
    assert got == [VECTOR, None]


def _random_strings(rng: random.Random, n: int) -> list[str]:
    alphabet = "abcXYZ019 -_/%\t\n\"'\\é日本語ü€\u0000\U0001f600ÿ"
    out = ["", "a", "x" * 200]
    while len(out) < n:
        out.append("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80))))
    return out


@pytest.mark.parametrize(
    "salt",
    [
        "some salt",
        "0123456789abcdef" * 4,  # 64 bytes: exactly one block
        "f" * 65,  # longer than a block: the key is hashed first
        "sälz-日本",  # non-ASCII key bytes
    ],
)
def test_matches_python_hmac_on_random_strings(spark: SparkSession, salt: str) -> None:
    values = _random_strings(random.Random(len(salt)), 150)
    df = spark.createDataFrame([(v,) for v in values], "v string")
    got = df.select("v", hmac_sha256_hex(F.col("v"), salt).alias("h")).collect()
    assert len(got) == len(values)
    for row in got:
        assert row.h == hmac_sha256_hex_py(salt, row.v), repr(row.v)


def test_plan_has_no_python_udf(spark: SparkSession) -> None:
    df = spark.createDataFrame([("x",)], "v string")
    out = df.select(hmac_sha256_hex(F.col("v"), "plan salt").alias("h"))
    plan = out._jdf.queryExecution().executedPlan().toString()
    assert "PythonUDF" not in plan and "BatchEvalPython" not in plan and "ArrowEval" not in plan
    # The padded key is in the plan: this is why plans are never printed and always redacted.
    ipad, _ = padded_keys("plan salt")
    assert ipad.hex().upper() in plan
    assert ipad.hex().upper() not in redact(plan)


def test_redact_hides_every_form() -> None:
    salt = "c0ffee" * 10 + "abcd"
    register_secret(salt)
    ipad, opad = padded_keys(salt)
    text = f"{salt} {ipad.hex()} {opad.hex().upper()} X'{ipad.hex().upper()}' 0x{opad.hex()}"
    out = redact(text)
    for secret in (salt, ipad.hex(), opad.hex().upper(), ipad.hex().upper()):
        assert secret not in out
    assert "*****" in out


def test_failing_plan_logged_by_pyspark_is_redacted(spark: SparkSession) -> None:
    import logging.handlers

    from pyspark.logger import PySparkLogger

    salt = "logged-salt-" + "9" * 20
    df = spark.createDataFrame([("x",)], "v string")
    records = logging.handlers.BufferingHandler(100)
    logger = PySparkLogger.getLogger("DataFrameQueryContextLogger")
    logger.addHandler(records)
    try:
        with pytest.raises(Exception) as e:
            # An analysis error in an expression holding the padded key as a literal.
            df.select(hmac_sha256_hex(F.col("v"), salt) + F.struct(F.lit(1))).collect()
    finally:
        logger.removeHandler(records)
    ipad, _ = padded_keys(salt)
    assert ipad.hex().upper() in str(e.value)  # Spark's own message: callers must redact it
    assert ipad.hex().upper() not in redact(str(e.value))
    # PySpark logged the failure with the plan; the filter redacted the record.
    assert records.buffer, "PySpark logged nothing"
    for r in records.buffer:
        text = r.getMessage()
        assert "*****" in text
        assert ipad.hex().upper() not in text and salt not in text
        assert r.exc_info is None


def test_sanitized_plans_and_downstream_errors_never_hold_the_key(spark: SparkSession) -> None:
    from datetime import UTC, datetime

    from eljobs.sanitize import Salt, sanitize

    salt = "plan-secret-" + "7" * 30
    ipad, opad = padded_keys(salt)
    df = spark.createDataFrame([("v", {"k": "x"})], "a string, m map<string,string>")
    out = sanitize(
        df,
        {"t": {"a": "hash", "m": {"k": "hash"}}},
        table="t",
        partition={"year": 2024},
        salts=[Salt(datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC), salt)],
    )
    assert out.collect()[0] == (hmac_sha256_hex_py(salt, "v"), {"k": hmac_sha256_hex_py(salt, "x")})
    qe = out._jdf.queryExecution()
    plans = "\n".join(
        str(p.toString()) for p in (qe.analyzed(), qe.optimizedPlan(), qe.executedPlan())
    )
    with pytest.raises(Exception) as e:
        # A later step (as Refine's conform) failing analysis prints the plan below it.
        out.select(F.col("a") + F.struct(F.lit(1))).collect()
    for text in (plans, str(e.value)):
        for form in (ipad.hex(), ipad.hex().upper(), opad.hex(), opad.hex().upper(), salt):
            assert form not in text
