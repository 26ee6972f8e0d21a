"""Sample data generator: schema conversion and layout, valid events, invalid kinds, the
client's encoding, the user-agent mix, and the executor-side SequenceFile writer."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jsonschema

from eljobs.io.raw import list_raw_input, read_raw
from eljobs.testing.sample import (
    BUNDLED_SCHEMAS,
    DEMO_SCHEMAS,
    INVALID_KINDS,
    Zipf,
    encode_query,
    generate_lines,
    load_sample_schemas,
    user_agents,
    write_generated_sequence_hour,
    write_sample_schemas,
)

H = datetime(2024, 1, 5, 3, tzinfo=UTC)


def test_encode_query_is_encode_uri_component() -> None:
    assert encode_query({"a": "b c/ü", "n": 1}) == (
        "?%7B%22a%22%3A%22b%20c%2F%C3%BC%22%2C%22n%22%3A1%7D;"
    )
    assert encode_query({"k": "!~*'()-_."}) == "?%7B%22k%22%3A%22!~*'()-_.%22%7D;"


def test_bundled_schemas_are_the_real_ones(schemas_dir: Path) -> None:
    for name in DEMO_SCHEMAS:
        (bundled,) = (BUNDLED_SCHEMAS / name).glob("*.yaml")
        assert bundled.read_bytes() == (schemas_dir / name / bundled.name).read_bytes()
    assert (BUNDLED_SCHEMAS / "SOURCE.md").is_file()


def test_write_sample_schemas_layout_and_names(tmp_path: Path, schemas_dir: Path) -> None:
    schemas = write_sample_schemas(
        tmp_path, ("navigationtiming", "editattemptstep", "kaiosappfirstrun"), source=schemas_dir
    )
    assert [(s.name, s.revision) for s in schemas] == [
        ("NavigationTiming", 1007000),
        ("EditAttemptStep", 2001000),
        ("KaiOSAppFirstRun", 1001000),  # the allowlist's spelling
    ]
    doc = json.loads((tmp_path / "NavigationTiming/1007000.json").read_text())
    assert doc["properties"]["isAnon"]["required"] is True  # draft 3 required flags
    assert "required" not in doc or not isinstance(doc.get("required"), list)


def test_valid_lines_carry_valid_events_and_invalid_lines_every_kind(schemas_dir: Path) -> None:
    schemas = load_sample_schemas(DEMO_SCHEMAS, source=schemas_dir)
    by_name = {s.name: s for s in schemas}
    lines = generate_lines(schemas, 400, hour=H, seed=3, invalid_fraction=0.1)
    kinds = Counter(s.kind for s in lines)
    assert set(kinds) == {"valid", *INVALID_KINDS} and kinds["valid"] == 360
    assert len({s.seq_id for s in lines if s.seq_id is not None}) == 400 - kinds["empty"]
    for s in lines:
        if s.kind != "valid":
            assert s.code == INVALID_KINDS[s.kind]
            continue
        q, recv, seq, dt, ip, ua = s.line.split("\t")
        assert q.startswith("?%7B") and q.endswith(";")
        capsule = json.loads(unquote(q[1:-1]))
        assert list(capsule) == ["event", "revision", "schema", "webHost", "wiki"]
        assert capsule["event"] == s.event and capsule["schema"] == s.schema
        assert (recv, int(seq), dt + "Z", ip, ua) == (
            s.recv_from,
            s.seq_id,
            s.dt,
            s.ip,
            f'"{s.ua}"',
        )
        schema = dict(by_name[s.schema].schema, additionalProperties=False)
        jsonschema.Draft3Validator(schema).validate(capsule["event"])
    bad_json = next(s for s in lines if s.kind == "bad_json")
    assert bad_json.message and bad_json.message.startswith("Unterminated string")
    assert all(s.line == "" for s in lines if s.kind == "empty")


def test_user_agents_distinct_and_zipf_popular() -> None:
    agents = user_agents(3000, seed=1)
    assert len(set(agents)) == 3000
    assert any(a.startswith("WikipediaApp/") for a in agents)
    import random

    rng = random.Random(0)
    z = Zipf(agents)
    draws = Counter(z.draw(rng) for _ in range(20000))
    top = draws[agents[0]]
    assert top > 20000 * 0.05  # the most popular agent is common...
    assert len(draws) > 1000  # ...and the tail is long


def test_generated_sequence_hour_reads_back(spark: Any, tmp_path: Path, schemas_dir: Path) -> None:
    schemas = load_sample_schemas(("painttiming", "navigationtiming"), source=schemas_dir)
    d = tmp_path / "raw/2024/01/05/03"
    write_generated_sequence_hour(spark, d, schemas, 50, hour=H, seed=1, partitions=2)
    hours = list_raw_input(spark, str(tmp_path / "raw"), since=H, until=datetime(2024, 1, 5, 4))
    rows = read_raw(spark, hours).collect()
    seqs = sorted(int(r.raw.split("\t")[2]) for r in rows)
    assert seqs == list(range(1, 51))
