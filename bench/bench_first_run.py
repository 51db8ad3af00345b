"""The first `make dev-db` in a clean clone, part by part (issue 9).

    python bench/bench_first_run.py [--ref REF ...] [--repeat N] [--quick]

For each git ref (default: HEAD), in a fresh clone under a temp dir, times:

    venv        `make .venv/bin/python`: python3 -m venv (+ whatever the Makefile adds)
    install     `make .venv/.installed`: pip install -e '.[docker]'
    server init the native backend's first start: initialise the data directory, start, admin login
    bootstrap   the rest of the first `provision up`: database, user, grants, proof, .env

on a free port (never 3306), each in its own process, then destroys what it made. The package
install of the server itself (apt-get) is not here: it is a download, measured by
`make check-fresh` case (a). Results: bench/results/bench_first_run.json.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PARTS = ("venv", "install", "server init", "bootstrap")

# run inside the clone's own venv: the server's first start, then the rest of `up`
SPLIT = """
import json, sys, time
from provision import api
from provision.backends.native import NativeBackend
from provision.config import load_settings
from provision.state import StateDir
settings = load_settings({"project_dir": sys.argv[1], "port": int(sys.argv[2]), "backend": "native"}, environ={})
state = StateDir(settings.state_path)
t0 = time.perf_counter()
with state.lock():
    NativeBackend(settings, state).start()
    state.update(backend="native")
t1 = time.perf_counter()
api.up(settings)
t2 = time.perf_counter()
print(json.dumps({"server init": t1 - t0, "bootstrap": t2 - t1}))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - started


def one_run(ref: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-first-run-") as tmp:
        clone = Path(tmp) / "app"
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        subprocess.run(["git", "-c", "advice.detachedHead=false", "checkout", "-q", ref], cwd=clone, check=True)
        env_make = ["make", "-s"]
        result = {"venv": timed([*env_make, ".venv/bin/python"], clone),
                  "install": timed([*env_make, ".venv/.installed"], clone)}
        out = subprocess.run([str(clone / ".venv/bin/python"), "-c", SPLIT, str(clone), str(free_port())],
                             cwd=clone, check=True, capture_output=True, text=True).stdout
        result.update(json.loads(out.splitlines()[-1]))
        subprocess.run([str(clone / ".venv/bin/provision"), "destroy", "--yes"], cwd=clone,
                       capture_output=True, check=True)
        return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", action="append", help="git ref to measure (repeatable; default HEAD)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one run (a smoke test)")
    args = parser.parse_args()
    refs = args.ref or ["HEAD"]
    repeat = 1 if args.quick else args.repeat
    results: dict[str, dict[str, float]] = {}
    for ref in refs:
        runs = [one_run(ref) for _ in range(repeat)]
        results[ref] = {part: statistics.median(run[part] for run in runs) for part in PARTS}
        results[ref]["total"] = sum(results[ref][part] for part in PARTS)
    width = max(6, *(len(ref) for ref in refs))
    print(f"first make dev-db, median of {repeat} (s)")
    print(f"| {'part':<11} | " + " | ".join(f"{ref:>{width}}" for ref in refs) + " |")
    print(f"| {'-' * 11} | " + " | ".join("-" * width for _ in refs) + " |")
    for part in (*PARTS, "total"):
        print(f"| {part:<11} | " + " | ".join(f"{results[ref][part]:>{width}.2f}" for ref in refs) + " |")
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "bench_first_run.json").write_text(json.dumps({"repeat": repeat, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
