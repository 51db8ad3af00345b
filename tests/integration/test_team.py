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

from ..conftest import matrix_params
from .helpers import env_url
from .team_server import TeamServer, databases, sql

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


class TestIsolation:
    """A namespaced user never reaches another namespace's databases, even one whose name extends its own."""

    def test_alice_and_alice2(self, team, tmp_path):
        admin = str(team.admin)
        one, two = Member(tmp_path / "one"), Member(tmp_path / "two")
        try:
            one.up(admin, "--namespace", "alice1x")
            two.up(admin, "--namespace", "alice1x2")
            one_url, two_url = one.url, two.url
            # each makes test databases of its own (the <database>_* grant) ...
            sql(one_url, "CREATE DATABASE ohdevel_alice1x_t_mine")
            sql(two_url, "CREATE DATABASE ohdevel_alice1x2_t_mine")
            # ... and reaches nothing of the other: ohdevel_alice1x\_% must not match ohdevel_alice1x2*
            for statement in ("USE ohdevel_alice1x2", "USE ohdevel_alice1x2_t_mine",
                              "CREATE DATABASE ohdevel_alice1x2_t_other", "CREATE DATABASE ohdevel_alice1x2"):
                assert denied(one_url, statement) == ACCESS_DENIED_DB, statement
            for statement in ("USE ohdevel_alice1x", "USE ohdevel_alice1x_t_mine"):
                assert denied(two_url, statement) == ACCESS_DENIED_DB, statement
            # and none can see the others' databases
            assert {r[0] for r in sql(one_url, "SHOW DATABASES")} - {"information_schema"} == {
                "ohdevel_alice1x", "ohdevel_alice1x_t_mine"}
        finally:
            for name in ("ohdevel_alice1x_t_mine", "ohdevel_alice1x2_t_mine", "ohdevel_alice1x", "ohdevel_alice1x2"):
                sql(team, f"DROP DATABASE IF EXISTS `{name}`")
            for user in ("ohdev_alice1x", "ohdev_alice1x2"):
                for host in users(team, user):
                    sql(team, "DROP USER %s@%s", (user, host))

    def test_grant_patterns_against_the_servers_own_matching(self, team):
        """For many namespace pairs, the server's LIKE (the matching GRANT patterns use) says a
        namespace's patterns match another's databases only when the namespaces are equal."""
        from hypothesis import given, settings, strategies as st

        from provision.bootstrap import _namespace_bound  # noqa: F401  (same module the grants come from)
        from provision.names import grant_pattern
        from provision import namespaces

        conn = team.connect()
        name = st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True)

        @settings(max_examples=150, deadline=None, database=None)
        @given(a=name, b=name, suffix=st.sampled_from(["", "_t_ab12_main_1_abcdef", "2", "_", "x_t"]))
        def check(a, b, suffix):
            mine = namespaces.apply("ohdevel", "ohdev", a)[0]
            other = namespaces.apply("ohdevel", "ohdev", b)[0] + suffix
            if other.startswith(mine + "_") or other == mine:
                return  # the other name is one of a's own
            with conn.cursor() as cursor:
                cursor.execute("SELECT %s LIKE %s OR %s LIKE %s",
                               (other, grant_pattern(mine), other, grant_pattern(mine) + "\\_%"))
                assert cursor.fetchone()[0] == 0, (mine, other)

        try:
            check()
        finally:
            conn.close()


LIMITED_GRANTS = [
    # exactly the README's list ("a team's shared server")
    "GRANT CREATE USER ON *.* TO {who}",
    "GRANT SELECT ON mysql.* TO {who}",
    "GRANT ALL PRIVILEGES ON `ohdevel\\_%`.* TO {who} WITH GRANT OPTION",
    "GRANT ALL PRIVILEGES ON `provision`.* TO {who}",
    "GRANT ALL PRIVILEGES ON `provision\\_%`.* TO {who}",
]


@pytest.fixture
def limited_admin(team):
    """An admin as managed services give one: no SUPER, CREATE USER, GRANT OPTION on name patterns."""
    name, password = unique("tadm"), secrets.token_urlsafe(12)
    create_admin(team, name, password, LIMITED_GRANTS)
    grants = "\n".join(row[0] for row in sql(team, "SHOW GRANTS FOR %s@'%%'", (name,)))
    assert "SUPER" not in grants and "ALL PRIVILEGES ON *.*" not in grants
    yield str(DatabaseURL(user=name, password=password, host="127.0.0.1", port=team.port))
    sql(team, "DROP USER IF EXISTS %s@'%%'", (name,))


def create_admin(team, name: str, password: str, grants: list[str]) -> None:
    sql(team, "CREATE USER %s@'%%' IDENTIFIED BY %s", (name, password))
    for grant in grants:  # the README's text; the account a parameter
        sql(team, grant.replace("%", "%%").format(who="%s@'%%'"), (name,))


def unique(stem: str) -> str:
    return f"{stem}{secrets.token_hex(3)}"


def test_limited_admin_does_it_all(team, limited_admin, tmp_path):
    """up --namespace --ttl twice (create, then converge), a leased pytest run, reap: all as the limited admin."""
    ns = unique("lim")
    member = Member(tmp_path / "member")
    first = member.up(limited_admin, "--namespace", ns, "--ttl", "2s")
    assert first["changed"] and first["lease"]["ttl_seconds"] == 2
    again = member.up(limited_admin, "--namespace", ns)  # the recorded TTL is renewed
    assert again["changes"] == [] and again["lease"]["ttl_seconds"] == 2
    assert sql(member.url, "SELECT DATABASE()")[0][0] == f"ohdevel_{ns}"

    run, run_db = start_killable_run(tmp_path / "ci", limited_admin, "2s")
    run.send_signal(signal.SIGKILL)
    run.wait()
    wait_expired(team, f"ohdevel_{ns}", run_lease_of(run_db))
    result = Member(tmp_path / "elsewhere").cli("reap", "--server-url", limited_admin, "--json")
    assert result.returncode == 0, result.stderr
    reaped = {lease["name"] for lease in json.loads(result.stdout)["reaped"]}
    assert {f"ohdevel_{ns}", run_lease_of(run_db)} <= reaped
    assert not {f"ohdevel_{ns}", run_db} & databases(team) and not users(team, f"ohdev_{ns}")


def test_admin_without_registry_grant_is_told_what_to_grant(team, tmp_path):
    name, password = unique("noreg"), "pw-noreg"
    create_admin(team, name, password, [grant for grant in LIMITED_GRANTS if "`provision`" not in grant])
    admin = str(DatabaseURL(user=name, password=password, host="127.0.0.1", port=team.port))
    member = Member(tmp_path / "m")
    try:
        result = member.cli("up", "--backend", "existing", "--server-url", admin, "--namespace", "noreg", "--ttl", "1h")
        assert result.returncode == 3 and "Traceback" not in result.stderr
        assert "may not create or write it" in result.stderr and "GRANT ALL PRIVILEGES ON `provision`.*" in result.stderr
        assert "ohdevel_noreg" not in databases(team) and not users(team, "ohdev_noreg")  # nothing half-made
        assert not (tmp_path / "m" / ".env").exists()
        suite = tmp_path / "suite"
        suite.mkdir()
        (suite / "test_one.py").write_text("def test_one(mysql_db):\n    pass\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PROVISION_", "PYTEST_"))}
        run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                              f"--mysql-server={admin}", "--mysql-ttl", "1m"], cwd=suite, env=env,
                             capture_output=True, text=True, timeout=120)
        assert run.returncode != 0 and "may not create or write it" in run.stdout
    finally:
        sql(team, "DROP USER IF EXISTS %s@'%%'", (name,))


class TestCli:
    def test_status_renews_and_reports_the_lease(self, team, tmp_path):
        member = Member(tmp_path / "s")
        ns = unique("st")
        up = member.up(str(team.admin), "--namespace", ns, "--ttl", "1h")
        result = member.cli("status", "--json")
        assert result.returncode == 0, result.stderr
        lease = json.loads(result.stdout)["lease"]
        assert lease["state"] == "renewed" and lease["renewed"] > up["lease"]["renewed"]
        assert f"lease: ohdevel_{ns} renewed, until " in member.cli("status").stdout
        Member(tmp_path / "admin").cli("reap", "--server-url", str(team.admin))
        sql(team, "UPDATE provision.leases SET expires = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND WHERE name = %s",
            (f"ohdevel_{ns}",))  # as if the laptop slept past the TTL
        reaped = Member(tmp_path / "admin").cli("reap", "--server-url", str(team.admin), "--dry-run")
        assert f"would drop database ohdevel_{ns}" in reaped.stdout and f"ohdevel_{ns}" in databases(team)
        assert Member(tmp_path / "admin").cli("reap", "--server-url", str(team.admin)).returncode == 0
        lost = json.loads(member.cli("status", "--json").stdout)["lease"]
        assert lost["state"] == "lost" and "provision up" in lost["hint"]
        assert f"lease: ohdevel_{ns} lost: it expired and was reaped" in member.cli("status").stdout
        assert member.up(str(team.admin))["changed"]  # up makes it again, under a new lease
        assert f"ohdevel_{ns}" in databases(team)
        conn = team.connect()
        assert leases.get(conn, f"ohdevel_{ns}")["state"] == "live"
        conn.close()

    @pytest.mark.parametrize("args, message", [
        (("reap",), "needs the shared server's admin URL"),
        (("up", "--namespace", "Bad_Name", "--backend", "existing"), "invalid namespace"),
        (("up", "--ttl", "soon", "--backend", "existing"), "invalid TTL"),
        (("reap", "--server-url", "mysql://x:y@127.0.0.1:1/", "--purpose", "prod"), "unknown purpose"),
    ])
    def test_bad_input(self, tmp_path, args, message):
        result = Member(tmp_path / "bad").cli(*args)
        assert result.returncode == 2 and message in result.stderr and "hint:" in result.stderr
        assert "Traceback" not in result.stderr


def test_a_session_start_reaps_expired_test_leases(team, tmp_path):
    """A killed run's databases go at the next session on the server, from another directory."""
    admin = str(team.admin)
    run, run_db = start_killable_run(tmp_path / "killed", admin, "1s")
    run.send_signal(signal.SIGKILL)
    run.wait()
    wait_expired(team, run_lease_of(run_db))
    assert run_db in databases(team)
    later = tmp_path / "later"
    later.mkdir()
    (later / "test_ok.py").write_text("def test_ok(mysql_db):\n    mysql_db.connect().close()\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROVISION_", "PYTEST_"))}
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                             f"--mysql-server={admin}", "--mysql-ttl", "1m"], cwd=later, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"reaped the expired test lease {run_lease_of(run_db)}" in result.stdout
    assert not {name for name in databases(team) if name.startswith(run_lease_of(run_db))}
    conn = team.connect()
    assert [lease for lease in leases.list_leases(conn) if lease["purpose"] == "test"] == []  # its own released
    conn.close()


def test_run_killed_on_another_host(team, tmp_path):
    """A run on a simulated CI host (its own hostname and pid namespace: its pids mean nothing here)
    is killed; this host's reaper drops its databases by the lease, not by pids."""
    import shutil

    from ..conftest import require

    require(shutil.which("unshare") is not None and os.geteuid() == 0,
            "simulating another host needs unshare(1) and root (UTS and pid namespaces)")
    probe = subprocess.run(["unshare", "--uts", "--pid", "--fork", "--mount-proc", "true"], capture_output=True)
    require(probe.returncode == 0, f"unshare cannot make namespaces here: {probe.stderr!r}")
    admin = str(team.admin)
    directory = tmp_path / "runner"
    directory.mkdir()
    (directory / "test_hang.py").write_text(HANGING_SUITE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROVISION_", "PYTEST_"))}
    script = (f"hostname ci-runner-7 && exec {sys.executable} -m pytest -p no:cacheprovider -q test_hang.py "
              f"--mysql-server=\"$ADMIN\" --mysql-ttl 2s")
    run = subprocess.Popen(["unshare", "--uts", "--pid", "--fork", "--kill-child", "--mount-proc", "sh", "-c",
                            script], cwd=directory, env={**env, "ADMIN": admin},
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    marker = directory / "running.txt"
    wait_for(lambda: marker.exists() and marker.read_text().endswith("\n") or run.poll() is not None, 120,
             "the run on the other host did not start")
    assert run.poll() is None, run.stdout.read()
    run_db = marker.read_text().strip()
    conn = team.connect()
    lease = leases.get(conn, run_lease_of(run_db))
    assert lease["host"] == "ci-runner-7" and lease["pid"] == 1  # pid 1 of its own namespace
    run.send_signal(signal.SIGKILL)  # unshare's --kill-child takes the run along
    run.wait()
    wait_expired(team, run_lease_of(run_db))
    reaped = {r.name: r for r in leases.reap(conn, purpose="test")}
    conn.close()
    assert run_db in reaped[run_lease_of(run_db)].databases and run_db not in databases(team)


def test_tls_required_server(server_binary, tmp_path):
    """require_secure_transport=ON: up, the proof, the app's URL, a leased pytest run and reap all use TLS."""
    with TeamServer(tmp_path / "tls-server", server_binary, require_tls=True) as server:
        admin = str(server.admin)
        with pytest.raises(Exception) as refused:  # the server really refuses a plain login
            connect(server.admin, tls=False)
        assert error_code(refused.value) == 1045
        member = Member(tmp_path / "member")
        data = member.up(admin, "--namespace", "tls", "--ttl", "2s")
        assert data["database"] == "ohdevel_tls"
        cipher = sql(member.url, "SHOW SESSION STATUS LIKE 'Ssl_cipher'", tls=True)[0][1]
        assert cipher, "the app's URL logs in over TLS"
        again = member.up(admin, "--namespace", "tls")  # a rerun (no change) over TLS too
        assert again["changes"] == []
        assert member.cli("status", "--json").returncode == 0

        run, run_db = start_killable_run(tmp_path / "ci", admin, "2s")
        run.send_signal(signal.SIGKILL)
        run.wait()
        wait_expired(server, "ohdevel_tls", run_lease_of(run_db))
        result = Member(tmp_path / "elsewhere").cli("reap", "--server-url", admin, "--json")
        assert result.returncode == 0, result.stderr
        assert {"ohdevel_tls", run_lease_of(run_db)} <= {r["name"] for r in json.loads(result.stdout)["reaped"]}
        assert not {"ohdevel_tls", run_db} & databases(server)


@pytest.mark.docker
@pytest.mark.parametrize("image", [p.values[0] for p in matrix_params(native=False)],
                         ids=[p.id for p in matrix_params(native=False)])
def test_clients_not_on_the_servers_host(container_server, image, tmp_path):
    """Through Docker's port mapping the server sees clients at the bridge gateway, as a shared server
    sees its team: users for '%', isolated namespaces, leases and reap on every server of the matrix."""
    server = container_server(image)
    admin = str(server.admin)
    alice, bob = Member(tmp_path / "alice"), Member(tmp_path / "bob")
    a = alice.up(admin, "--namespace", "dka", "--ttl", "2s")
    bob.up(admin, "--namespace", "dkb", "--ttl", "1h")
    try:
        assert a["hosts"] == ["%"], "the server saw this client from another host"
        assert sql(alice.url, "SELECT CURRENT_USER()")[0][0] == "ohdev_dka@%"
        assert denied(alice.url, "USE ohdevel_dkb") == ACCESS_DENIED_DB
        assert denied(bob.url, "CREATE DATABASE ohdevel_dka_t_x") == ACCESS_DENIED_DB
        wait_expired(server, "ohdevel_dka")
        result = Member(tmp_path / "elsewhere").cli("reap", "--server-url", admin, "--json")
        assert result.returncode == 0, result.stderr
        reaped = {r["name"]: r for r in json.loads(result.stdout)["reaped"]}
        assert reaped["ohdevel_dka"]["users"] == ["ohdev_dka@%"] and "ohdevel_dkb" not in reaped
        assert "ohdevel_dka" not in databases(server) and not users(server, "ohdev_dka")
        assert sql(bob.url, "SELECT DATABASE()")[0][0] == "ohdevel_dkb"
    finally:
        sql(server, "DROP DATABASE IF EXISTS ohdevel_dkb")
        for host in users(server, "ohdev_dkb"):
            sql(server, "DROP USER %s@%s", ("ohdev_dkb", host))
        sql(server, "DELETE FROM provision.leases WHERE name IN ('ohdevel_dka', 'ohdevel_dkb')")


LOSING_SUITE = """
import os, subprocess, sys, time
from provision import leases
from provision.probe import connect
from provision.url import parse

def test_lease_taken_away(mysql_db, mysql_databases):
    admin = connect(parse(os.environ["ADMIN"]))
    with admin.cursor() as cursor:  # as if this process had hung past its TTL and a reaper had claimed it
        cursor.execute("UPDATE provision.leases SET expires = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND, "
                       "state = 'reaping' WHERE name = %s", (mysql_databases.lease.name,))
    assert subprocess.run([sys.executable, "-m", "provision", "reap", "--server-url", os.environ["ADMIN"]]).returncode == 0
    deadline = time.monotonic() + 10
    while not mysql_databases.renewer.lost.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)  # sleep-ok: waiting for the renewer thread's next renewal
    assert mysql_databases.renewer.lost.is_set()
"""


def test_a_run_told_its_lease_was_taken(team, tmp_path):
    directory = tmp_path / "losing"
    directory.mkdir()
    (directory / "test_lose.py").write_text(LOSING_SUITE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROVISION_", "PYTEST_"))}
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-s",
                             f"--mysql-server={team.admin}", "--mysql-ttl", "3s"], cwd=directory,
                            env={**env, "ADMIN": str(team.admin)}, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "this run's lease expired and was reaped while it ran" in result.stdout


class TestDestroy:
    """destroy on a shared server takes away the project's own namespace, and nothing else."""

    def test_leased_namespace(self, team, tmp_path):
        member, other = Member(tmp_path / "d"), Member(tmp_path / "o")
        member.up(str(team.admin), "--namespace", "dst", "--ttl", "1h")
        other.up(str(team.admin), "--namespace", "dsto", "--ttl", "1h")
        sql(member.url, "CREATE DATABASE ohdevel_dst_t_extra")
        result = member.cli("destroy", "--yes")
        assert result.returncode == 0, result.stderr
        assert "ended lease ohdevel_dst" in result.stdout
        assert not {"ohdevel_dst", "ohdevel_dst_t_extra"} & databases(team) and not users(team, "ohdev_dst")
        assert "ohdevel_dsto" in databases(team) and sql(other.url, "SELECT 1")[0][0] == 1
        conn = team.connect()
        assert leases.get(conn, "ohdevel_dst") is None and leases.get(conn, "ohdevel_dsto") is not None
        conn.close()

    def test_namespace_without_lease(self, team, tmp_path):
        member = Member(tmp_path / "d")
        member.up(str(team.admin), "--namespace", "dstn")
        result = member.cli("destroy", "--yes")
        assert result.returncode == 0, result.stderr
        assert "ohdevel_dstn" not in databases(team) and not users(team, "ohdev_dstn")


XDIST_SUITE = """
import os, pytest
from provision import leases

@pytest.mark.parametrize("i", range(6))
def test_leased(mysql_db, mysql_databases, i):
    lease = mysql_databases.lease
    assert mysql_db.name.startswith(lease.name)  # each worker's databases under its own lease
    with open(f"lease-{os.environ['PYTEST_XDIST_WORKER']}.txt", "w") as f:
        f.write(lease.name)
"""


def test_xdist_workers_lease_their_own(team, tmp_path):
    directory = tmp_path / "xdist"
    directory.mkdir()
    (directory / "test_x.py").write_text(XDIST_SUITE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROVISION_", "PYTEST_"))}
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-n", "2",
                             f"--mysql-server={team.admin}", "--mysql-ttl", "1m"], cwd=directory, env=env,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    names = {path.read_text() for path in directory.glob("lease-gw*.txt")}
    assert len(names) == 2 and all("_gw" in name for name in names)
    conn = team.connect()
    assert not {lease["name"] for lease in leases.list_leases(conn)} & names  # released at the end
    conn.close()
    assert not {db for db in databases(team) if any(db.startswith(name) for name in names)}
