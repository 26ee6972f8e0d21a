"""The production jobs on HDFS with the production configuration files and bare paths.

With ``HADOOP_CONF_DIR`` pointing at the mini cluster (the ``hadoop_cluster`` fixture), a child
process (tests/jobs/hdfs_chain.py: one Spark session, started with that configuration as on a
cluster host) runs:

* backfill with ``conf/backfill_eventlogging_client_side.properties``: Camus-style SequenceFiles
  under its bare ``input_path``, schemas under its bare ``schemas_path``, and a file sink on a
  bare path instead of the site's brokers (the one change: the Kafka hosts);
* refine with ``conf/refine_eventlogging_legacy.properties`` unchanged but for the window, the
  schema repository (EventLogging schemas in a bare HDFS directory, as the site's schema service
  is not here), the geocoding database and e-mail: Hive tables located on HDFS, their data files
  there;
* ``salts rotate`` on the bare salts directory of the sanitize configuration;
* refine_sanitize with ``conf/refine_sanitize_analytics_immediate.properties``: allowlist and
  salts read from the bare HDFS paths it names.

Reports go to explicit ``hdfs:///`` URIs. What landed where is checked through WebHDFS.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from eljobs.testing.hadoop import MiniHadoopCluster
from eljobs.testing.sample import generate_lines, load_sample_schemas, write_sample_schemas

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"

# Minutes each on a busy 2-core machine (docs/operations.md): beyond the default timeout.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

HOUR = datetime(2024, 1, 5, 3, tzinfo=UTC)
SINCE, UNTIL = HOUR.isoformat(), (HOUR + timedelta(hours=1)).isoformat()
BACKFILL_NAMES = ("navigationtiming", "savetiming")
#: (schema directory, EventLogging name) refined and sanitized; both are in the production
#: include list of refine_eventlogging_legacy and in the analytics allowlist.
REFINED = (("navigationtiming", "NavigationTiming"), ("savetiming", "SaveTiming"))
EVENTS_PER_TABLE = 4
SECRET_IP = "198.51.100.77"

RAW_HOURLY = "/wmf/data/raw/eventlogging_client_side/eventlogging-client-side/hourly"
BACKFILL_OUT = "/wmf/data/backfill/out"
LEGACY_RAW = "/wmf/data/raw/eventlogging_legacy"
SALTS = "/user/hdfs/salts/event_sanitized"
REFINE_SCHEMAS = "/wmf/refinery/schemas/eventlogging"
COLLIDE_RAW = "/wmf/data/raw/collide"
#: Bar'x and Bar;x both normalize to table bar_x; the others hold glob characters that,
#: unescaped, would read a neighbour's files (Q? matches Qx, S[x] matches Sx, A{b,c} matches Ab).
COLLIDE_COUNTS = {
    "Bar'x": 13,
    "Bar;x": 14,
    "Q?": 1,
    "Qx": 2,
    "S[x]": 3,
    "Sx": 4,
    "A{b,c}": 5,
    "Ab": 6,
}


def _prop(path: Path, key: str) -> str:
    for line in path.read_text().splitlines():
        k, sep, v = line.partition("=")
        if sep and k.strip() == key:
            return v.strip()
    raise AssertionError(f"{path} has no {key}")


def _example_event(schemas_dir: Path, name: str) -> dict[str, Any]:
    d = schemas_dir / name
    latest = max(d.glob("*.yaml"), key=lambda p: tuple(int(x) for x in p.stem.split(".")))
    return dict(yaml.safe_load(latest.read_text())["examples"][0].get("event", {}))


def _capsules(schemas_dir: Path, name: str, el: str) -> list[str]:
    out = []
    for i in range(EVENTS_PER_TABLE):
        event = copy.deepcopy(_example_event(schemas_dir, name))
        event["pageviewToken"] = f"pvtok-{name}-{i}"
        capsule = {
            "dt": HOUR.replace(minute=i).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "event": event,
            "ip": SECRET_IP,
            "recvFrom": "cp1001.eqiad.wmnet",
            "revision": 1,
            "schema": el,
            "seqId": i,
            "uuid": f"{name}{i:04d}",
            "webHost": "en.wikipedia.org",
            "wiki": "enwiki",
        }
        out.append(json.dumps(capsule, sort_keys=True))
    return out


@pytest.fixture(scope="module")
def chain(
    hadoop_cluster: MiniHadoopCluster, tmp_path_factory: pytest.TempPathFactory, shared_data: Path
) -> dict[str, Any]:
    """Prepare the inputs locally, run the child once, return its result and the plan."""
    tmp = tmp_path_factory.mktemp("jobs-on-hdfs")
    schemas_dir = shared_data / "event-schemas-secondary"
    write_sample_schemas(tmp / "backfill-schemas", BACKFILL_NAMES, source=schemas_dir)
    samples = load_sample_schemas(BACKFILL_NAMES, source=schemas_dir)
    lines = generate_lines(samples, 60, hour=HOUR, seed=5, invalid_fraction=0.2)
    (tmp / "raw.json").write_text(json.dumps([s.line for s in lines]))

    backfill_conf = CONF / "backfill_eventlogging_client_side.properties"
    refine_conf = CONF / "refine_eventlogging_legacy.properties"
    sanitize_conf = CONF / "refine_sanitize_analytics_immediate.properties"
    # The production file with one change: a file sink on HDFS in place of the site's brokers.
    local_backfill_conf = tmp / backfill_conf.name
    local_backfill_conf.write_text(
        "\n".join(
            f"output = {BACKFILL_OUT}" if line.startswith("output =") else line
            for line in backfill_conf.read_text().splitlines()
        )
        + "\n"
    )
    assert _prop(local_backfill_conf, "input_path") == RAW_HOURLY
    assert _prop(sanitize_conf, "salts_path") == SALTS
    refine_inputs = {}
    for name, el in REFINED:
        f = tmp / f"capsules-{name}.json"
        f.write_text(json.dumps(_capsules(schemas_dir, name, el)))
        hour_dir = f"{LEGACY_RAW}/eventlogging_{el}/year=2024/month=01/day=05/hour=03"
        refine_inputs[hour_dir] = str(f)
    collide_inputs = {
        f"{COLLIDE_RAW}/eventlogging_{name}/year=2024/month=01/day=05/hour=03/part-00000.json": [
            json.dumps({"schema": name, "n": i}) for i in range(n)
        ]
        for name, n in COLLIDE_COUNTS.items()
    }
    plan = {
        "collide_inputs": collide_inputs,
        "collide_argv": [
            f"--input_path={COLLIDE_RAW}",
            r"--input_path_regex=eventlogging_(.+)/year=(\d+)/month=(\d+)/day=(\d+)/hour=(\d+)",
            "--input_path_regex_capture_groups=table,year,month,day,hour",
            "--output_path=/wmf/data/collide",
            "--output_database=event_collide",
            "--since", SINCE, "--until", UNTIL,
            "--report_path", "hdfs:///wmf/reports/collide.json",
        ],
        "refine_schemas": str(schemas_dir),
        "refine_schemas_path": REFINE_SCHEMAS,
        "backfill_schemas": str(tmp / "backfill-schemas"),
        "backfill_schemas_path": _prop(backfill_conf, "schemas_path"),
        "allowlist": str(shared_data / "allowlists" / "event_sanitized_analytics_allowlist.yaml"),
        "allowlist_path": _prop(sanitize_conf, "allowlist_path"),
        "raw_lines": str(tmp / "raw.json"),
        "raw_hour_path": f"{RAW_HOURLY}/2024/01/05/03",
        "refine_inputs": refine_inputs,
        "backfill_argv": [
            "--config_file", str(local_backfill_conf),
            "--since", SINCE, "--until", UNTIL,
            "--hostname", "backfill-on-hdfs",
            "--report_path", "hdfs:///wmf/reports/backfill.json",
        ],
        "refine_argv": [
            "--config_file", str(refine_conf),
            "--since", SINCE, "--until", UNTIL,
            # The site's schema service is not here: the EventLogging schemas from a bare
            # HDFS directory (the schema loaders read through eljobs.io.fs).
            "--schema_base_uris", "eventlogging",
            "--eventlogging_schemas_path", REFINE_SCHEMAS,
            # The site's MaxMind file is not on this machine: the bundled test database.
            "--geocode_database", "bundled",
            "--should_email_report", "false",
            "--report_path", "hdfs:///wmf/reports/refine.json",
        ],
        "salts_argv": [
            "rotate", "--salts_path", SALTS, "--period", "3 months", "--retention", "50 days",
            "--now", "2024-01-05",
        ],
        "sanitize_argv": [
            "--config_file", str(sanitize_conf),
            "--since", SINCE, "--until", UNTIL,
            "--should_email_report", "false",
            "--report_path", "hdfs:///wmf/reports/sanitize.json",
        ],
    }  # fmt: skip
    (tmp / "plan.json").write_text(json.dumps(plan))
    env = dict(os.environ)
    env.update(hadoop_cluster.env())
    env["PYTHONPATH"] = str(ROOT)
    env["ELJOBS_WORK"] = str(tmp / "work")
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    done = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("hdfs_chain.py")),
         str(tmp / "plan.json"), str(tmp / "result.json")],
        env=env, cwd=tmp, capture_output=True, text=True, timeout=1500, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads((tmp / "result.json").read_text())
    result["lines"] = len(lines)
    result["log"] = done.stdout + done.stderr
    return result


def _ok(chain: dict[str, Any], step: str) -> None:
    outcome = chain[step]
    # The job logs why it failed; the end of the child's output carries it.
    assert outcome.get("code") == 0, outcome.get("trace") or chain["log"][-6000:]


def _lines_under(cluster: MiniHadoopCluster, directory: str) -> list[str]:
    out = []
    for entry in cluster.list_status(directory):
        if str(entry["pathSuffix"]).startswith("part-"):
            data = cluster.read_bytes(f"{directory}/{entry['pathSuffix']}")
            out.extend(data.decode().splitlines())
    return out


def _files_under(cluster: MiniHadoopCluster, directory: str, suffix: str) -> list[str]:
    found = []
    for entry in cluster.list_status(directory):
        path = f"{directory}/{entry['pathSuffix']}"
        if entry["type"] == "DIRECTORY":
            found.extend(_files_under(cluster, path, suffix))
        elif path.endswith(suffix):
            found.append(path)
    return found


def test_session_default_fs_is_the_mini_cluster(
    chain: dict[str, Any], hadoop_cluster: MiniHadoopCluster
) -> None:
    assert chain["default_fs"] == hadoop_cluster.default_fs


def test_backfill_reads_sequence_files_and_writes_its_file_sink_on_hdfs(
    chain: dict[str, Any], hadoop_cluster: MiniHadoopCluster
) -> None:
    _ok(chain, "backfill")
    topics = {
        str(e["pathSuffix"]).removeprefix("topic=")
        for e in hadoop_cluster.list_status(BACKFILL_OUT)
        if str(e["pathSuffix"]).startswith("topic=")
    }
    assert {"eventlogging_NavigationTiming", "eventlogging_EventError"} <= topics
    written = {t: _lines_under(hadoop_cluster, f"{BACKFILL_OUT}/topic={t}") for t in topics}
    # output_invalid = first: every line read is on HDFS once, valid or as an EventError.
    assert sum(len(v) for v in written.values()) == chain["lines"]
    report = json.loads(hadoop_cluster.read_bytes("/wmf/reports/backfill.json"))
    assert report["ok"] is True
    assert sum(r["read"] for r in report["rows"]) == chain["lines"]
    assert {k.split("?")[0] for k in report["written"]} == {BACKFILL_OUT}


def test_refine_writes_tables_with_their_data_on_hdfs(
    chain: dict[str, Any], hadoop_cluster: MiniHadoopCluster
) -> None:
    _ok(chain, "refine")
    for name, _ in REFINED:
        table = chain["tables"][f"event.{name}"]
        assert table["location"] == f"{hadoop_cluster.default_fs}/wmf/data/event/{name}"
        assert len(table["rows"]) == EVENTS_PER_TABLE
        # The table's data files are on HDFS under its location.
        assert _files_under(hadoop_cluster, f"/wmf/data/event/{name}", ".parquet")
    report = json.loads(hadoop_cluster.read_bytes("/wmf/reports/refine.json"))
    assert report["ok"] is True


def test_salts_rotate_writes_the_salt_on_hdfs(
    chain: dict[str, Any], hadoop_cluster: MiniHadoopCluster
) -> None:
    _ok(chain, "salts")
    files = [e for e in hadoop_cluster.list_status(SALTS) if e["type"] == "FILE"]
    assert len(files) == 1


def test_refine_sanitize_reads_allowlist_and_salts_from_bare_hdfs_paths(
    chain: dict[str, Any], hadoop_cluster: MiniHadoopCluster
) -> None:
    _ok(chain, "refine_sanitize")
    for name, _ in REFINED:
        table = chain["tables"][f"event_sanitized.{name}"]
        assert table["location"] == f"{hadoop_cluster.default_fs}/wmf/data/event_sanitized/{name}"
        assert len(table["rows"]) == EVENTS_PER_TABLE
    everything = json.dumps([chain["tables"][f"event_sanitized.{n}"]["rows"] for n, _ in REFINED])
    assert SECRET_IP not in everything and "pvtok-" not in everything
    # navigationtiming keeps a hashed pageviewToken: the salt from HDFS was applied.
    rows = chain["tables"]["event_sanitized.navigationtiming"]["rows"]
    tokens = [r["event"]["pageviewToken"] for r in rows]
    assert all(t and len(t) == 64 for t in tokens)
    salt = (
        hadoop_cluster.read_bytes(
            f"{SALTS}/{next(e['pathSuffix'] for e in hadoop_cluster.list_status(SALTS))}"
        )
        .decode()
        .strip()
    )
    assert salt and salt not in chain["log"] and salt not in everything


def test_refine_on_hdfs_fails_colliding_names_and_reads_glob_like_names_literally(
    chain: dict[str, Any], hadoop_cluster: MiniHadoopCluster
) -> None:
    outcome = chain["refine_collide"]
    assert outcome.get("code") == 1, outcome.get("trace") or chain["log"][-6000:]
    tables = {
        k.split(".")[1]: v for k, v in chain["tables"].items() if k.startswith("event_collide.")
    }
    # Neither colliding dataset became table bar_x; its hour is flagged failed on HDFS.
    assert "bar_x" not in tables
    failed_hour = "/wmf/data/collide/bar_x/year=2024/month=1/day=5/hour=3"
    assert "_REFINE_FAILED" in {e["pathSuffix"] for e in hadoop_cluster.list_status(failed_hour)}
    # Each glob-like directory was read alone.
    expected = {"q_": 1, "qx": 2, "s_x_": 3, "sx": 4, "a_b_c_": 5, "ab": 6}
    assert {t: len(v["rows"]) for t, v in tables.items()} == expected
    report = json.loads(hadoop_cluster.read_bytes("/wmf/reports/collide.json"))
    assert report["ok"] is False
    failures = [r for r in report["rows"] if r["status"] == "failed"]
    assert len(failures) == 2
    for r in failures:
        assert "TableNameCollisionError" in r["error"]
        assert "eventlogging_Bar'x" in r["error"] and "eventlogging_Bar;x" in r["error"]
