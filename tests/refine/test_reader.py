"""Reading Refine input: format inference by magic bytes (gz too), SequenceFiles of JSON, and
the corrupt-record threshold with its message."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest

from eljobs.io.fs import JvmFileSystem
from eljobs.refine.reader import CorruptRecordsError, format_from_magic, infer_format, read_target
from eljobs.refine.targets import RefineTarget


@pytest.mark.parametrize(
    ("head", "fmt"),
    [(b"PAR1", "parquet"), (b"SEQ\x06", "sequence_json"), (b'{"a"', "json"), (b"[1]", "json"),
     (b"hello", "text"), (b"", "text")],
)  # fmt: skip
def test_format_from_magic(head: bytes, fmt: str):
    assert format_from_magic(head) == fmt


def _target(path: Path, fmt: str | None = None) -> RefineTarget:
    return RefineTarget(
        input_path=str(path),
        database="d",
        table="t",
        table_location="/unused/t",
        partition=(("year", "2024"),),
        input_mtime=1,
        input_format=fmt,
    )


def test_infer_format_skips_markers_hidden_and_empty_files(spark: Any, tmp_path: Path):
    fs = JvmFileSystem(spark)
    d = tmp_path / "in"
    d.mkdir()
    assert infer_format(fs, str(d)) == "empty"
    (d / "_SUCCESS").write_text("")
    (d / ".part-0.crc").write_bytes(b"PAR1")
    (d / "a-empty").write_text("")
    (d / "b.json.gz").write_bytes(gzip.compress(b'{"a": 1}\n'))
    assert infer_format(fs, str(d)) == "json"
    (d / "a-text").write_text("plain line\n")
    assert infer_format(fs, str(d)) == "text"


def test_sequence_file_of_json(spark: Any, tmp_path: Path):
    out = str(tmp_path / "seq")
    spark.sparkContext.parallelize(
        [(1, '{"a": 1, "b": "x"}'), (2, '{"a": 2, "b": "y"}')], 1
    ).saveAsSequenceFile(out)
    fs = JvmFileSystem(spark)
    assert infer_format(fs, out) == "sequence_json"
    res = read_target(spark, fs, _target(Path(out)))
    assert res.input_format == "sequence_json"
    assert sorted(r["b"] for r in res.df.collect()) == ["x", "y"]
    assert res.account() == (2, 0)


def _lines(tmp_path: Path) -> Path:
    d = tmp_path / "json"
    d.mkdir()
    (d / "part-0.json").write_text('{"a": 1}\n{"a": "not a number"}\n{oops\n{"a": 4}\n')
    return d


class FixedLoader:
    """A schema loader that always gives ``a BIGINT`` (as a repository would)."""

    def schema_for_event(self, event: Any) -> Any:
        from pyspark.sql.types import LongType, StructField, StructType

        return StructType([StructField("a", LongType())])


def test_corrupt_records_fail_the_target_with_the_reference_message(spark: Any, tmp_path: Path):
    d = _lines(tmp_path)
    fs = JvmFileSystem(spark)
    res = read_target(spark, fs, _target(d, "json"), loader=FixedLoader(), corrupt_threshold=2)  # type: ignore[arg-type]
    # Counted while the first action over the frame runs; the threshold is applied after it.
    assert sorted(r["a"] for r in res.df.collect()) == [1, 4]
    with pytest.raises(CorruptRecordsError) as e:
        res.account()
    assert (e.value.read, e.value.corrupt) == (4, 2)
    msg = str(e.value)
    assert msg.startswith("Encountered 2 corrupt records out of 4 total input records (50.00%)")
    assert f"when reading {_target(d, 'json')} input data" in msg
    assert msg.endswith(
        'corruptRecordFailureThreshold 2. First corrupt record: {"a": "not a number"}'
    )


def test_below_threshold_or_disabled_drops_corrupt_rows(spark: Any, tmp_path: Path):
    d = _lines(tmp_path)
    fs = JvmFileSystem(spark)
    for threshold in (3, 0):
        res = read_target(
            spark,
            fs,
            _target(d),
            loader=FixedLoader(),
            corrupt_threshold=threshold,  # type: ignore[arg-type]
        )
        assert (res.read, res.corrupt) == (None, None)  # nothing ran yet
        assert sorted(r["a"] for r in res.df.collect()) == [1, 4]
        assert "_corrupt_record" not in res.df.columns
        assert res.account() == (4, 2)
        assert (res.read, res.corrupt) == (4, 2)


def test_inferred_schema_counts_only_unparsable_lines(spark: Any, tmp_path: Path):
    d = _lines(tmp_path)
    res = read_target(spark, JvmFileSystem(spark), _target(d))
    assert res.df.count() == 3
    with pytest.raises(
        CorruptRecordsError, match=r"Encountered 1 corrupt records out of 4 .*\{oops"
    ):
        res.account()
