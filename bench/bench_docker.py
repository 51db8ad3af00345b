"""Benchmark of `provision up --backend docker`, side by side with a plain `docker run`.

For each image (wall clock, the real CLI in a subprocess):
  first up       a fresh project: container and volume created, data directory initialised,
                 database/user/grants converged, URL proven, .env written (median of --runs
                 projects)
  up after down  the container stopped, data kept in the volume
  warm up        already up (what a second `make dev-db` costs; median of --warm-runs)
against the baseline
  plain run      docker run -d -e MYSQL_ROOT_PASSWORD=... -p 127.0.0.1:PORT:3306 IMAGE, then wait
                 until root logs in and SELECT 1 answers (what a developer does by hand; median
                 of --runs)
and, to explain the difference:
  plain run, tz skipped   the same with MYSQL_INITDB_SKIP_TZINFO=1 (provision skips the tz tables)
  plain restart           docker stop, docker start, wait for the first query

Targets: first up <= 0.3x the plain run (issue 15: a copy of the per-image data directory cache,
which the first project on a machine makes; measured with and without it); warm up < 0.5 s.

Run: python bench/bench_docker.py [--image IMAGE ...] [--runs N] [--warm-runs N]
Default images: $PROVISION_TEST_MYSQL_IMAGE and $PROVISION_TEST_MARIADB_IMAGE (or the local
provision-test/mysql:9.7 and provision-test/mariadb:10.11). Results: bench/results/bench_docker.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from provision.ports import free_port  # noqa: E402
from provision.probe import Server, wait_until_ready  # noqa: E402
from provision.url import DatabaseURL  # noqa: E402

PROVISION = [sys.executable, "-m", "provision"]
ENV = {k: v for k, v in os.environ.items() if not k.startswith("PROVISION_")}
LABEL = "dev.provision.bench=1"  # the baseline containers are ours too: removed by this label


def settle() -> None:
    """Write back what the previous step left dirty, so no measurement pays for the one before."""
    os.sync()


def timed(command: list[str], cwd: Path | None = None, env: dict | None = None) -> float:
    settle()
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env={**ENV, **(env or {})}, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr}")
    return elapsed


def wait_first_query(port: int, password: str) -> None:
    server = Server(admin=DatabaseURL(user="root", password=password, port=port), host="127.0.0.1", port=port,
                    local=True)
    conn = wait_until_ready(server, timeout=180, what="plain container")
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1")
    conn.close()


class Plain:
    """The baseline: the docker CLI when installed (what a developer types), else the SDK."""

    def __init__(self, image: str):
        import docker

        self.image = image
        self.client = docker.from_env(timeout=300)
        self.cli = shutil.which("docker")

    def run(self, *, skip_tz: bool) -> tuple[float, str, int, str]:
        port, password = free_port(), secrets.token_urlsafe(16)
        env = {"MYSQL_ROOT_PASSWORD": password, "MARIADB_ROOT_PASSWORD": password}
        if skip_tz:
            env.update(MYSQL_INITDB_SKIP_TZINFO="1", MARIADB_INITDB_SKIP_TZINFO="1")
        settle()
        start = time.perf_counter()
        if self.cli:
            # the password goes through the environment of the docker CLI, not its argv
            command = [self.cli, "run", "-d", "--label", LABEL, "-p", f"127.0.0.1:{port}:3306",
                       *(arg for name in env for arg in ("-e", name)), self.image]
            result = subprocess.run(command, env={**ENV, **env}, capture_output=True, text=True, check=True)
            container_id = result.stdout.strip()
        else:
            container_id = self.client.containers.run(
                self.image, detach=True, environment=env, labels={"dev.provision.bench": "1"},
                ports={"3306/tcp": ("127.0.0.1", port)}).id
        wait_first_query(port, password)
        return time.perf_counter() - start, container_id, port, password

    def restart(self, container_id: str, port: int, password: str) -> float:
        container = self.client.containers.get(container_id)
        container.stop(timeout=60)
        settle()
        start = time.perf_counter()
        container.start()
        wait_first_query(port, password)
        return time.perf_counter() - start

    def remove(self, container_id: str) -> None:
        self.client.containers.get(container_id).remove(force=True, v=True)


def bench_image(image: str, repeat: int, warm_runs: int) -> dict:
    plain = Plain(image)
    print(f"\n{image}", flush=True)
    row: dict = {"image": image}

    plain_runs = []
    for attempt in range(repeat):
        elapsed, container_id, port, password = plain.run(skip_tz=False)
        try:
            plain_runs.append(elapsed)
            if attempt == 0:
                row["plain_restart"] = plain.restart(container_id, port, password)
        finally:
            plain.remove(container_id)
    row["plain_runs"], row["plain_run"] = plain_runs, statistics.median(plain_runs)
    elapsed, container_id, _, _ = plain.run(skip_tz=True)
    plain.remove(container_id)
    row["plain_run_skip_tz"] = elapsed

    # the data directory cache (issue 15): the first project on a machine initialises its own volume
    # and then starts the cache's build in the background; every later project copies the cache.
    # Without the cache (PROVISION_DOCKER_CACHE=0) the image initialises every volume, as before.
    from provision.backends.docker_cache import _complete, cache_name

    name = cache_name(image, plain.client.images.get(image).id)
    row["cache_existed"] = _complete(plain.client, name) is not None
    runs = [("first_up_no_cache", {"PROVISION_DOCKER_CACHE": "0"})]
    if not row["cache_existed"]:
        runs.insert(0, ("first_up_cache_missing", {}))
    for key, env in runs:
        project = Path(tempfile.mkdtemp(prefix="bench-docker-"))
        try:
            row[key] = timed([*PROVISION, "up", "--backend", "docker", "--image", image, "--port",
                              str(free_port())], cwd=project, env=env)
        finally:
            subprocess.run([*PROVISION, "destroy", "--yes"], cwd=project, env=ENV, capture_output=True)
            shutil.rmtree(project, ignore_errors=True)
    deadline = time.monotonic() + 600
    while _complete(plain.client, name) is None:  # the background build the first up started
        if time.monotonic() > deadline:
            raise SystemExit(f"the data directory cache {name} was not made within 600 s")
        time.sleep(0.5)

    first_ups = []
    for _ in range(repeat - 1):  # the last one goes on below
        project = Path(tempfile.mkdtemp(prefix="bench-docker-"))
        try:
            first_ups.append(timed([*PROVISION, "up", "--backend", "docker", "--image", image, "--port",
                                    str(free_port())], cwd=project))
        finally:
            subprocess.run([*PROVISION, "destroy", "--yes"], cwd=project, env=ENV, capture_output=True)
            shutil.rmtree(project, ignore_errors=True)
    project = Path(tempfile.mkdtemp(prefix="bench-docker-"))
    port = str(free_port())
    try:
        first_ups.append(timed([*PROVISION, "up", "--backend", "docker", "--image", image, "--port", port],
                               cwd=project))
        row["first_ups"], row["first_up"] = first_ups, statistics.median(first_ups)
        timed([*PROVISION, "down"], cwd=project)
        row["up_after_down"] = timed([*PROVISION, "up", "--port", port], cwd=project)
        row["warm_up"] = statistics.median(
            timed([*PROVISION, "up", "--port", port], cwd=project) for _ in range(warm_runs))
    finally:
        subprocess.run([*PROVISION, "destroy", "--yes"], cwd=project, env=ENV, capture_output=True)
        shutil.rmtree(project, ignore_errors=True)

    row["ratio_first_up"] = row["first_up"] / row["plain_run"]
    row["ratio_up_after_down"] = row["up_after_down"] / row["plain_run"]
    row["ratio_warm_up"] = row["warm_up"] / row["plain_run"]
    row["ratio_up_after_down_vs_restart"] = row["up_after_down"] / row["plain_restart"]
    row["ratio_first_up_no_cache"] = row["first_up_no_cache"] / row["plain_run"]
    row["target_first_up_met"] = row["ratio_first_up"] <= 0.3
    row["target_warm_up_met"] = row["warm_up"] < 0.5
    print(f"  plain docker run + first query     {row['plain_run']:6.2f} s  (median of "
          f"{', '.join(f'{x:.2f}' for x in row['plain_runs'])})", flush=True)
    print(f"  plain run, MYSQL_INITDB_SKIP_TZINFO {row['plain_run_skip_tz']:6.2f} s")
    print(f"  plain docker stop/start + query    {row['plain_restart']:6.2f} s")
    if "first_up_cache_missing" in row:
        print(f"  provision first up, no cache yet   {row['first_up_cache_missing']:6.2f} s  (the first project "
              "of an image: it builds the cache in the background afterwards)")
    print(f"  provision first up, no cache       {row['first_up_no_cache']:6.2f} s  "
          f"{row['ratio_first_up_no_cache']:.2f}x plain run  (PROVISION_DOCKER_CACHE=0: before issue 15)")
    print(f"  provision first up (cache copied)  {row['first_up']:6.2f} s  {row['ratio_first_up']:.2f}x plain run"
          f"  (target <= 0.3x: {'met' if row['target_first_up_met'] else 'MISSED'}; median of "
          f"{', '.join(f'{x:.2f}' for x in row['first_ups'])})")
    print(f"  provision up after down            {row['up_after_down']:6.2f} s  "
          f"{row['ratio_up_after_down']:.2f}x plain run, {row['ratio_up_after_down_vs_restart']:.2f}x plain restart")
    print(f"  provision warm up (median of {warm_runs})     {row['warm_up']:6.2f} s  "
          f"{row['ratio_warm_up']:.2f}x plain run  (target < 0.5 s: "
          f"{'met' if row['target_warm_up_met'] else 'MISSED'})")
    return row


def default_images() -> list[str]:
    import docker

    client = docker.from_env(timeout=30)
    images = []
    for variable, default in (("PROVISION_TEST_MYSQL_IMAGE", "provision-test/mysql:9.7"),
                              ("PROVISION_TEST_MARIADB_IMAGE", "provision-test/mariadb:10.11")):
        name = os.environ.get(variable) or default
        try:
            client.images.get(name)
            images.append(name)
        except docker.errors.ImageNotFound:
            print(f"skipping {name}: not on this machine (bash docker/build-image.sh, or set {variable})",
                  file=sys.stderr)
    return images


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", action="append", help="image to measure (repeatable)")
    parser.add_argument("--runs", type=int, default=3, help="plain runs and first ups (median)")
    parser.add_argument("--warm-runs", type=int, default=5)
    args = parser.parse_args()
    images = args.image or default_images()
    if not images:
        print("no image to measure", file=sys.stderr)
        return 1
    rows = [bench_image(image, max(1, args.runs), args.warm_runs) for image in images]
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "bench_docker.json").write_text(json.dumps({
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": platform.platform(),
        "cpus": os.cpu_count(), "load_average": os.getloadavg(), "rows": rows,
    }, indent=2) + "\n")
    print(f"\nresults: {results / 'bench_docker.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
