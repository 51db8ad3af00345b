"""First contact (issue 9): a default port that is already held, by the system's server or by
another project's provision server. A free port stands in for 3306 (PROVISION_DEFAULT_PORT):
the rule that moves a project off a held default port runs for real, on real servers, without
touching the machine's 3306. The real distribution service is tested in test_distro_service.py.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import sys
import time
from pathlib import Path

import pytest

from provision.backends.native import _find_installer
from provision.ports import free_port
from provision.probe import Server, wait_until_ready
from provision.project_port import BASE, SPAN
from provision.url import DatabaseURL

from ..conftest import require
from .helpers import env_url, json_out, query

pytestmark = [pytest.mark.mysql, pytest.mark.native, pytest.mark.slow]


class SystemLikeServer:
    """A MariaDB set up the way Debian's package sets it up (root@localhost on unix_socket only,
    its own option-less command line, not provision's), on a free port standing in for 3306."""

    def __init__(self, binary, root: Path):
        self.port = free_port()
        self.dir = root
        self.socket = root / "mysqld.sock"
        datadir = root / "data"
        installer = _find_installer(binary)
        init = subprocess.run([str(installer), "--no-defaults", f"--datadir={datadir}", "--skip-test-db",
                               f"--basedir={installer.parent.parent}", "--user=root"],
                              capture_output=True, text=True)
        assert init.returncode == 0, init.stdout[-2000:] + init.stderr[-2000:]
        self.process = subprocess.Popen(
            [str(binary.path), "--no-defaults", f"--datadir={datadir}", f"--port={self.port}",
             f"--socket={self.socket}", "--bind-address=127.0.0.1", "--user=root", "--skip-log-bin",
             f"--pid-file={root / 'pid'}", f"--log-error={root / 'log'}", "--innodb-buffer-pool-size=32M"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.admin = Server(admin=DatabaseURL(user="root", host="localhost", port=self.port,
                                              query=(("unix_socket", str(self.socket)),)),
                            host="127.0.0.1", port=self.port, local=True)
        wait_until_ready(self.admin, timeout=60, what="system-like server",
                         alive=lambda: None if self.process.poll() is None else "exited")
        self.sql("CREATE DATABASE keepme; CREATE TABLE keepme.t (v INT); INSERT INTO keepme.t VALUES (42)")

    def sql(self, text: str):
        conn = self.admin.connect(client_flag=1 << 16)  # CLIENT_MULTI_STATEMENTS
        try:
            with conn.cursor() as cursor:
                cursor.execute(text)
                return cursor.fetchall()
        finally:
            conn.close()

    def databases(self) -> set[str]:
        return {row[0] for row in self.sql("SHOW DATABASES")}

    def users(self) -> set[tuple[str, str]]:
        return set(self.sql("SELECT User, Host FROM mysql.user"))

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(60)


@pytest.fixture
def system_server(server_binary, tmp_path_factory):
    require(server_binary.flavor == "mariadb", "the system-like server is MariaDB's (root on unix_socket)")
    server = SystemLikeServer(server_binary, tmp_path_factory.mktemp("system"))
    yield server
    server.stop()


@pytest.fixture
def open_system_server(server_binary):
    """The same, in a folder other users can reach (its socket is for every local user, as
    /run/mysqld is), for the tests that run provision as an unprivileged user."""
    require(server_binary.flavor == "mariadb", "the system-like server is MariaDB's (root on unix_socket)")
    root = Path(tempfile.mkdtemp(prefix="provision-system-like-"))
    root.chmod(0o755)
    server = SystemLikeServer(server_binary, root)
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


def default_port_env(port: int) -> dict:
    return {"PROVISION_DEFAULT_PORT": str(port)}


def destroy(project) -> None:
    project.cli("destroy", "--yes")


class TestSystemServer:
    def test_used_over_its_socket_and_its_other_data_untouched(self, project, system_server):
        before_dbs, before_users = system_server.databases(), system_server.users()
        env = default_port_env(system_server.port)
        try:
            data = json_out(project.cli("up", "--json", env=env))
            assert data["backend"] == "existing" and data["port"] == system_server.port
            assert "socket" in data["reason"] and str(system_server.socket) in data["reason"]
            url = env_url(project.env_file)
            assert url == f"mysql://ohdev:@127.0.0.1:{system_server.port}/ohdevel?charset=utf8mb4"
            user, charset = query(url, "SELECT CURRENT_USER(), @@character_set_database")[0]
            assert user.startswith("ohdev@") and charset == "utf8mb4"
            assert system_server.databases() == before_dbs | {"ohdevel"}
            assert system_server.sql("SELECT v FROM keepme.t") == ((42,),)
            again = project.cli("up", env=env)
            assert "nothing changed" in again.stdout, again.stdout + again.stderr
            doctor = json.loads(project.cli("doctor", "--json", env=env).stdout)
            state = next(f for f in doctor["findings"] if f["check"] == "state")
            assert "the system's server" in state["finding"] and "unix_socket" in state["finding"]
            status = json_out(project.cli("status", "--json", env=env))
            assert status["admin_socket"] == str(system_server.socket) and "socket" in status["why"]
        finally:
            destroy(project)
        # destroy drops what this project made there, and nothing else
        assert system_server.databases() == before_dbs and system_server.users() == before_users
        assert system_server.sql("SELECT v FROM keepme.t") == ((42,),)

    def test_a_second_project_with_the_same_names_gets_its_own_server(self, tmp_path, system_server):
        from ..conftest import Project

        first, second = Project(tmp_path / "one"), Project(tmp_path / "two")
        first.path.mkdir(), second.path.mkdir()
        env = default_port_env(system_server.port)
        try:
            assert json_out(first.cli("up", "--json", env=env))["backend"] == "existing"
            query(env_url(first.env_file), "CREATE TABLE mine (v INT)")
            data = json_out(second.cli("up", "--json", env=env))
            assert data["backend"] == "native" and BASE <= data["port"] < BASE + SPAN
            assert "already has a database ohdevel" in data["reason"]
            second.cli("destroy", "--yes")
            assert query(env_url(first.env_file), "SHOW TABLES") == (("mine",),)
        finally:
            destroy(first), destroy(second)

    def test_use_system_server_false_runs_the_projects_own_server(self, project, system_server):
        before = system_server.databases()
        env = {**default_port_env(system_server.port), "PROVISION_USE_SYSTEM_SERVER": "false"}
        try:
            data = json_out(project.cli("up", "--json", env=env))
            assert data["backend"] == "native" and data["port"] != system_server.port
            assert query(env_url(project.env_file), "SELECT @@character_set_database") == (("utf8mb4",),)
            assert system_server.databases() == before
        finally:
            destroy(project)

    def test_an_explicit_port_is_never_moved(self, project, system_server):
        result = project.cli("up", "--port", str(system_server.port), "--backend", "native")
        assert result.returncode == 3 and "already in use" in result.stderr
        assert not project.env_file.exists()


class TestManyProjects:
    def test_three_projects_one_started_while_another_is_mid_up(self, tmp_path, server_binary):
        """Project A's own server holds the default port; B starts, and C starts while B is still
        initialising; all three end with working URLs on distinct ports, and each destroy leaves
        the others' data alone."""
        from ..conftest import Project

        default = free_port()
        env = default_port_env(default)
        a, b, c = (Project(tmp_path / name) for name in "abc")
        for p in (a, b, c):
            p.path.mkdir()
        try:
            data_a = json_out(a.cli("up", "--json", env=env))
            assert data_a["port"] == default
            procs = {}
            procs["b"] = _spawn_up(b, env)
            _wait_for(lambda: (b.state_dir / "native" / "data.init").exists() or b.env_file.exists())
            mid_up = not b.env_file.exists()
            procs["c"] = _spawn_up(c, env)
            results = {name: proc.communicate(timeout=180) for name, proc in procs.items()}
            for name, proc in procs.items():
                assert proc.returncode == 0, results[name][1]
            assert mid_up, "B had finished before C started; the overlap was not exercised"
            data_b, data_c = (json.loads(results[name][0]) for name in "bc")
            ports = {default, data_b["port"], data_c["port"]}
            assert len(ports) == 3, ports
            for data in (data_b, data_c):
                assert "provision's server of" in data["reason"] and str(a.path) in data["reason"]
            for p, value in ((a, 1), (b, 2), (c, 3)):
                query(env_url(p.env_file), "CREATE TABLE mine (v INT)")
                query(env_url(p.env_file), "INSERT INTO mine VALUES (%s)", (value,))
            status_b = json_out(b.cli("status", "--json", env=env))
            assert status_b["port"] == data_b["port"] and "derived from the project's path" in status_b["why"]
            doctor = json.loads(b.cli("doctor", "--json", env=env).stdout)
            state = next(f for f in doctor["findings"] if f["check"] == "state")
            assert "derived from the project's path" in state["finding"] and str(a.path) in state["finding"]
            # a later run keeps its port even when the default one is free again
            assert a.cli("destroy", "--yes").returncode == 0
            again = json_out(b.cli("up", "--json", env=env))
            assert again["port"] == data_b["port"] and not again["changed"]
            assert query(env_url(c.env_file), "SELECT v FROM mine") == ((3,),)
            assert b.cli("destroy", "--yes").returncode == 0
            assert query(env_url(c.env_file), "SELECT v FROM mine") == ((3,),)
        finally:
            for p in (a, b, c):
                p.cli("destroy", "--yes")


def _spawn_up(project, env: dict) -> subprocess.Popen:
    import os

    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PROVISION_")}
    full_env.update(env)
    return subprocess.Popen([sys.executable, "-m", "provision", "up", "--json"], cwd=project.path, env=full_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)  # sleep-ok: polling a file another process creates


class TestNotRoot:
    """provision run by an unprivileged user (nobody): it has a socket login to the system's
    server only when the server has a unix_socket account for that user; no sudo either way."""

    def test_with_a_socket_account_of_its_own_the_system_server_is_used(self, nobody_project, open_system_server):
        open_system_server.sql("CREATE USER nobody@localhost IDENTIFIED VIA unix_socket; "
                               "GRANT ALL PRIVILEGES ON *.* TO nobody@localhost WITH GRANT OPTION")
        before = open_system_server.databases()
        data = json.loads(nobody_project.run("up", "--json", default_port=open_system_server.port).stdout)
        assert data["backend"] == "existing" and data["port"] == open_system_server.port
        assert "as nobody (unix_socket login)" in data["reason"]
        assert query(env_url(nobody_project.env_file), "SELECT @@character_set_database") == (("utf8mb4",),)
        assert nobody_project.run("destroy", "--yes", default_port=open_system_server.port).returncode == 0
        assert open_system_server.databases() == before

    def test_without_one_the_project_runs_its_own_server_as_that_user(self, nobody_project, open_system_server):
        before = open_system_server.databases()
        try:
            data = json.loads(nobody_project.run("up", "--json", default_port=open_system_server.port).stdout)
            assert data["backend"] == "native" and BASE <= data["port"] < BASE + SPAN
            assert "refuses root with a blank password" in data["reason"]
            assert query(env_url(nobody_project.env_file), "SELECT @@character_set_database") == (("utf8mb4",),)
            pid = int((nobody_project.path / ".devdb" / "native" / "mysqld.pid").read_text())
            assert os.stat(f"/proc/{pid}").st_uid == nobody_project.uid
            assert open_system_server.databases() == before
        finally:
            nobody_project.run("destroy", "--yes", default_port=open_system_server.port)


class NobodyProject:
    """A project folder owned by nobody; the real CLI run as nobody (setpriv) with the system
    Python and this checkout's code and dependencies on PYTHONPATH."""

    def __init__(self, path: Path):
        import pwd

        entry = pwd.getpwnam("nobody")
        self.uid, self.gid = entry.pw_uid, entry.pw_gid
        self.path = path
        self.env_file = path / ".env"
        path.mkdir(mode=0o755)
        os.chown(path, self.uid, self.gid)

    def run(self, *args: str, default_port: int) -> subprocess.CompletedProcess:
        import provision

        code = Path(provision.__file__).resolve().parent.parent
        site = Path(__import__("pymysql").__file__).resolve().parent.parent
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME": str(self.path), "LANG": "C.UTF-8",
               "PYTHONPATH": f"{code}{os.pathsep}{site}", "PROVISION_DEFAULT_PORT": str(default_port),
               "USER": "root"}  # as sudo would leave it: the socket login must follow the real uid
        result = subprocess.run(["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups",
                                 "/usr/bin/python3", "-m", "provision", *args],
                                cwd=self.path, env=env, capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, result.stderr
        return result


@pytest.fixture
def nobody_project(server_binary):
    require(os.geteuid() == 0 and shutil.which("setpriv") is not None and Path("/usr/bin/python3").is_file(),
            "running provision as another user needs root, setpriv and a system python3")
    version = subprocess.run(["/usr/bin/python3", "-c", "import sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True).stdout.strip()
    require(version == str(sys.version_info[:2]), "the system python3 must match this one (compiled dependencies)")
    root = Path(tempfile.mkdtemp(prefix="provision-nobody-"))
    root.chmod(0o755)
    yield NobodyProject(root / "app")
    shutil.rmtree(root, ignore_errors=True)

