"""The lease registry and the reaper against a real server: expiry by the server's clock,
renewals against claims, and reapers in several processes at once."""
from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time

import pytest

from provision import leases
from provision.leases import Lease
from provision.probe import connect
from provision.url import DatabaseURL

from .team_server import TeamServer, databases, sql

pytestmark = [pytest.mark.mysql, pytest.mark.native]


@pytest.fixture(scope="module")
def team(server_binary, tmp_path_factory):
    with TeamServer(tmp_path_factory.mktemp("team-leases"), server_binary) as server:
        yield server


def unique(stem: str) -> str:
    return f"{stem}{secrets.token_hex(3)}"


def wait_expired(server, name: str, timeout: float = 30) -> None:
    """Poll the server's own clock until the lease has expired."""
    deadline = time.monotonic() + timeout
    conn = server.connect()
    try:
        while (lease := leases.get(conn, name)) is not None and lease["seconds_left"] > 0:
            assert time.monotonic() < deadline, f"lease {name} did not expire within {timeout} s"
            time.sleep(min(0.2, max(0.01, lease["seconds_left"])))  # sleep-ok: waiting for a TTL to pass
    finally:
        conn.close()


def leased_database(server, name: str, ttl: int, **extra) -> Lease:
    lease = Lease(name=name, purpose=extra.pop("purpose", "dev"), ttl=ttl, **extra)
    conn = server.connect()
    try:
        leases.register(conn, lease)  # the lease first: a crash after it leaves nothing unleased
        sql(server, f"CREATE DATABASE `{name}`")
    finally:
        conn.close()
    return lease


class TestReap:
    """reap drops what expired by the server's clock, with its users, and nothing else."""

    def test_expired_lease_dropped_with_user_live_and_unleased_kept(self, team):
        gone, kept, unleased = unique("lz_gone"), unique("lz_kept"), unique("lz_free")
        user = unique("lzu")
        sql(team, "CREATE USER %s@'%%' IDENTIFIED BY 'pw'", (user,))
        short = leased_database(team, gone, 1, users=((user, "%"),))
        leased_database(team, kept, 3600)
        sql(team, f"CREATE DATABASE `{unleased}`")
        try:
            conn = team.connect()
            wait_expired(team, short.name)
            dry = [r for r in leases.reap(conn, dry_run=True) if r.name == gone]
            assert dry and dry[0].databases == [gone] and gone in databases(team)  # dry: listed, kept
            reaped = {r.name: r for r in leases.reap(conn)}
            assert reaped[gone].databases == [gone] and reaped[gone].users == [f"{user}@%"]
            assert kept not in reaped
            assert gone not in databases(team) and {kept, unleased} <= databases(team)
            assert not sql(team, "SELECT 1 FROM mysql.user WHERE User = %s", (user,))
            assert leases.get(conn, gone) is None and leases.get(conn, kept) is not None
            conn.close()
        finally:
            for name in (kept, unleased):
                sql(team, f"DROP DATABASE IF EXISTS `{name}`")

    def test_run_lease_covers_its_prefix_only(self, team):
        stem = unique("lzr")
        prefix = f"{stem}_t_ab12_main_42_"
        neighbour = f"{stem}_t_ab12_main_421_aaaaaa"  # pid 421: another process, not a prefix match
        ours = [f"{prefix}aaaaaa", f"{prefix}bbbbbb"]
        lease = Lease(name=prefix, kind="run", purpose="test", ttl=1)
        conn = team.connect()
        leases.register(conn, lease)
        for name in ours + [neighbour]:
            sql(team, f"CREATE DATABASE `{name}`")
        try:
            wait_expired(team, prefix)
            reaped = {r.name: r for r in leases.reap(conn, purpose="test")}
            assert sorted(reaped[prefix].databases) == ours
            assert neighbour in databases(team) and not set(ours) & databases(team)
        finally:
            sql(team, f"DROP DATABASE IF EXISTS `{neighbour}`")
            conn.close()

    def test_purpose_filter_leaves_dev_leases(self, team):
        name = unique("lzdev")
        leased_database(team, name, 1, purpose="dev")
        try:
            wait_expired(team, name)
            conn = team.connect()
            assert name not in {r.name for r in leases.reap(conn, purpose="test")}
            assert name in databases(team)
            assert name in {r.name for r in leases.reap(conn)}
            conn.close()
        finally:
            sql(team, f"DROP DATABASE IF EXISTS `{name}`")

    def test_no_registry_means_nothing_to_reap(self, team):
        conn = team.connect()
        try:
            with conn.cursor() as cursor:
                cursor.execute("CREATE USER IF NOT EXISTS 'lz_noreg'@'%' IDENTIFIED BY 'pw'")
            other = connect(DatabaseURL(user="lz_noreg", password="pw", host="127.0.0.1", port=team.port))
            assert leases.reap(other) == []  # may not see provision.leases: nothing, not an error
            other.close()
        finally:
            with conn.cursor() as cursor:
                cursor.execute("DROP USER IF EXISTS 'lz_noreg'@'%'")
            conn.close()


class TestRenewal:
    """A renewal and a claim are compare-and-sets on the same row: one of them wins."""

    def test_renewal_keeps_a_lease_alive(self, team):
        name = unique("lzren")
        lease = leased_database(team, name, 2)
        conn = team.connect()
        try:
            before = leases.get(conn, name)["expires"]
            assert leases.renew(conn, name, lease.token)
            assert leases.get(conn, name)["expires"] > before
            assert not leases.renew(conn, name, "0" * 32)  # another holder's token renews nothing
        finally:
            leases.release(conn, name, lease.token)
            assert leases.get(conn, name) is None
            sql(team, f"DROP DATABASE IF EXISTS `{name}`")
            conn.close()

    def test_claimed_lease_is_not_revived(self, team):
        name = unique("lzclm")
        lease = leased_database(team, name, 1)
        wait_expired(team, name)
        conn = team.connect()
        try:
            with conn.cursor() as cursor:
                cursor.execute("UPDATE provision.leases SET state = 'reaping' WHERE name = %s", (name,))
            assert not leases.renew(conn, name, lease.token)  # the holder learns it lost the lease
        finally:
            assert name in {r.name for r in leases.reap(conn)}
            conn.close()

    def test_renewer_thread_outlives_the_ttl(self, team):
        name = unique("lzthr")
        lease = leased_database(team, name, 2)
        renewer = leases.Renewer(team.connect, lease).start()
        try:
            deadline = time.monotonic() + 5
            conn = team.connect()
            while time.monotonic() < deadline:  # 2.5 TTLs: without renewals it would have expired
                assert name not in {r.name for r in leases.reap(conn)}
                time.sleep(0.1)  # sleep-ok: letting TTLs pass while the renewer works
            assert renewer.renewals >= 2 and not renewer.lost.is_set()
            conn.close()
        finally:
            renewer.stop()
            conn = team.connect()
            leases.release(conn, name, lease.token)
            conn.close()
            sql(team, f"DROP DATABASE IF EXISTS `{name}`")


REAPER = """
import json, sys
from provision import leases
from provision.probe import connect
from provision.url import parse
conn = connect(parse(sys.argv[1]))
sys.stdout.write("ready\\n"); sys.stdout.flush()
sys.stdin.readline()  # start together
print(json.dumps([r.to_dict() for r in leases.reap(conn)]))
"""

RENEWER = """
import sys, time
from provision import leases
from provision.probe import connect
from provision.url import parse
conn = connect(parse(sys.argv[1]))
names, token = sys.argv[2].split(","), sys.argv[3]
sys.stdout.write("ready\\n"); sys.stdout.flush()
sys.stdin.readline()
deadline = time.monotonic() + float(sys.argv[4])
ok = True
while time.monotonic() < deadline:
    for name in names:
        ok = leases.renew(conn, name, token) and ok
print("renewed" if ok else "lost")
"""


def test_two_reapers_and_a_renewer_at_once(team, tmp_path):
    """Two reaper processes race over 12 expired leases while a third process renews 4 live ones
    in a tight loop: every expired lease is dropped exactly once, no live one is touched."""
    # (the live leases' 3 s TTL covers the moments between the renewal below and the renewer's start)
    expired = [unique("lzx") for _ in range(12)]
    live = [unique("lzl") for _ in range(4)]
    token = secrets.token_hex(16)
    for name in expired:
        leased_database(team, name, 1)
    for name in live:
        leased_database(team, name, 3, token=token)
    admin = str(team.admin)
    conn = team.connect()
    wait_expired(team, expired[-1])
    procs = [subprocess.Popen([sys.executable, "-c", REAPER, admin], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True) for _ in range(2)]
    procs.append(subprocess.Popen([sys.executable, "-c", RENEWER, admin, ",".join(live), token, "1.5"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
    try:
        for proc in procs:
            assert proc.stdout.readline().strip() == "ready"
        for name in live:  # 3 s more from now; the renewer keeps them live while the reapers run
            assert leases.renew(conn, name, token)
        for proc in procs:  # as close to together as two writes get
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = [proc.communicate(timeout=60)[0] for proc in procs]
        assert all(proc.returncode == 0 for proc in procs)
        first, second = (json.loads(out) for out in outputs[:2])
        names = [r["name"] for r in first + second if r["name"] in expired + live]
        assert sorted(names) == sorted(expired), "each expired lease reaped once, no live one"
        assert outputs[2].strip() == "renewed"
        present = databases(team)
        assert not set(expired) & present and set(live) <= present
    finally:
        for name in live:
            leases.release(conn, name, token)
            sql(team, f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


def test_rows_provision_would_never_write_are_left_alone(team):
    """The registry is read back as untrusted: a hand-edited row naming root or a one-letter prefix
    drops nothing."""
    conn = team.connect()
    leases.ensure_registry(conn)
    rows = [("o_", "run", "[]"), ("lzroot", "database", '[["root", "localhost"]]'), ("mysql", "database", "[]")]
    try:
        with conn.cursor() as cursor:
            for name, kind, users in rows:
                cursor.execute("INSERT INTO provision.leases (name, kind, users, owner, host, pid, purpose, "
                               "ttl_seconds, created, renewed, expires, token) VALUES (%s, %s, %s, 'x', 'x', 1, "
                               "'dev', 1, UTC_TIMESTAMP(), UTC_TIMESTAMP(), UTC_TIMESTAMP() - INTERVAL 1 SECOND, "
                               "'t')", (name, kind, users))
        sql(team, "CREATE DATABASE lzroot")
        before = databases(team)
        assert not {r.name for r in leases.reap(conn)} & {name for name, _, _ in rows}
        assert databases(team) == before and sql(team, "SELECT 1 FROM mysql.user WHERE User = 'root'")
    finally:
        with conn.cursor() as cursor:
            cursor.execute("DELETE FROM provision.leases WHERE name IN ('o_', 'lzroot', 'mysql')")
        sql(team, "DROP DATABASE IF EXISTS lzroot")
        conn.close()
