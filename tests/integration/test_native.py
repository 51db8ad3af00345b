"""The native backend end to end through the real CLI: make dev-db's path on a fresh machine."""
from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys

import pymysql
import pytest

from provision.url import parse

from .helpers import env_url, json_out, login, query

pytestmark = [pytest.mark.mysql, pytest.mark.native]


@pytest.fixture
def up_project(project, server_binary):
    """A project (with a .gitignore) whose native server is up; destroyed afterwards."""
    (project.path / ".gitignore").write_text("*.pyc")
    result = project.cli(*project.up_args("--json"))
    data = json_out(result)
    yield project, data
    project.cli("destroy", "--yes")


class TestFirstUp:
    """A fresh project: server initialised, database, user, grants, .env, all proven."""

    def test_result_and_env(self, up_project):
        project, data = up_project
        assert data["backend"] == "native" and "found" in data["reason"]
        assert data["server_action"] == "initialized"
        assert data["database"] == "ohdevel" and data["user"] == "ohdev"
        assert data["env_action"] == "created"
        url = env_url(project.env_file)
        assert url == f"mysql://ohdev:@127.0.0.1:{project.port}/ohdevel?charset=utf8mb4"
        assert data["url"] == url
        assert any(change.startswith("database ohdevel: created (utf8mb4") for change in data["changes"])
        assert (project.path / ".gitignore").read_text() == "*.pyc\n.devdb/\n"

    def test_the_newest_collation_of_this_server(self, up_project):
        """The README's promise: UCA 14.0 on MariaDB 10.10+ (Debian's 10.11 here), UCA 9.0 on MySQL 8+."""
        project, data = up_project
        version, = query(env_url(project.env_file), "SELECT VERSION()")[0]
        numbers = tuple(int(part) for part in version.split("-")[0].split(".")[:2])
        promised = "utf8mb4_0900_ai_ci" if "mariadb" not in version.lower() else (
            "utf8mb4_uca1400_ai_ci" if numbers >= (10, 10) else "utf8mb4_unicode_520_ci")
        assert data["proof"]["collation"] == promised
        assert query(env_url(project.env_file), "SELECT @@collation_database")[0][0] == promised

    def test_url_logs_in_with_utf8mb4_and_least_privilege(self, up_project):
        project, _ = up_project
        url = env_url(project.env_file)
        assert query(url, "SELECT CURRENT_USER(), @@character_set_database")[0] == ("ohdev@127.0.0.1", "utf8mb4")
        query(url, "CREATE TABLE t (id INT PRIMARY KEY)")
        query(url, "CREATE DATABASE ohdevel_test1")
        query(url, "CREATE TABLE ohdevel_test1.t (id INT)")
        query(url, "DROP DATABASE ohdevel_test1")
        for refused in ("CREATE DATABASE other", "CREATE DATABASE ohdevelx", "CREATE TABLE mysql.t (i INT)"):
            with pytest.raises(pymysql.err.OperationalError) as info:
                query(url, refused)
            assert info.value.args[0] in (1044, 1142), refused
        grants = [row[0] for row in query(url, "SHOW GRANTS")]
        assert grants[0].startswith("GRANT USAGE ON *.*"), grants  # nothing global
        # a socket client (the mysql CLI's default) is 'localhost' to the server: that account works too
        socket_path = json_out(project.cli("status", "--json"))["socket"]
        conn = pymysql.connect(unix_socket=socket_path, user="ohdev", password="", database="ohdevel")
        with conn.cursor() as cursor:
            cursor.execute("SELECT CURRENT_USER()")
            assert cursor.fetchone()[0] == "ohdev@localhost"
        conn.close()

    def test_server_is_ours_and_local_only(self, up_project):
        project, _ = up_project
        status = json_out(project.cli("status", "--json"))
        assert status["state"] == "running" and status["env_matches"] is True
        cnf = (project.state_dir / "native" / "my.cnf").read_text()
        assert "bind-address=127.0.0.1" in cnf
        cmdline = open(f"/proc/{status['pid']}/cmdline", "rb").read().split(b"\0")
        assert cmdline[1] == f"--defaults-file={project.state_dir / 'native' / 'my.cnf'}".encode()
        listening = subprocess.run(["ss", "-ltnp"], capture_output=True, text=True).stdout
        ours = [line for line in listening.splitlines() if f"pid={status['pid']}," in line]
        assert ours and all("127.0.0.1:" in line for line in ours), ours
        secrets = project.state_dir / "secrets.json"
        assert stat.S_IMODE(os.stat(secrets).st_mode) == 0o600

    def test_second_up_changes_nothing(self, up_project):
        project, _ = up_project
        before = project.env_file.read_bytes(), os.stat(project.env_file).st_mtime_ns
        result = project.cli(*project.up_args())
        assert result.returncode == 0, result.stderr
        assert "already up: nothing changed" in result.stdout
        assert "the last run used it" in result.stdout
        assert (project.env_file.read_bytes(), os.stat(project.env_file).st_mtime_ns) == before
        assert (project.path / ".gitignore").read_text() == "*.pyc\n.devdb/\n"  # added once


    def test_later_runs_without_port_keep_the_projects_port(self, up_project):
        project, _ = up_project
        url = env_url(project.env_file)
        result = project.cli("up")  # no --port: the recorded one wins over the default 3306
        assert result.returncode == 0, result.stderr
        assert "already up: nothing changed" in result.stdout
        assert env_url(project.env_file) == url
        moved = project.cli("up", "--port", str(project.port + 1))
        assert moved.returncode == 3 and f"runs on port {project.port}" in moved.stderr


class TestLifecycle:
    """down keeps data, up restarts it, a SIGKILL is recovered from, destroy removes everything."""

    def test_down_up_kill_destroy(self, up_project):
        project, _ = up_project
        url = env_url(project.env_file)
        query(url, "CREATE TABLE kept (id INT PRIMARY KEY)")
        query(url, "INSERT INTO kept VALUES (1), (2)")

        down = project.cli("down")
        assert down.returncode == 0 and "stopped" in down.stdout
        with pytest.raises(pymysql.err.OperationalError):
            login(url)
        again = json_out(project.cli(*project.up_args("--json")))
        assert again["server_action"] == "started" and again["changes"] == []
        assert query(url, "SELECT COUNT(*) FROM kept")[0][0] == 2

        pid = json_out(project.cli("status", "--json"))["pid"]
        os.kill(pid, signal.SIGKILL)
        recovered = json_out(project.cli(*project.up_args("--json")))
        assert recovered["server_action"] == "recovered after a crash"
        assert query(url, "SELECT COUNT(*) FROM kept")[0][0] == 2

        destroyed = project.cli("destroy", "--yes")
        assert destroyed.returncode == 0, destroyed.stderr
        assert not (project.state_dir / "native").exists()
        assert project.env_file.exists()  # .env is the user's file: left alone
        with pytest.raises(pymysql.err.OperationalError):
            login(url)

    def test_destroy_without_yes_refuses_when_not_a_tty(self, up_project):
        project, _ = up_project
        result = project.cli("destroy")
        assert result.returncode == 2 and "--yes" in result.stderr
        assert (project.state_dir / "native" / "data").is_dir()


class TestPasswords:
    def test_generated_password_is_kept_secret_and_works(self, project, server_binary):
        result = project.cli(*project.up_args("--generate-password"))
        try:
            assert result.returncode == 0, result.stderr
            url = env_url(project.env_file)
            login(url).close()
            password = parse(url).password
            assert len(password) >= 20
            assert password not in result.stdout + result.stderr
            assert stat.S_IMODE(os.stat(project.env_file).st_mode) == 0o600
            # later runs keep the generated password: no change, no flip back to empty
            again = project.cli(*project.up_args())
            assert "already up: nothing changed" in again.stdout, again.stdout + again.stderr
            assert env_url(project.env_file) == url
            exported = project.cli("url", "--export")
            assert exported.stdout.strip() == f"export DATABASE_URL='{url}'"
        finally:
            project.cli("destroy", "--yes")

    def test_password_drift_is_converged(self, project, server_binary):
        first = project.cli(*project.up_args("--password", "first-pass"))
        try:
            assert first.returncode == 0, first.stderr
            admin = project.settings()
            from provision.backends.native import NativeBackend
            from provision.state import StateDir

            conn = NativeBackend(admin, StateDir(admin.state_path)).server().connect()
            with conn.cursor() as cursor:
                cursor.execute("ALTER USER 'ohdev'@'127.0.0.1' IDENTIFIED BY 'drifted'")
            conn.close()
            with pytest.raises(pymysql.err.OperationalError):
                login(env_url(project.env_file))
            again = json_out(project.cli(*project.up_args("--json")))
            assert any("password reset" in change for change in again["changes"]), again["changes"]
            login(env_url(project.env_file)).close()
        finally:
            project.cli("destroy", "--yes")


class TestConcurrency:
    def test_two_simultaneous_ups_serialize_and_agree(self, project, server_binary):
        command = [sys.executable, "-m", "provision", *project.up_args("--json")]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROVISION_")}
        procs = [subprocess.Popen(command, cwd=project.path, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
        try:
            outputs = [proc.communicate(timeout=120) for proc in procs]
            assert all(proc.returncode == 0 for proc in procs), outputs
            import json

            actions = sorted(json.loads(out)["server_action"] for out, _ in outputs)
            assert actions == ["already running", "initialized"]
            assert len({json.loads(out)["url"] for out, _ in outputs}) == 1
        finally:
            project.cli("destroy", "--yes")


def test_long_project_path_puts_the_socket_in_a_private_temp_dir(tmp_path, server_binary):
    from provision.ports import free_port

    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVISION_")}
    run = lambda *args: subprocess.run([sys.executable, "-m", "provision", *args], cwd=deep, env=env,  # noqa: E731
                                       capture_output=True, text=True, timeout=120)
    try:
        result = run("up", "--port", str(port), "--json")
        assert result.returncode == 0, result.stderr
        status = json_out(run("status", "--json"))
        assert len(status["socket"]) <= 100 and not status["socket"].startswith(str(deep))
        assert stat.S_IMODE(os.stat(os.path.dirname(status["socket"])).st_mode) == 0o700
    finally:
        run("destroy", "--yes")
