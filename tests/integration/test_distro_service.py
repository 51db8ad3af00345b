"""The distribution's own server on the real port 3306, started as its package does
(`service mariadb start`; root logs in over unix_socket only). The one test suite that
touches 3306: it holds /run/lock/provision-port-3306.lock, uses names of its own, and
leaves the service as it found it (stopped again if it started it).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import subprocess

import pytest

from ..conftest import require
from .helpers import env_url, json_out, query

pytestmark = [pytest.mark.mysql, pytest.mark.slow]

SOCKET = "/run/mysqld/mysqld.sock"


def service(action: str) -> subprocess.CompletedProcess:
    return subprocess.run(["service", "mariadb", action], capture_output=True, text=True, timeout=120)


def system_sql(text: str) -> str:
    return subprocess.run(["mariadb", "-N", "-B", "-e", text], capture_output=True, text=True, check=True,
                          timeout=60).stdout


@pytest.fixture
def distro_service():
    require(shutil.which("service") is not None and os.path.exists("/etc/init.d/mariadb"),
            "the distribution's mariadb service (apt-get install mariadb-server) and service(8)")
    require(os.geteuid() == 0, "starting the system service needs root")
    with open("/run/lock/provision-port-3306.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        was_running = service("status").returncode == 0
        if not was_running:
            started = service("start")
            assert started.returncode == 0, started.stdout + started.stderr
        try:
            yield was_running
        finally:
            if not was_running:
                service("stop")
            assert (service("status").returncode == 0) == was_running  # the machine as found


def test_up_on_the_running_distro_server_makes_only_the_apps_names(project, distro_service):
    database, user = f"distro{secrets.token_hex(3)}", f"du{secrets.token_hex(3)}"
    before = system_sql("SHOW DATABASES; SELECT CONCAT(User, '@', Host) FROM mysql.user")
    try:
        data = json_out(project.cli("up", "--database", database, "--user", user, "--json"))
        assert data["backend"] == "existing" and data["port"] == 3306, data
        assert SOCKET in data["reason"] and "unix_socket" in data["reason"]
        url = env_url(project.env_file)
        assert url == f"mysql://{user}:@127.0.0.1:3306/{database}?charset=utf8mb4"
        current, database_charset, connection_charset = query(
            url, "SELECT CURRENT_USER(), @@character_set_database, @@character_set_connection")[0]
        assert current.startswith(f"{user}@") and database_charset == connection_charset == "utf8mb4"
        after = system_sql("SHOW DATABASES; SELECT CONCAT(User, '@', Host) FROM mysql.user")
        added = set(after.split()) - set(before.split())
        assert {database} <= added and all(name == database or name.startswith(f"{user}@") for name in added)
        assert set(before.split()) <= set(after.split())  # nothing of the server's own went away
        doctor = project.cli("doctor", "--json")
        assert doctor.returncode in (0, 1), doctor.stderr
    finally:
        destroyed = project.cli("destroy", "--yes")
        with contextlib.suppress(subprocess.CalledProcessError):  # a failed run must not leave names
            system_sql(f"DROP DATABASE IF EXISTS `{database}`; DROP USER IF EXISTS '{user}'@'localhost', "
                       f"'{user}'@'127.0.0.1'")
    assert destroyed.returncode == 0 and f"dropped database {database}" in destroyed.stdout
    assert system_sql("SHOW DATABASES; SELECT CONCAT(User, '@', Host) FROM mysql.user") == before
