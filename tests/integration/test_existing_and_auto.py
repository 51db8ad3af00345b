"""The existing backend (an admin URL) and auto's choices, against real servers."""
from __future__ import annotations

import secrets

import pytest

from provision.backends.native import NativeBackend
from provision.config import load_settings
from provision.ports import free_port
from provision.state import StateDir

from .helpers import env_url, json_out, query

pytestmark = [pytest.mark.mysql]


def admin_url(server) -> str:
    return f"mysql://root:{server.admin.password}@127.0.0.1:{server.port}/"


def unique(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(3)}"


@pytest.fixture
def names(native_server):
    """A database and user of this test's own on the shared server; dropped afterwards."""
    database, user = unique("exdb"), unique("exu")
    yield database, user
    conn = native_server.connect()
    with conn.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")
        for host in ("127.0.0.1", "localhost", "%"):
            cursor.execute("DROP USER IF EXISTS %s@%s", (user, host))
    conn.close()


class TestExisting:
    def test_up_converges_and_down_never_touches_the_server(self, project, native_server, names):
        database, user = names
        args = ["up", "--backend", "existing", "--server-url", admin_url(native_server),
                "--database", database, "--user", user, "--json"]
        data = json_out(project.cli(*args))
        assert data["backend"] == "existing" and data["port"] == native_server.port
        url = env_url(project.env_file)
        assert query(url, "SELECT DATABASE()")[0][0] == database
        assert native_server.admin.password not in project.env_file.read_text()
        assert json_out(project.cli(*args))["changed"] is False

        # without --server-url, later runs keep the recorded server and its admin login
        rerun = project.cli("up", "--database", database, "--user", user)
        assert rerun.returncode == 0 and "already up: nothing changed" in rerun.stdout, rerun.stderr
        down = project.cli("down")
        assert down.returncode == 0 and "left running" in down.stdout
        destroy = project.cli("destroy", "--yes")
        assert destroy.returncode == 0 and "left untouched" in destroy.stdout
        assert query(url, "SELECT 1")[0][0] == 1  # still running, database still there

    def test_other_charset_is_reported_then_fixed_on_request(self, project, native_server, names):
        database, user = names
        conn = native_server.connect()
        with conn.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{database}` CHARACTER SET latin1")
            cursor.execute(f"CREATE TABLE `{database}`.keep (id INT)")
        conn.close()
        args = ["up", "--backend", "existing", "--server-url", admin_url(native_server),
                "--database", database, "--user", user]
        refused = project.cli(*args)
        assert refused.returncode == 4
        assert "latin1" in refused.stderr and "--fix-charset" in refused.stderr
        assert not project.env_file.exists()
        fixed = project.cli(*args, "--fix-charset")
        assert fixed.returncode == 0, fixed.stderr
        assert "changed from latin1 to utf8mb4" in fixed.stdout
        assert query(env_url(project.env_file), "SELECT COUNT(*) FROM keep")[0][0] == 0  # table kept

    def test_collation_override(self, project, native_server, names):
        database, user = names
        data = json_out(project.cli("up", "--backend", "existing", "--server-url", admin_url(native_server),
                                    "--database", database, "--user", user, "--collation", "utf8mb4_bin",
                                    "--json"))
        assert data["proof"]["collation"] == "utf8mb4_bin"

    def test_pymysql_driver_and_custom_key(self, project, native_server, names):
        database, user = names
        result = project.cli("up", "--backend", "existing", "--server-url", admin_url(native_server),
                             "--database", database, "--user", user, "--driver", "pymysql",
                             "--env-key", "SQLALCHEMY_DATABASE_URI")
        assert result.returncode == 0, result.stderr
        url = env_url(project.env_file, "SQLALCHEMY_DATABASE_URI")
        assert url.startswith("mysql+pymysql://")
        assert query(url, "SELECT DATABASE()")[0][0] == database


@pytest.fixture
def seed_like_server(server_binary, tmp_path_factory):
    """A server like the seed's fresh MySQL: root logs in over TCP with a blank password."""
    root = tmp_path_factory.mktemp("seedlike")
    settings = load_settings({"project_dir": root, "port": free_port()}, environ={})
    backend = NativeBackend(settings, StateDir(settings.state_path))
    server = backend.start().server
    conn = server.connect()
    with conn.cursor() as cursor:
        cursor.execute("ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY ''")
    conn.close()
    yield server
    backend.destroy()


class TestAuto:
    def test_answering_server_with_blank_root_is_used(self, project, seed_like_server):
        data = json_out(project.cli("up", "--port", str(seed_like_server.port), "--json"))
        assert data["backend"] == "existing"
        assert "already answers" in data["reason"]
        assert query(env_url(project.env_file), "SELECT CURRENT_USER()")[0][0] == "ohdev@127.0.0.1"
        # the state now names the backend: the next run says so
        again = project.cli("up", "--port", str(seed_like_server.port))
        assert "the last run used it" in again.stdout and "nothing changed" in again.stdout

    def test_answering_server_that_refuses_blank_root(self, project, native_server):
        result = project.cli("up", "--port", str(native_server.port))
        assert result.returncode == 3
        assert "refused root with a blank password" in result.stderr
        assert "--server-url" in result.stderr and "--port" in result.stderr
        assert not project.env_file.exists() and not (project.state_dir / "state.json").exists()


def test_admin_without_grant_option_leaves_no_half_made_user(project, native_server, names):
    database, user = names
    admin, password = unique("lim"), "limited-pw"
    conn = native_server.connect()
    with conn.cursor() as cursor:
        cursor.execute("CREATE USER %s@'127.0.0.1' IDENTIFIED BY %s", (admin, password))
        cursor.execute("GRANT CREATE USER, CREATE, SELECT ON *.* TO %s@'127.0.0.1'", (admin,))
    try:
        result = project.cli("up", "--backend", "existing", "--database", database, "--user", user,
                             "--server-url", f"mysql://{admin}:{password}@127.0.0.1:{native_server.port}/")
        assert result.returncode == 4, result.stderr
        assert "nothing is half-made" in result.stderr and "GRANT OPTION" in result.stderr
        with conn.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM mysql.user WHERE User = %s", (user,))
            assert cursor.fetchone()[0] == 0
        assert not project.env_file.exists()
    finally:
        with conn.cursor() as cursor:
            cursor.execute("DROP USER IF EXISTS %s@'127.0.0.1'", (admin,))
        conn.close()
