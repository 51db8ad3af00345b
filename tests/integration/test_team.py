"""One real server standing for a team's shared server: several simulated hosts and owners
(separate directories, state dirs and processes), namespaces, leases of seconds, a pytest run
killed with -9 and reaped from elsewhere, a limited admin, a server that requires TLS."""
from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from provision import leases
from provision.probe import connect, error_code
from provision.url import DatabaseURL, parse

from .helpers import env_url
from .team_server import TeamServer

pytestmark = [pytest.mark.mysql, pytest.mark.native]

ACCESS_DENIED_DB, ACCESS_DENIED_TABLE = 1044, 1142
DENIED = (ACCESS_DENIED_DB, ACCESS_DENIED_TABLE)


@pytest.fixture(scope="module")
def team(server_binary, tmp_path_factory):
    with TeamServer(tmp_path_factory.mktemp("team"), server_binary) as server:
        yield server


class Member:
    """Someone on the team: a directory of their own (state dir, .env), the real CLI in a subprocess."""

    def __init__(self, path: Path, env: dict | None = None):
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.env = env or {}

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROVISION_")}
        env.update(self.env)
        return subprocess.run([sys.executable, "-m", "provision", *args], cwd=self.path, env=env,
                              capture_output=True, text=True, timeout=120)

    def up(self, admin: str, *args: str) -> dict:
        result = self.cli("up", "--backend", "existing", "--server-url", admin, "--json", *args)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    @property
    def url(self) -> str:
        return env_url(self.path / ".env")


def sql(server_or_url, statement: str, params=None, **kwargs):
    conn = (connect(parse(server_or_url), **kwargs) if isinstance(server_or_url, str)
            else server_or_url.connect(**kwargs))
    try:
        with conn.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.fetchall()
    finally:
        conn.close()


def databases(server) -> set[str]:
    return {row[0] for row in sql(server, "SHOW DATABASES")}


def users(server, name: str) -> set[str]:
    return {host for (host,) in sql(server, "SELECT Host FROM mysql.user WHERE User = %s", (name,))}


def denied(url: str, statement: str) -> int | None:
    """The error number the server answers ``statement`` with, for the login of ``url``."""
    try:
        sql(url, statement)
    except Exception as exc:
        return error_code(exc)
    return None


def wait_expired(server, *names: str, timeout: float = 60) -> None:
    """Poll the server's clock until every named lease has expired."""
    deadline = time.monotonic() + timeout
    conn = server.connect()
    try:
        for name in names:
            while (lease := leases.get(conn, name)) is not None and lease["seconds_left"] > 0:
                assert time.monotonic() < deadline, f"lease {name} did not expire within {timeout} s"
                time.sleep(min(0.25, max(0.01, lease["seconds_left"])))  # sleep-ok: waiting for a TTL to pass
    finally:
        conn.close()


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {timeout} s"
        time.sleep(0.05)  # sleep-ok: polling a real file written by a real process


HANGING_SUITE = """
import time
from pathlib import Path

def test_hangs(mysql_db):
    conn = mysql_db.connect()
    with conn.cursor() as cursor:
        cursor.execute("CREATE TABLE work (id INT PRIMARY KEY)")
        cursor.execute("INSERT INTO work VALUES (1)")
    Path("running.txt").write_text(mysql_db.name + "\\n")
    while not Path("never").exists():
        time.sleep(0.1)  # sleep-ok: a test that hangs until it is killed
"""


def start_killable_run(directory: Path, admin: str, ttl: str = "3s") -> tuple[subprocess.Popen, str]:
    """A real pytest run with leased test databases on the shared server; returns it and its database."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "test_hang.py").write_text(HANGING_SUITE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROVISION_", "PYTEST_"))}
    run = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "test_hang.py",
                            f"--mysql-server={admin}", "--mysql-ttl", ttl], cwd=directory, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    marker = directory / "running.txt"
    try:
        wait_for(lambda: marker.exists() and marker.read_text().endswith("\n") or run.poll() is not None, 120,
                 "the test run did not start")
    except AssertionError:
        run.kill()
        raise
    assert run.poll() is None, run.stdout.read()
    return run, marker.read_text().strip()


def run_lease_of(database: str) -> str:
    return database.rsplit("_", 1)[0] + "_"


def test_done_when(team, tmp_path):
    """The issue's scenario, exactly: alice (4 s) and bob (1 h) get two isolated URLs; a pytest run
    with --mysql-ttl 3s is killed with -9 and leaves its database; seconds later `provision reap`
    from an unrelated directory drops alice's database and user and the run's database, and keeps
    bob's and every database without a lease."""
    admin = str(team.admin)
    sql(team, "CREATE DATABASE unleased_keep")
    sql(team, "CREATE TABLE unleased_keep.t (id INT)")
    alice, bob = Member(tmp_path / "alice"), Member(tmp_path / "bob")
    try:
        a = alice.up(admin, "--namespace", "alice", "--ttl", "4s")
        b = bob.up(admin, "--namespace", "bob", "--ttl", "1h")
        assert (a["database"], a["user"], b["database"], b["user"]) == (
            "ohdevel_alice", "ohdev_alice", "ohdevel_bob", "ohdev_bob")
        assert a["lease"]["ttl_seconds"] == 4 and b["lease"]["ttl_seconds"] == 3600
        a_url, b_url = alice.url, bob.url
        assert parse(a_url).password and parse(a_url).password != parse(b_url).password  # generated
        assert sql(a_url, "SELECT DATABASE()")[0][0] == "ohdevel_alice"
        assert sql(b_url, "SELECT DATABASE()")[0][0] == "ohdevel_bob"
        # isolated: neither reaches the other's database, test databases or the registry
        assert denied(a_url, "USE ohdevel_bob") == ACCESS_DENIED_DB
        assert denied(a_url, "SELECT * FROM ohdevel_bob.x") in DENIED
        assert denied(b_url, "CREATE TABLE ohdevel_alice.x (id INT)") in DENIED
        assert denied(b_url, "CREATE DATABASE ohdevel_alice_t_mine") == ACCESS_DENIED_DB
        assert denied(a_url, "SELECT * FROM provision.leases") in DENIED

        run, run_db = start_killable_run(tmp_path / "ci", admin, "3s")
        run.send_signal(signal.SIGKILL)
        run.wait()
        assert run_db in databases(team), "the killed run left its test database"
        assert sql(team, f"SELECT COUNT(*) FROM `{run_db}`.work")[0][0] == 1

        before = databases(team)
        wait_expired(team, "ohdevel_alice", run_lease_of(run_db))
        elsewhere = Member(tmp_path / "unrelated")
        result = elsewhere.cli("reap", "--server-url", admin, "--json")
        assert result.returncode == 0, result.stderr
        reaped = {lease["name"]: lease for lease in json.loads(result.stdout)["reaped"]}
        assert reaped["ohdevel_alice"]["databases"] == ["ohdevel_alice"]
        assert reaped["ohdevel_alice"]["users"] and all(u.startswith("ohdev_alice@")
                                                        for u in reaped["ohdevel_alice"]["users"])
        # the run's databases: its test's, and the one it had made ahead for the next test (--mysql-pool)
        run_dbs = {name for name in before if name.startswith(run_lease_of(run_db))}
        assert run_db in run_dbs and set(reaped[run_lease_of(run_db)]["databases"]) == run_dbs
        assert databases(team) == before - {"ohdevel_alice"} - run_dbs  # bob's and every unleased one kept
        assert users(team, "ohdev_alice") == set() and users(team, "ohdev_bob")
        assert sql(b_url, "SELECT DATABASE()")[0][0] == "ohdevel_bob"
        assert sql(team, "SELECT COUNT(*) FROM unleased_keep.t")[0][0] == 0
        assert not list((tmp_path / "unrelated").iterdir())  # reap keeps no state of its own
    finally:
        sql(team, "DROP DATABASE IF EXISTS unleased_keep")
