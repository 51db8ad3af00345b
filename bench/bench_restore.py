"""Template suites: restoring a used copy against loading the schema, on a throwaway and a dev server.

    python bench/bench_restore.py [--tests 100] [--rounds 3] [--quick]

The bench/ephemeral_app schema (44 tables, foreign keys, a view, a trigger, seed rows) is the
template. On each server, in one run:

- per-test overhead of real pytest suites (bench_ephemeral.py's timing conftest: the median
  interval between test starts, minus the same suite without a database fixture), tests that
  do nothing: ``mysql_db`` with restore (the default), with ``--mysql-restore=off`` (a new copy
  per test, as before issue 15), and tests that insert a row (restore has work to do);
- loading the schema from SQL on the same server: its CREATE statements and seed rows in one
  multi-statement round trip into a new database (the fastest SQL load; what a copy was);
- Django's ``--parallel`` clone: ``mysqldump --routines --events`` piped into ``mysql``;
- ``mysql_tx`` against ``mysql_db`` for tests that run one query.

Servers: a throwaway native server (tmpfs, durability off, performance_schema counting
writes) and a dev server made by ``provision up`` in a scratch project (native backend, data
on disk, no performance_schema: checksums). Results: bench/results/restore.{json,md}.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
APP = HERE / "ephemeral_app" / "alembic.ini"
RESULTS = HERE / "results"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from bench_ephemeral import _median_run, suite  # noqa: E402

INSERT = ("c = mysql_db.connect(); c.cursor().execute(\"INSERT INTO tags (name) VALUES ('x')\"); c.close()")
QUERY_DB = "c = mysql_db.connect(); c.cursor().execute('SELECT COUNT(*) FROM users'); c.close()"
QUERY_TX = "mysql_tx.cursor().execute('SELECT COUNT(*) FROM users')"


def load_from_sql(server, rounds: int) -> dict:
    """ms to load the schema from SQL into a new database, and Django's clone, on ``server``."""
    from provision.testing.databases import Databases
    from provision.testing.templates import copy_replay

    out: dict = {}
    with Databases(server, template=str(APP), pool=0, restore=False) as databases:
        out["tables"] = len(databases.plan.tables)
        times = []
        for _ in range(rounds):
            name = databases.new_name()
            t0 = time.perf_counter()
            copy_replay(databases.conn, databases.plan, name)
            times.append(time.perf_counter() - t0)
            databases.release(name)
        out["load_sql_ms"] = statistics.median(times) * 1000
        out["django_clone_ms"] = django_clone(databases, max(2, rounds // 3))
    return out


def django_clone(databases, rounds: int) -> float | None:
    """Django's MySQL test-database clone (django/db/backends/mysql/creation.py): the source
    dumped by mysqldump --routines --events and piped into mysql, into a database made first."""
    dump = shutil.which("mysqldump") or shutil.which("mariadb-dump")
    client = shutil.which("mysql") or shutil.which("mariadb")
    if not dump or not client:
        return None
    admin = databases.server.admin
    login = ["-h", admin.host, "-P", str(admin.port), "-u", admin.user]
    env = {**os.environ, "MYSQL_PWD": admin.password}
    times = []
    for _ in range(rounds):
        name = databases.new_name()
        t0 = time.perf_counter()
        with databases.conn.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}`")
        producer = subprocess.Popen([dump, *login, "--skip-ssl", "--routines", "--events", databases.template_name],
                                    stdout=subprocess.PIPE, env=env)
        subprocess.run([client, *login, "--skip-ssl", name], stdin=producer.stdout, check=True, env=env)
        producer.wait()
        times.append(time.perf_counter() - t0)
        databases.release(name)
    return statistics.median(times) * 1000


def suites(root: Path, tag: str, server_args: list[str], n: int, rounds: int) -> dict:
    ours = ["-p", "no:pytest_mysql", "-p", "no:randomly"]
    template = [*ours, *server_args, f"--mysql-template={APP}"]
    plan = {
        "baseline": (None, "pass", ours),
        "restore": ("mysql_db", "pass", template),
        "copy": ("mysql_db", "pass", [*template, "--mysql-restore=off"]),
        "baseline_insert": (None, "pass", ours),
        "restore_insert": ("mysql_db", INSERT, template),
        "copy_insert": ("mysql_db", INSERT, [*template, "--mysql-restore=off"]),
        "db_query": ("mysql_db", QUERY_DB, template),
        "tx_query": ("mysql_tx", QUERY_TX, template),
    }
    samples: dict[str, list[dict]] = {}
    for round_ in range(rounds):  # interleaved: the machine's load hits every variant alike
        for key, (fixture, body, args) in plan.items():
            # a copy per test takes up to ~1.5 s on a dev server on disk: fewer tests (a median still)
            count = min(n, 10) if key.startswith("copy") else n
            samples.setdefault(key, []).append(
                suite(root, f"{tag}-{key}-{round_}", fixture, body, count, args))
    return {key: _median_run(values) for key, values in samples.items()}


@contextlib.contextmanager
def dev_server_project(root: Path):
    """`provision up` (native backend, data on disk) in a scratch project; destroyed after."""
    from provision.ports import free_port

    project = root / "devproject"
    project.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVISION_")}
    command = [sys.executable, "-m", "provision"]
    subprocess.run([*command, "up", "--backend", "native", "--port", str(free_port())], cwd=project, env=env,
                   check=True, capture_output=True)
    try:
        yield project
    finally:
        subprocess.run([*command, "destroy", "--yes"], cwd=project, env=env, capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="30 tests, 1 round (a smoke run)")
    args = parser.parse_args()
    n, rounds = (30, 1) if args.quick else (args.tests, args.rounds)
    from provision.testing.choose import dev_server
    from provision.testing.servers import ephemeral_server

    rows: dict = {"tests": n}
    root = Path(tempfile.mkdtemp(prefix="bench-restore-"))
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, root, ignore_errors=True)
        print("throwaway server: loading from SQL, Django's clone ...", flush=True)
        with ephemeral_server("native", count_writes=True) as server:  # as the plugin starts it for templates
            rows["throwaway"] = load_from_sql(server, 9 if args.quick else 21)
        print("throwaway server: suites ...", flush=True)
        rows["throwaway"]["runs"] = suites(root, "throwaway", ["--mysql-server=native"], n, rounds)

        print("dev server (provision up, on disk): loading from SQL, Django's clone ...", flush=True)
        project = stack.enter_context(dev_server_project(root))
        server = dev_server(project)
        if server is None:
            raise SystemExit("the dev server made by provision up does not answer")
        rows["dev"] = load_from_sql(server, 5 if args.quick else 9)
        print("dev server: suites ...", flush=True)
        # --rootdir: the plugin finds the project's dev server from the rootdir's .devdb
        rows["dev"]["runs"] = suites(root, "dev", ["--mysql-server=dev", f"--rootdir={project}"], n, rounds)

    report = render(rows)
    print(report)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "restore.json").write_text(json.dumps(rows, indent=2) + "\n")
    (RESULTS / "restore.md").write_text(report + "\n")
    return 0


def render(rows: dict) -> str:
    lines = [f"### {rows['tests']} tests per suite, template of {rows['throwaway']['tables']} tables", "",
             "| server | measure | ms |", "|---|---|---:|"]
    ratios = ["", "| ratio | throwaway | dev server | target |", "|---|---:|---:|---:|"]
    table: dict[str, dict[str, float]] = {}
    for where, label in (("throwaway", "throwaway native (tmpfs)"), ("dev", "dev server (provision up, disk)")):
        data = rows[where]
        runs = data["runs"]

        def overhead(key: str, base: str = "baseline") -> float:
            return runs[key]["per_test_ms"] - runs[base]["per_test_ms"]

        values = {
            "per-test overhead, 0 ms tests, restore (default)": overhead("restore"),
            "per-test overhead, 0 ms tests, a new copy per test (--mysql-restore=off)": overhead("copy"),
            "per-test overhead, tests inserting a row, restore": overhead("restore_insert", "baseline_insert"),
            "per-test overhead, tests inserting a row, a new copy per test": overhead("copy_insert", "baseline_insert"),
            "per test, one query: mysql_db + connect()": overhead("db_query"),
            "per test, one query: mysql_tx": overhead("tx_query"),
            "load the schema from SQL (CREATE statements + seed rows, one round trip)": data["load_sql_ms"],
            "Django --parallel clone (mysqldump --routines --events | mysql)": data["django_clone_ms"] or float("nan"),
            "time to first test, restore (s)": runs["restore"]["first_test_s"],
        }
        table[where] = values
        lines += [f"| {label} | {name} | {value:.2f} |" for name, value in values.items()]

    def ratio(name: str, numerator: str, denominator: str, target: str = "") -> str:
        cells = [table[w][numerator] / table[w][denominator] if table[w][denominator] > 0 else float("inf")
                 for w in ("throwaway", "dev")]
        return f"| {name} | {cells[0]:.1f} | {cells[1]:.1f} | {target} |"

    load = "load the schema from SQL (CREATE statements + seed rows, one round trip)"
    ratios += [
        ratio("load from SQL / per-test overhead with restore (0 ms tests)", load,
              "per-test overhead, 0 ms tests, restore (default)", ">= 10"),
        ratio("load from SQL / per-test overhead with restore (tests inserting a row)", load,
              "per-test overhead, tests inserting a row, restore"),
        ratio("new copy per test / restore (0 ms tests)",
              "per-test overhead, 0 ms tests, a new copy per test (--mysql-restore=off)",
              "per-test overhead, 0 ms tests, restore (default)"),
        ratio("Django clone / restore (0 ms tests)", "Django --parallel clone (mysqldump --routines --events | mysql)",
              "per-test overhead, 0 ms tests, restore (default)"),
        ratio("Django clone / our copy (load from SQL)", "Django --parallel clone (mysqldump --routines --events | mysql)",
              load),
        ratio("mysql_db + connect() / mysql_tx (one query)", "per test, one query: mysql_db + connect()",
              "per test, one query: mysql_tx"),
    ]
    return "\n".join(lines + ratios)


if __name__ == "__main__":
    sys.exit(main())
