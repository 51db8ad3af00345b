"""Benchmark of a team's shared server: what namespaces and leases cost, side by side with the same
work without them.

On one real server (our own mariadbd on a free 127.0.0.1 port, TLS offered, as in the tests), medians of
--repeat runs of:
  warm up                     `provision up --backend existing --server-url ADMIN` (already up)
  warm up, namespace + lease  the same with --namespace bench --ttl 1h (TLS first contact, lease renewal)
  pytest, 20 tests            `pytest --mysql-server=ADMIN` on a 20-test suite
  pytest, 20 tests + ttl      the same with --mysql-ttl 1m (registry, session-start reap, renewer thread)
  reap 40 expired leases      `provision reap` over 40 expired leases with a database each
  drop 40 databases           the bare floor: 40 DROP DATABASE over one admin connection, in-process
and the ratios: namespaced warm up / warm up, leased pytest / pytest, reap / bare drops.

Run: python bench/bench_team.py [--repeat N] [--quick]   (results also go to bench/results/bench_team.json)
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from provision import leases  # noqa: E402
from provision.testing.servers import find_binary  # noqa: E402
from tests.integration.team_server import TeamServer  # noqa: E402

ENV = {k: v for k, v in os.environ.items() if not k.startswith(("PROVISION_", "PYTEST_"))}
SUITE = "import pytest\n\n@pytest.mark.parametrize('i', range(20))\ndef test_db(mysql_db, i):\n" \
        "    conn = mysql_db.connect()\n    conn.cursor().execute('CREATE TABLE t (id INT)')\n    conn.close()\n"


def timed(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=ENV, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")
    return elapsed


def expire_leases(server, count: int) -> None:
    conn = server.connect()
    for i in range(count):
        name = f"benchreap{i}"
        leases.register(conn, leases.Lease(name=name, purpose="test", ttl=1))
        with conn.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}`")
            cursor.execute("UPDATE provision.leases SET expires = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND "
                           "WHERE name = %s", (name,))
    conn.close()


def bare_drops(server, count: int) -> float:
    conn = server.connect()
    with conn.cursor() as cursor:
        for i in range(count):
            cursor.execute(f"CREATE DATABASE `benchbare{i}`")
    start = time.perf_counter()
    with conn.cursor() as cursor:
        for i in range(count):
            cursor.execute(f"DROP DATABASE `benchbare{i}`")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="one run of each (a smoke test)")
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat
    binary = find_binary()
    if binary is None:
        raise SystemExit("no mariadbd/mysqld installed")
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp, TeamServer(Path(tmp) / "server", binary) as server:
        admin = str(server.admin)
        plain, spaced, suite = Path(tmp) / "plain", Path(tmp) / "spaced", Path(tmp) / "suite"
        for directory in (plain, spaced, suite):
            directory.mkdir()
        (suite / "test_suite.py").write_text(SUITE)
        up = [sys.executable, "-m", "provision", "up", "--backend", "existing", "--server-url", admin]
        timed(up, plain)
        timed(up + ["--namespace", "bench", "--ttl", "1h"], spaced)
        pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--mysql-server={admin}"]
        for _ in range(repeat):
            results.setdefault("warm up", []).append(timed(up, plain))
            results.setdefault("warm up, namespace + lease", []).append(
                timed(up + ["--namespace", "bench"], spaced))
            results.setdefault("pytest, 20 tests", []).append(timed(pytest, suite))
            results.setdefault("pytest, 20 tests + ttl", []).append(timed(pytest + ["--mysql-ttl", "1m"], suite))
            expire_leases(server, 40)
            results.setdefault("reap 40 expired leases", []).append(
                timed([sys.executable, "-m", "provision", "reap", "--server-url", admin], plain))
            results.setdefault("drop 40 databases (bare, in-process)", []).append(bare_drops(server, 40))
    medians = {name: statistics.median(values) for name, values in results.items()}
    ratios = {
        "namespaced warm up / warm up": medians["warm up, namespace + lease"] / medians["warm up"],
        "leased pytest / pytest": medians["pytest, 20 tests + ttl"] / medians["pytest, 20 tests"],
        "reap 40 / bare 40 drops": medians["reap 40 expired leases"] / medians["drop 40 databases (bare, in-process)"],
    }
    print(f"{'measure':40} {'s':>8}")
    for name, value in medians.items():
        print(f"{name:40} {value:8.3f}")
    print()
    for name, value in ratios.items():
        print(f"{name:40} {value:8.2f}")
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "bench_team.json").write_text(json.dumps({"repeat": repeat, "medians": medians, "ratios": ratios},
                                                    indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
