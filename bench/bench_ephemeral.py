"""Ephemeral test databases: provision against pytest-mysql 5, testcontainers and the floor.

    python bench/bench_ephemeral.py [--tests 100] [--no-docker] [--no-pytest-mysql]

One run, a few minutes. Every suite is a real pytest run in a subprocess on 100 tests;
the numbers are read by a tiny timing conftest (wall-clock marks at each test's setup and
call). Written to bench/results/ephemeral.{json,md}; bench/README.md explains each row.

- floor: CREATE DATABASE + DROP DATABASE on an open connection, on the same kind of server
- per-test overhead: (time per test of the suite) - (time per test of the same suite without
  a database fixture), measured from the 2nd test's setup to the last test's setup, so the
  session's server start is not in it
- time to first test: from spawning pytest to the first test's call
- template copy: the bench/ephemeral_app schema (36 tables + view + trigger, 12 Alembic
  migrations) copied by each strategy, against running its migrations into a fresh database
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from provision.names import quote

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
APP = HERE / "ephemeral_app" / "alembic.ini"
RESULTS = HERE / "results"
sys.path.insert(0, str(REPO))

TIMING_CONFTEST = '''
import json, os, time
import pytest

_marks = {"setup": [], "call": []}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    _marks["setup"].append(time.time())


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item):
    _marks["call"].append(time.time())


def pytest_sessionfinish(session):
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    if worker == "main" and hasattr(session.config, "workerinput"):
        return
    with open(os.environ["BENCH_OUT"] + "." + worker, "w") as handle:
        json.dump(_marks, handle)
'''

TESTCONTAINERS_CONFTEST = '''
import os, uuid
import pymysql, pytest
from testcontainers.community.mysql import MySqlContainer


@pytest.fixture(scope="session")
def tc_conn():
    container = MySqlContainer(os.environ["BENCH_IMAGE"], username="root", password="bench")
    container.ports["3306"] = ("127.0.0.1",)
    with container:
        conn = pymysql.connect(host="127.0.0.1", port=int(container.get_exposed_port(3306)), user="root",
                               password="bench", autocommit=True)
        yield conn
        conn.close()


@pytest.fixture
def tc_db(tc_conn):
    name = "t_" + uuid.uuid4().hex[:12]
    with tc_conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name}")
    yield name
    with tc_conn.cursor() as cursor:
        cursor.execute(f"DROP DATABASE {name}")
'''

HANDMADE_CONFTEST = '''
import os, uuid
import pymysql, pytest


@pytest.fixture(scope="session")
def raw_conn():
    host, port, password = os.environ["BENCH_SERVER"].split(" ")
    conn = pymysql.connect(host=host, port=int(port), user="root", password=password, autocommit=True,
                           ssl_disabled=True)
    yield conn
    conn.close()


@pytest.fixture
def raw_db(raw_conn):
    name = "raw_" + uuid.uuid4().hex[:12]
    with raw_conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name}")
    yield name
    with raw_conn.cursor() as cursor:
        cursor.execute(f"DROP DATABASE {name}")
'''

PYTEST_MYSQL_ARGS = ["--mysql-mysqld=/usr/sbin/mariadbd", "--mysql-mysqld-safe=/usr/bin/mariadbd-safe",
                     "--mysql-admin=/usr/bin/mariadb-admin", "--mysql-install-db=/usr/bin/mariadb-install-db",
                     "--mysql-dbname=bench", "-p", "no:provision"]
DOCKER_ENV = {"TESTCONTAINERS_RYUK_DISABLED": "true", "TESTCONTAINERS_CONNECTION_MODE": "docker_host",
              "TC_HOST": "127.0.0.1"}


def suite(root: Path, name: str, fixture: str | None, body: str, n: int, args: list[str],
          env: dict[str, str] | None = None, conftest: str = "") -> dict:
    """Run an n-test suite; return its timings."""
    directory = root / name
    directory.mkdir()
    (directory / "conftest.py").write_text(TIMING_CONFTEST + conftest)
    params = f"{fixture}, i" if fixture else "i"
    (directory / "test_suite.py").write_text(
        "import time\nimport pytest\n\n\n"
        f"@pytest.mark.parametrize('i', range({n}))\n"
        f"def test_case({params}):\n    {body}\n")
    out = directory / "marks.json"
    full_env = {**os.environ, **(env or {}), "BENCH_OUT": str(out)}
    full_env.pop("PYTEST_ADDOPTS", None)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore", *args]
    start = time.time()
    result = subprocess.run(command, cwd=directory, env=full_env, capture_output=True, text=True, timeout=900)
    wall = time.time() - start
    if result.returncode != 0:
        raise RuntimeError(f"suite {name} failed:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}")
    setups, calls = [], []
    for part in directory.glob("marks.json.*"):
        marks = json.loads(part.read_text())
        setups += marks["setup"]
        calls += marks["call"]
    setups.sort()
    calls.sort()
    workers = len(list(directory.glob("marks.json.*")))
    if workers == 1:
        # the median interval between test starts (2nd test on: the session setup is not in it);
        # a median, because other processes on the machine add outliers, not a steady cost
        intervals = [b - a for a, b in zip(setups[1:], setups[2:])]
        per_test = statistics.median(intervals)
        mean = (setups[-1] - setups[1]) / (len(setups) - 2)
    else:  # parallel: wall time per test while the tests run
        per_test = mean = (calls[-1] - calls[0]) / (len(calls) - 1)
    return {"name": name, "wall_s": wall, "first_test_s": calls[0] - start, "per_test_ms": per_test * 1000,
            "per_test_mean_ms": mean * 1000, "tests": len(calls), "workers": workers}


def _median_run(values: list[dict]) -> dict:
    return {"name": values[0]["name"], "runs": len(values),
            **{key: statistics.median(v[key] for v in values)
               for key in ("wall_s", "first_test_s", "per_test_ms", "per_test_mean_ms")}}


def floor(server, rounds: int = 300) -> float:
    """CREATE + DROP DATABASE on an open connection, ms per pair (median of 3 batches)."""
    conn = server.connect()
    batches = []
    try:
        with conn.cursor() as cursor:
            for batch in range(3):
                start = time.perf_counter()
                for i in range(rounds):
                    cursor.execute(f"CREATE DATABASE floor_{batch}_{i}")
                    cursor.execute(f"DROP DATABASE floor_{batch}_{i}")
                batches.append((time.perf_counter() - start) / rounds * 1000)
    finally:
        conn.close()
    return statistics.median(batches)


# --- the other ways of copying a template (only this benchmark uses them) -------------------------
_FOREIGN_KEY = re.compile(r"^\s*(CONSTRAINT\s+`(?:[^`]|``)+`\s+FOREIGN KEY .*?),?$", re.MULTILINE)


def copy_serial(conn, plan, target: str) -> None:
    """The same statements, one round trip each (the replay copy without its one round trip)."""
    with conn.cursor() as cursor:
        cursor.execute(plan.create_database(target))
        for statement in plan.statements(target):
            cursor.execute(statement)


def copy_like(conn, plan, target: str) -> None:
    """CREATE TABLE ... LIKE (which drops foreign keys), the keys re-added, INSERT ... SELECT."""
    with conn.cursor() as cursor:
        cursor.execute(plan.create_database(target))
        cursor.execute("USE " + quote(target))  # unqualified REFERENCES name tables of the copy
        cursor.execute("SET SESSION FOREIGN_KEY_CHECKS = 0, SESSION SQL_MODE = 'NO_AUTO_VALUE_ON_ZERO'")
        for table, _ddl in plan.tables:
            cursor.execute(f"CREATE TABLE {quote(target)}.{quote(table)} LIKE {quote(plan.template)}.{quote(table)}")
        for table, ddl in plan.tables:
            keys = [m.group(1) for m in _FOREIGN_KEY.finditer(ddl)]
            if keys:
                cursor.execute(f"ALTER TABLE {quote(target)}.{quote(table)} "
                               + ", ".join("ADD " + key for key in keys))
        for statement in plan.statements(target, ("seeds", "views", "programs")):
            cursor.execute(statement)
        cursor.execute("SET SESSION FOREIGN_KEY_CHECKS = 1, SESSION SQL_MODE = DEFAULT")


def copiers() -> dict:
    """The template copies compared: provision's (one round trip), serial, and LIKE + INSERT ... SELECT."""
    from provision.testing import templates

    return {"replay": templates.copy_replay, "serial": copy_serial, "like": copy_like}


def templates_bench(server, rounds: int) -> dict:
    """Migrating into a fresh database against each way of copying the migrated template."""
    from provision.testing import templates
    from provision.testing.databases import Databases

    results: dict = {}
    start = time.perf_counter()
    with Databases(server, template=str(APP), pool=0, restore=False) as databases:  # copies, not restores
        results["template_setup_s"] = time.perf_counter() - start  # build (or reuse) + capture + proof
        plan = databases.plan
        results["tables"] = len(plan.tables)
        conn = databases.conn

        # migrating: alembic in-process (warm imports), as a suite that migrates per test would
        from alembic import command
        from alembic.config import Config

        migrate = []
        for i in range(3):
            name = databases.new_name()
            with conn.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE `{name}`")
            config = Config(str(APP))
            # TLS off, as for the copies: the schema's cost, not PyMySQL's CA-bundle load
            os.environ["DATABASE_URL"] = templates.sqlalchemy_url(databases.database(name).url) + "&ssl_disabled=true"
            t0 = time.perf_counter()
            command.upgrade(config, "head")
            migrate.append(time.perf_counter() - t0)
            databases.release(name)
        os.environ.pop("DATABASE_URL", None)
        cli = []
        for i in range(3):
            name = databases.new_name()
            with conn.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE `{name}`")
            t0 = time.perf_counter()
            templates.upgrade_head(APP, templates.sqlalchemy_url(databases.database(name).url))
            cli.append(time.perf_counter() - t0)
            databases.release(name)
        results["migrate_cli_ms"] = statistics.median(cli) * 1000
        results["migrate_ms"] = statistics.median(migrate) * 1000

        for strategy, copier in copiers().items():
            copy, drop = [], []
            for i in range(rounds):
                name = databases.new_name()
                t0 = time.perf_counter()
                copier(conn, plan, name)
                t1 = time.perf_counter()
                with conn.cursor() as cursor:
                    cursor.execute(f"DROP DATABASE `{name}`")
                drop.append(time.perf_counter() - t1)
                copy.append(t1 - t0)
            results[f"copy_{strategy}_ms"] = statistics.median(copy) * 1000
            results[f"drop_{strategy}_ms"] = statistics.median(drop) * 1000
        results["copy_dump_ms"] = _dump_copy(server, databases, plan.template)
    return results


def _dump_copy(server, databases, template: str, rounds: int = 3) -> float | None:
    """mariadb-dump | mariadb (the usual shell answer), for comparison."""
    dump, client = shutil.which("mariadb-dump") or shutil.which("mysqldump"), shutil.which("mariadb") or \
        shutil.which("mysql")
    if not dump or not client:
        return None
    admin = server.server.admin
    login = ["-h", admin.host, "-P", str(admin.port), "-u", admin.user]
    env = {**os.environ, "MYSQL_PWD": admin.password}
    times = []
    for _ in range(rounds):
        name = databases.new_name()
        t0 = time.perf_counter()
        with databases.conn.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}`")
        producer = subprocess.Popen([dump, *login, "--skip-ssl", "--routines", "--triggers", template],
                                    stdout=subprocess.PIPE, env=env)
        subprocess.run([client, *login, "--skip-ssl", name], stdin=producer.stdout, check=True, env=env)
        producer.wait()
        times.append(time.perf_counter() - t0)
        databases.release(name)
    return statistics.median(times) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=100)
    parser.add_argument("--no-docker", action="store_true")
    parser.add_argument("--no-pytest-mysql", action="store_true")
    parser.add_argument("--copies", type=int, default=20, help="copies per strategy")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each native suite (median)")
    args = parser.parse_args()
    n = args.tests
    from provision.testing.choose import docker_available
    from provision.testing.servers import default_image, ephemeral_server

    docker_ok = not args.no_docker and docker_available()[0]
    image = default_image("mysql")
    ours = ["-p", "no:pytest_mysql"]
    rows: dict = {"tests": n}
    root = Path(tempfile.mkdtemp(prefix="bench-ephemeral-"))
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, root, ignore_errors=True)
        print("floor and template copies on a native ephemeral server ...", flush=True)
        server = stack.enter_context(ephemeral_server("native"))  # also the hand-written fixture's
        admin = server.server.admin
        handmade_env = {"BENCH_SERVER": f"{admin.host} {admin.port} {admin.password}"}
        rows["floor_native_ms"] = floor(server)
        rows.update(templates_bench(server, args.copies))
        if docker_ok:
            with ephemeral_server("docker", image) as docker_server:
                rows["floor_docker_ms"] = floor(docker_server)

        print("suites ...", flush=True)
        native = [*ours, "--mysql-server=native"]
        # a new copy per test, as these rows always measured; restoring copies: bench_restore.py
        template = [*native, f"--mysql-template={APP}", "--mysql-restore=off"]
        repeated = {  # run 3 times, interleaved; the median counts (the machine may be shared)
            "baseline": (None, "pass", ours, None),
            "provision_native": ("mysql_db", "pass", native, None),
            "provision_native_pool0": ("mysql_db", "pass", [*native, "--mysql-pool=0"], None),
            "handmade": ("raw_db", "pass", ours, (HANDMADE_CONFTEST, handmade_env)),
            "baseline_2ms": (None, "time.sleep(0.002)", ours, None),
            "provision_native_2ms": ("mysql_db", "time.sleep(0.002)", native, None),
            "provision_native_2ms_pool0": ("mysql_db", "time.sleep(0.002)", [*native, "--mysql-pool=0"], None),
            "handmade_2ms": ("raw_db", "time.sleep(0.002)", ours, (HANDMADE_CONFTEST, handmade_env)),
            "provision_native_connect": ("mysql_db", "mysql_db.connect().close()", native, None),
            "baseline_n2": (None, "pass", [*ours, "-n", "2"], None),
            "provision_native_n2": ("mysql_db", "pass", [*native, "-n", "2"], None),
            "provision_template_pool0": ("mysql_db", "pass", [*template, "--mysql-pool=0"], None),
            "provision_template_pool2": ("mysql_db", "pass", template, None),
            "baseline_work": (None, "time.sleep(0.02)", ours, None),
            "provision_template_work_pool0": ("mysql_db", "time.sleep(0.02)", [*template, "--mysql-pool=0"], None),
            "provision_template_work_pool2": ("mysql_db", "time.sleep(0.02)", template, None),
        }
        if not args.no_pytest_mysql:
            repeated["pytest_mysql"] = ("mysql", "pass", PYTEST_MYSQL_ARGS, None)
        samples: dict[str, list[dict]] = {}
        for round_ in range(args.rounds):
            for key, (fixture, body, suite_args, extra) in repeated.items():
                conftest, env = extra or ("", None)
                samples.setdefault(key, []).append(suite(root, f"{key}-{round_}", fixture, body, n, suite_args,
                                                         env=env, conftest=conftest))
        runs = {key: _median_run(values) for key, values in samples.items()}
        runs["provision_native_cold"] = suite(root, "provision_native_cold", "mysql_db", "pass", n, native,
                                              env={"XDG_CACHE_HOME": str(root / "cold-cache")})
        if docker_ok:
            runs["provision_docker"] = suite(root, "provision_docker", "mysql_db", "pass", n,
                                             [*ours, "--mysql-server=docker"], env=DOCKER_ENV)
            runs["testcontainers"] = suite(root, "testcontainers", "tc_db", "pass", n,
                                           [*ours, "-p", "no:provision"], conftest=TESTCONTAINERS_CONFTEST,
                                           env={**DOCKER_ENV, "BENCH_IMAGE": image})

    rows["runs"] = runs
    report = render(rows, image)
    print(report)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ephemeral.json").write_text(json.dumps(rows, indent=2) + "\n")
    (RESULTS / "ephemeral.md").write_text(report + "\n")
    return 0


def render(rows: dict, image: str) -> str:
    runs = rows["runs"]
    baselines = {"provision_native_n2": "baseline_n2", "provision_template_work_pool0": "baseline_work",
                 "provision_template_work_pool2": "baseline_work", "provision_native_2ms": "baseline_2ms",
                 "provision_native_2ms_pool0": "baseline_2ms", "handmade_2ms": "baseline_2ms"}

    def overhead(key: str) -> float:
        return runs[key]["per_test_ms"] - runs[baselines.get(key, "baseline")]["per_test_ms"]

    lines = [f"### {rows['tests']} tests per suite; pytest alone: {runs['baseline']['per_test_ms']:.2f} ms per test, "
             f"first test after {runs['baseline']['first_test_s']:.2f} s", "",
             "| suite | per-test overhead ms | time to first test s | wall s |", "|---|---:|---:|---:|"]
    labels = {
        "provision_native": "provision `mysql_db`, native (default: pool 1)",
        "provision_native_pool0": "provision `mysql_db`, native, `--mysql-pool=0` (inline CREATE/DROP)",
        "handmade": "hand-written fixture: CREATE/DROP on one open PyMySQL connection, same server",
        "provision_native_2ms": "provision `mysql_db`, native, 2 ms tests",
        "provision_native_2ms_pool0": "provision `mysql_db`, native, 2 ms tests, `--mysql-pool=0`",
        "handmade_2ms": "hand-written fixture, 2 ms tests",
        "provision_native_cold": "provision `mysql_db`, native, empty datadir cache (first run on a machine)",
        "provision_native_connect": "provision `mysql_db` + `connect()`, native",
        "provision_native_n2": "provision `mysql_db`, native, `-n 2` (wall ms per test vs pytest `-n 2`)",
        "provision_template_pool0": "provision + template copy, pool 0",
        "provision_template_pool2": "provision + template copy, pool 2 (default)",
        "provision_template_work_pool0": "provision + template copy, 20 ms tests, pool 0",
        "provision_template_work_pool2": "provision + template copy, 20 ms tests, pool 2 (default)",
        "provision_docker": f"provision `mysql_db`, docker ({image})",
        "pytest_mysql": "pytest-mysql 5 `mysql` (`mysql_proc`, MariaDB binaries)",
        "testcontainers": f"testcontainers `MySqlContainer` + CREATE/DROP per test ({image})",
    }
    for key, label in labels.items():
        if key in runs:
            run = runs[key]
            lines.append(f"| {label} | {overhead(key):.2f} | {run['first_test_s']:.2f} | {run['wall_s']:.1f} |")
    lines += ["", "| floor, migrations and copies | ms |", "|---|---:|",
              f"| floor: CREATE + DROP DATABASE on an open connection, native MariaDB | {rows['floor_native_ms']:.2f} |"]
    if "floor_docker_ms" in rows:
        lines.append(f"| floor: the same on docker {image} | {rows['floor_docker_ms']:.2f} |")
    lines += [f"| migrate {rows['tables']} tables: alembic `command.upgrade` in-process, warm | "
              f"{rows['migrate_ms']:.1f} |",
              f"| migrate {rows['tables']} tables: `alembic upgrade head` in a subprocess | {rows['migrate_cli_ms']:.0f} |"]
    for strategy, text in (("replay", "copy: replayed DDL, one multi-statement round trip (chosen)"),
                           ("serial", "copy: replayed DDL, a round trip per statement"),
                           ("like", "copy: CREATE TABLE LIKE + ADD FOREIGN KEY + INSERT SELECT")):
        lines.append(f"| {text} | {rows[f'copy_{strategy}_ms']:.1f} (+ drop {rows[f'drop_{strategy}_ms']:.1f}) |")
    if rows.get("copy_dump_ms"):
        lines.append(f"| copy: mariadb-dump piped into mariadb | {rows['copy_dump_ms']:.0f} |")
    lines.append(f"| template once per session: build or reuse, capture, prove | {rows['template_setup_s'] * 1000:.0f} |")

    ours = overhead("provision_native")
    ratios = ["", "| ratio | value | target |", "|---|---:|---:|",
              f"| per-test overhead / floor (tests that do nothing) | {ours / rows['floor_native_ms']:.2f} | <= 1.5 |",
              f"| per-test overhead / floor (2 ms tests) | "
              f"{overhead('provision_native_2ms') / rows['floor_native_ms']:.2f} | <= 1.5 |",
              f"| per-test overhead / hand-written fixture's | {ours / overhead('handmade'):.2f} | |"]
    if "pytest_mysql" in runs:
        ratios += [f"| per-test overhead / pytest-mysql's | {ours / overhead('pytest_mysql'):.3f} | <= 0.1 |",
                   f"| time to first test / pytest-mysql's | "
                   f"{runs['provision_native']['first_test_s'] / runs['pytest_mysql']['first_test_s']:.2f} | <= 0.5 |",
                   f"| time to first test, empty cache / pytest-mysql's | "
                   f"{runs['provision_native_cold']['first_test_s'] / runs['pytest_mysql']['first_test_s']:.2f} | |"]
    if "testcontainers" in runs:
        ratios += [f"| docker: time to first test / testcontainers' | "
                   f"{runs['provision_docker']['first_test_s'] / runs['testcontainers']['first_test_s']:.2f} | |",
                   f"| docker: per-test overhead / testcontainers' | "
                   f"{overhead('provision_docker') / overhead('testcontainers'):.2f} | |"]
    copy_in_suite = overhead("provision_template_work_pool2")
    ratios += [f"| migrate (in-process) / template copy (replay) | {rows['migrate_ms'] / rows['copy_replay_ms']:.1f} "
               "| >= 10 |",
               f"| migrate (in-process) / per-test cost of a copy with the pool, 20 ms tests | "
               f"{rows['migrate_ms'] / copy_in_suite:.1f} | >= 10 |",
               f"| `alembic upgrade head` / template copy (replay) | "
               f"{rows['migrate_cli_ms'] / rows['copy_replay_ms']:.0f} | |"]
    return "\n".join(lines + ratios)


if __name__ == "__main__":
    sys.exit(main())
