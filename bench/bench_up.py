"""Benchmark of `provision up` on the native backend, side by side with its baselines.

One run measures, each repeated and reported as the median:
  first up       a fresh project: initialise a data directory, start, bootstrap, prove, write .env
  up after down  the server stopped, data kept
  warm up        already up (what a second `make dev-db` costs)
against
  python -c "import pymysql"                       the floor of any Python tool that talks to MySQL
  bare server start from the same data directory   mariadbd --defaults-file=... until a query answers,
                                                   timed inside this process (pymysql already loaded)
  the same bare start as a command of its own      a `python -c` that starts it and waits (what a
                                                   script of one's own costs, interpreter included)
  bare initialise + start                          mariadb-install-db, start, first query
and prints the ratios the foundation issue sets targets for:
  warm up < 0.5 s and <= 4x the Python baseline; up after down <= 1.5x the bare start.

Run: python bench/bench_up.py [--repeat N]   (results also go to bench/results/bench_up.json)
"""
from __future__ import annotations

import argparse
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
sys.path.insert(0, str(HERE.parent))

from provision.backends.native import find_server_binary  # noqa: E402
from provision.ports import free_port  # noqa: E402
from provision.probe import Server, wait_until_ready  # noqa: E402
from provision.url import DatabaseURL  # noqa: E402

PROVISION = [sys.executable, "-m", "provision"]
ENV = {k: v for k, v in os.environ.items() if not k.startswith("PROVISION_")}


def timed(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=ENV, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr}")
    return elapsed


def bare_start(binary: Path, option_file: Path, port: int, password: str) -> float:
    """Start the server from an existing data directory and wait for the first query."""
    start = time.perf_counter()
    process = subprocess.Popen([str(binary), f"--defaults-file={option_file}"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    server = Server(admin=DatabaseURL(user="root", password=password, port=port), host="127.0.0.1", port=port,
                    local=True)
    conn = wait_until_ready(server, timeout=60)
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1")
    conn.close()
    elapsed = time.perf_counter() - start
    process.terminate()
    process.wait(60)
    return elapsed


BARE_START_SCRIPT = """
import subprocess, sys, time
import pymysql
binary, option_file, port, password = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
subprocess.Popen([binary, "--defaults-file=" + option_file], stdout=subprocess.DEVNULL,
                 stderr=subprocess.DEVNULL, start_new_session=True)
while True:
    try:
        pymysql.connect(host="127.0.0.1", port=port, user="root", password=password, ssl_disabled=True).close()
        break
    except pymysql.err.OperationalError:
        time.sleep(0.01)
"""


def bare_start_command(binary: Path, option_file: Path, port: int, password: str, pid_file: Path) -> float:
    """The same start as a command of its own: a Python process that starts the server and waits."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", BARE_START_SCRIPT, str(binary), str(option_file), str(port), password],
                   check=True)
    elapsed = time.perf_counter() - start
    subprocess.run(["kill", pid_file.read_text().strip()], check=True)
    while pid_file.exists():
        time.sleep(0.01)
    return elapsed


def bare_init_and_start(binary: Path, workdir: Path, port: int) -> float:
    """What a by-hand first start costs: mariadb-install-db (or --initialize-insecure), start, query."""
    datadir = workdir / "data"
    cnf = workdir / "my.cnf"
    socket = workdir / "s.sock"
    cnf.write_text(f"[mysqld]\ndatadir={datadir}\nport={port}\nbind-address=127.0.0.1\nsocket={socket}\n"
                   f"log-error={workdir / 'err.log'}\nskip-log-bin\nloose-mysqlx=OFF\n"
                   + ("user=root\n" if os.geteuid() == 0 else ""))
    start = time.perf_counter()
    if "mariadb" in binary.name:
        installer = shutil.which("mariadb-install-db") or "/usr/bin/mariadb-install-db"
        subprocess.run([installer, f"--defaults-file={cnf}", "--auth-root-authentication-method=normal",
                        "--skip-test-db"], check=True, capture_output=True)
    else:
        subprocess.run([str(binary), f"--defaults-file={cnf}", "--initialize-insecure"], check=True,
                       capture_output=True)
    process = subprocess.Popen([str(binary), f"--defaults-file={cnf}"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    server = Server(admin=DatabaseURL(user="root", port=port, host="localhost",
                                      query=(("unix_socket", str(socket)),)), host="127.0.0.1", port=port, local=True)
    wait_until_ready(server, timeout=60).close()
    elapsed = time.perf_counter() - start
    process.terminate()
    process.wait(60)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    binary = find_server_binary()
    if binary is None:
        raise SystemExit("no mariadbd/mysqld: apt-get install mariadb-server")

    samples: dict[str, list[float]] = {k: [] for k in
                                       ("first up", "up after down", "warm up", "import pymysql",
                                        "bare server start", "bare start, as a command", "bare init + start")}
    with tempfile.TemporaryDirectory(prefix="provision-bench-") as tmp:
        root = Path(tmp)
        for i in range(max(2, args.repeat // 2)):
            project = root / f"first{i}"
            project.mkdir()
            samples["first up"].append(timed(PROVISION + ["up", "--port", str(free_port())], project))
            timed(PROVISION + ["destroy", "--yes"], project)
            bare = root / f"bare{i}"
            bare.mkdir()
            samples["bare init + start"].append(bare_init_and_start(binary.path, bare, free_port()))

        project = root / "app"
        project.mkdir()
        port = free_port()
        up = PROVISION + ["up", "--port", str(port)]
        timed(up, project)
        state = json.loads((project / ".devdb" / "state.json").read_text())
        secrets = json.loads((project / ".devdb" / "secrets.json").read_text())
        option_file = project / ".devdb" / "native" / "my.cnf"
        for _ in range(args.repeat):
            samples["warm up"].append(timed(up, project))
            samples["import pymysql"].append(timed([sys.executable, "-c", "import pymysql"], project))
        for _ in range(args.repeat):
            timed(PROVISION + ["down"], project)
            samples["up after down"].append(timed(up, project))
        timed(PROVISION + ["down"], project)
        for _ in range(args.repeat):
            samples["bare server start"].append(
                bare_start(Path(state["native"]["binary"]), option_file, port, secrets["native_root_password"]))
            samples["bare start, as a command"].append(
                bare_start_command(Path(state["native"]["binary"]), option_file, port,
                                   secrets["native_root_password"], project / ".devdb" / "native" / "mysqld.pid"))
        timed(PROVISION + ["destroy", "--yes"], project)

    median = {name: statistics.median(values) for name, values in samples.items()}
    ratios = {
        "warm up / import pymysql": (median["warm up"] / median["import pymysql"], 4.0),
        "up after down / bare server start": (median["up after down"] / median["bare server start"], 1.5),
        "up after down / bare start, as a command": (
            median["up after down"] / median["bare start, as a command"], 1.5),
        "first up / bare init + start": (median["first up"] / median["bare init + start"], None),
    }
    print(f"\n## provision up, native backend ({binary.label}), median of {args.repeat}")
    print(f"{'measure':<36}{'seconds':>10}")
    for name, value in median.items():
        print(f"{name:<36}{value:>10.3f}")
    print(f"\n{'ratio':<40}{'value':>8}{'target':>10}")
    for name, (value, target) in ratios.items():
        print(f"{name:<40}{value:>8.2f}{('<= ' + str(target)) if target else '':>10}")
    print(f"{'warm up (absolute)':<40}{median['warm up']:>8.3f}{'< 0.5 s':>10}")
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "bench_up.json").write_text(json.dumps(
        {"server": binary.label, "samples": samples, "median": median,
         "ratios": {k: v[0] for k, v in ratios.items()}}, indent=2))


if __name__ == "__main__":
    main()
