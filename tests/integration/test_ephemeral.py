"""Ephemeral servers, databases and templates on real servers (no mocks)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from provision.processes import alive as process_alive
from provision.testing.databases import Databases, EphemeralServer, Tls, database_name, ephemeral_database, host_tag
from provision.testing.reaper import base_dir, read_record, sweep_servers
from provision.testing.servers import ephemeral_server
from provision.testing.templates import MARKER, as_template

from ..conftest import require

pytestmark = [pytest.mark.mysql]

SCHEMA = """
CREATE TABLE users (id INT PRIMARY KEY AUTO_INCREMENT, email VARCHAR(190) NOT NULL UNIQUE, name VARCHAR(100),
                    label VARCHAR(300) AS (CONCAT(name, ' <', email, '>')) VIRTUAL);
CREATE TABLE posts (id INT PRIMARY KEY AUTO_INCREMENT, user_id INT NOT NULL, title VARCHAR(200) DEFAULT '100%',
                    CONSTRAINT fk_posts_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE);
CREATE TABLE audit (id INT PRIMARY KEY AUTO_INCREMENT, what VARCHAR(100));
CREATE VIEW z_user_posts AS SELECT u.email, p.title FROM users u JOIN posts p ON p.user_id = u.id;
CREATE VIEW a_post_count AS SELECT email, COUNT(*) AS n FROM z_user_posts GROUP BY email;
CREATE TRIGGER trg_posts AFTER INSERT ON posts FOR EACH ROW
BEGIN
  INSERT INTO audit (what) VALUES (CONCAT('post ', NEW.id));
END;
CREATE PROCEDURE add_user(IN e VARCHAR(190)) BEGIN INSERT INTO users (email, name) VALUES (e, 'x'); END;
CREATE FUNCTION post_count(e VARCHAR(190)) RETURNS INT READS SQL DATA
  RETURN (SELECT COUNT(*) FROM posts p JOIN users u ON u.id = p.user_id WHERE u.email = e);
CREATE EVENT purge_audit ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' DISABLE
  DO DELETE FROM audit WHERE what = 'x;y';
INSERT INTO users (email, name) VALUES ('a@example.org', 'A'), ('b@example.org', 'B');
INSERT INTO posts (user_id, title) VALUES (1, 'hello');
"""


def query(db_or_server, sql: str, params=None):
    conn = db_or_server.connect()
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    finally:
        conn.close()


def databases_on(server, pattern: str = "provision%") -> set[str]:
    return {row[0] for row in query(server, "SHOW DATABASES LIKE %s", (pattern,))}


def wait_for(condition, timeout: float, what: str):
    """Poll a real condition (a process, a container) until it holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {timeout} s")
        time.sleep(0.05)  # sleep-ok: polling a real process/container state


def _owner_process(kind: str, image: str = "") -> tuple[subprocess.Popen, dict]:
    """A separate process that starts an ephemeral server and waits; returns it and the server's record."""
    code = textwrap.dedent(f"""
        import sys
        from provision.testing.servers import start
        server = start({kind!r}, image={image!r} or None)
        print(server.directory, flush=True)
        sys.stdin.read()
    """)
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = child.stdout.readline().strip()
    assert line, "the owner process did not start a server"
    return child, read_record(Path(line)) | {"directory": line}


@pytest.fixture
def url_server(matrix_server):
    """The session's shared MariaDB, used as a server given by admin URL."""
    return EphemeralServer(kind="url", server=matrix_server)


class TestNativeServer:
    """A throwaway native server: local, durability off, gone after the block or its owner."""

    pytestmark = [pytest.mark.native]

    def test_local_relaxed_and_removed(self, server_binary):
        with ephemeral_server("native") as server:
            directory = server.directory
            pid = read_record(directory)["server_pid"]
            assert server.server.host == "127.0.0.1" and server.server.local
            assert directory.parent == base_dir()
            row = query(server, "SELECT @@bind_address, @@innodb_flush_log_at_trx_commit, @@log_bin")[0]
            assert row == ("127.0.0.1", 0, 0)
        assert not directory.exists()
        assert not process_alive(pid)

    def test_killed_owner_server_is_removed_by_the_watchdog(self, server_binary):
        owner, record = _owner_process("native")
        pid = record["server_pid"]
        assert process_alive(pid)
        owner.send_signal(signal.SIGKILL)
        owner.wait()
        wait_for(lambda: not process_alive(pid), 5, "the server outlived its killed owner")
        wait_for(lambda: not Path(record["directory"]).exists(), 5, "the run directory was left")

    def test_sweep_reaps_what_a_killed_watchdog_left(self, server_binary):
        owner, record = _owner_process("native")
        os.kill(record["watchdog_pid"], signal.SIGKILL)
        owner.send_signal(signal.SIGKILL)
        owner.wait()
        assert process_alive(record["server_pid"])  # nobody watched it
        assert any(record["directory"] in line for line in sweep_servers())
        assert not process_alive(record["server_pid"])
        assert not Path(record["directory"]).exists()


class TestReap:
    """A start interrupted before the server pid was recorded is still cleaned up, and only ours."""

    def test_unrecorded_server_found_by_its_command_line(self):
        from provision.testing.reaper import run_dir, write_record

        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        directory = run_dir(f"test{os.getpid()}")
        directory.mkdir()
        write_record(directory, {"kind": "native", "host": os.uname().nodename, "owner_pid": dead.pid})
        blocker = [sys.executable, "-c", "import sys; sys.stdin.read()"]
        ours = subprocess.Popen([*blocker, f"--defaults-file={directory}/state/native/my.cnf"],
                                stdin=subprocess.PIPE)
        neighbour = subprocess.Popen([*blocker, f"--defaults-file={directory}x/state/native/my.cnf"],
                                     stdin=subprocess.PIPE)
        try:
            swept = sweep_servers()
            assert any(str(ours.pid) in line for line in swept)
            assert not process_alive(ours.pid)  # killed (and collected: it was a child of this process)
            assert neighbour.poll() is None  # a directory whose name merely starts like ours
            assert not directory.exists()
        finally:
            neighbour.kill()
            neighbour.wait()
            ours.kill()
            ours.wait()


class TestDatabases:
    """Fresh, isolated databases; dropped after use; a sweep touches only orphans of ours."""

    def test_fresh_database_is_dropped_after(self, url_server):
        with ephemeral_database(url_server) as db:
            assert db.name.startswith(f"provision_t_{host_tag()}_")
            query(db, "CREATE TABLE t (id INT)")
            assert query(db, "SELECT DATABASE()")[0][0] == db.name
            assert db.name in databases_on(url_server)
        assert db.name not in databases_on(url_server)

    def test_databases_cannot_see_each_other(self, url_server):
        with Databases(url_server) as databases:
            first, second = databases.create(), databases.create()
            query(first, "CREATE TABLE only_first (id INT)")
            assert query(second, "SHOW TABLES") == ()
            assert query(first, "SHOW TABLES") == (("only_first",),)
            made = {first.name, second.name}
        assert not made & databases_on(url_server)

    def test_sweep_drops_only_our_dead_owners(self, url_server):
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        names = {
            "dead": database_name(pid=dead.pid),
            "alive": database_name(pid=os.getppid()),
            "other_host": database_name(pid=dead.pid, host="0000" if host_tag() != "0000" else "ffff"),
            "not_ours": "provision_keep_me",
            "other_prefix": database_name("someone", pid=dead.pid),
        }
        for name in names.values():
            query(url_server, f"CREATE DATABASE `{name}`")
        try:
            with Databases(url_server) as databases:
                assert databases.sweep() == []  # open() already swept
            left = databases_on(url_server, "%")
            assert names["dead"] not in left
            assert {names[k] for k in ("alive", "other_host", "not_ours", "other_prefix")} <= left
        finally:
            for name in names.values():
                query(url_server, f"DROP DATABASE IF EXISTS `{name}`")

    def test_pool_makes_ahead_and_cleans_up(self, url_server):
        with Databases(url_server, pool=2) as databases:
            dbs = [databases.create() for _ in range(3)]
            assert len({db.name for db in dbs}) == 3
            for db in dbs:
                assert query(db, "SELECT DATABASE()")[0][0] == db.name
                databases.release(db)
        assert not databases_on(url_server, "provision\\_t\\_%")

    def test_local_servers_skip_tls(self):
        assert Tls(True).options() == {"ssl_disabled": True}
        assert Tls(False).options() == {}


class TestTemplates:
    """Build once, key by content, copy faithfully, rebuild on change."""

    def test_sql_template_copy_behaves_like_the_template(self, url_server, tmp_path):
        schema = tmp_path / "schema.sql"
        schema.write_text(SCHEMA)
        with Databases(url_server, template=schema) as databases:
            db = databases.create()
            assert query(db, "SELECT email, n FROM a_post_count") == (("a@example.org", 1),)
            conn = db.connect()
            with conn.cursor() as cursor:
                cursor.execute("CALL add_user('c@example.org')")
                cursor.execute("INSERT INTO posts (user_id, title) VALUES (3, 't')")
                cursor.execute("SELECT what FROM audit ORDER BY id")
                assert cursor.fetchall() == (("post 1",), ("post 2",))
                cursor.execute("SELECT label, (SELECT title FROM posts WHERE id = 2) FROM users WHERE id = 3")
                assert cursor.fetchone() == ("x <c@example.org>", "t")
                cursor.execute("SHOW CREATE VIEW z_user_posts")
                assert databases.template_name not in cursor.fetchone()[1]
                cursor.execute("SELECT post_count('a@example.org')")  # the stored function came along
                assert cursor.fetchone() == (1,)
                cursor.execute("SELECT EVENT_NAME, STATUS, INTERVAL_VALUE, INTERVAL_FIELD, EVENT_DEFINITION "
                               "FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE()")
                (name, status, every, unit, body), = cursor.fetchall()
                assert (name, status, every, unit) == ("purge_audit", "DISABLED", "1", "DAY")
                assert body.rstrip(";") == "DELETE FROM audit WHERE what = 'x;y'"  # MySQL keeps the ';'

            conn.close()
            assert query(db, "SHOW TABLES LIKE %s", (MARKER,)) == ()
            other = databases.create()
            assert query(other, "SELECT COUNT(*) FROM users")[0][0] == 2  # untouched by the first copy

    def test_kept_across_sessions_and_rebuilt_on_change(self, url_server, tmp_path):
        schema = tmp_path / "schema.sql"
        schema.write_text("CREATE TABLE a (id INT);\n")
        with Databases(url_server, template=schema) as databases:
            first = databases.template_name
        built = query(url_server, f"SELECT built_at FROM `{first}`.`{MARKER}`")
        with Databases(url_server, template=schema) as databases:
            assert databases.template_name == first
        assert query(url_server, f"SELECT built_at FROM `{first}`.`{MARKER}`") == built  # reused, not rebuilt
        schema.write_text("CREATE TABLE a (id INT);\nCREATE TABLE b (id INT);\n")
        try:
            with Databases(url_server, template=schema) as databases:
                second = databases.template_name
                assert second != first
                assert query(databases.create(), "SHOW TABLES") == (("a",), ("b",))
            left = databases_on(url_server, "provision\\_tpl\\_%")
            assert second in left and first not in left  # the outdated key was dropped
        finally:
            query(url_server, f"DROP DATABASE IF EXISTS `{first}`")
            query(url_server, f"DROP DATABASE IF EXISTS `{second}`")

    def test_interrupted_build_is_redone(self, url_server, tmp_path):
        schema = tmp_path / "schema.sql"
        schema.write_text("CREATE TABLE good (id INT);\n")
        template = as_template(schema)
        conn = url_server.connect()
        version = query(url_server, "SELECT VERSION()")[0][0]
        name = template.database_name("provision", version)
        query(url_server, f"CREATE DATABASE `{name}`")
        query(url_server, f"CREATE TABLE `{name}`.half_built (id INT)")  # no marker: a crashed build
        conn.close()
        try:
            with Databases(url_server, template=template) as databases:
                assert query(databases.create(), "SHOW TABLES") == (("good",),)
        finally:
            query(url_server, f"DROP DATABASE IF EXISTS `{name}`")

    def test_alembic_template_and_callable(self, url_server, tmp_path):
        require(_has("alembic") and _has("sqlalchemy"), "alembic and SQLAlchemy are not installed")
        ini = write_alembic_project(tmp_path)
        with Databases(url_server, template=ini) as databases:
            tables = {row[0] for row in query(databases.create(), "SHOW TABLES")}
            assert tables == {"alembic_version", "accounts", "notes"}
            name = databases.template_name
        query(url_server, f"DROP DATABASE `{name}`")

        def setup(db):
            query(db, "CREATE TABLE from_callable (id INT)")

        with Databases(url_server, template=setup) as databases:
            assert query(databases.create(), "SHOW TABLES") == (("from_callable",),)
            name = databases.template_name
        query(url_server, f"DROP DATABASE `{name}`")


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def write_alembic_project(root: Path) -> Path:
    """A two-migration Alembic project whose env.py reads DATABASE_URL, like many apps."""
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True)
    (root / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/migrations\n")
    (root / "migrations" / "env.py").write_text(textwrap.dedent("""
        import os
        from alembic import context
        from sqlalchemy import create_engine
        engine = create_engine(os.environ["DATABASE_URL"])
        with engine.connect() as connection:
            context.configure(connection=connection)
            with context.begin_transaction():
                context.run_migrations()
    """))
    (versions / "0001_accounts.py").write_text(textwrap.dedent("""
        from alembic import op
        import sqlalchemy as sa
        revision, down_revision = "0001", None
        def upgrade():
            op.create_table("accounts", sa.Column("id", sa.Integer, primary_key=True),
                            sa.Column("email", sa.String(100), nullable=False))
    """))
    (versions / "0002_notes.py").write_text(textwrap.dedent("""
        from alembic import op
        import sqlalchemy as sa
        revision, down_revision = "0002", "0001"
        def upgrade():
            op.create_table("notes", sa.Column("id", sa.Integer, primary_key=True),
                            sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id")))
    """))
    return root / "alembic.ini"


# --- docker ----------------------------------------------------------------------------------
def _docker_ready(image: str) -> None:
    from provision.testing.choose import docker_available

    ok, why = docker_available()
    require(ok, f"docker: {why}")
    import docker

    client = docker.from_env()
    try:
        client.images.get(image)
    except Exception:
        require(False, f"image {image} is missing (bash docker/build-image.sh)")
    finally:
        client.close()


def _container(container_id: str):
    import docker

    client = docker.from_env()
    try:
        return client.containers.get(container_id)
    except docker.errors.NotFound:
        return None
    finally:
        client.close()


@pytest.fixture(scope="module")
def docker_server():
    from provision.testing.servers import default_image

    image = default_image("mysql")
    _docker_ready(image)
    with ephemeral_server("docker", image) as server:
        yield server


class TestDockerServer:
    """testcontainers under our label and watchdog; published on 127.0.0.1 only."""

    pytestmark = [pytest.mark.docker, pytest.mark.slow]

    def test_labelled_local_and_usable(self, docker_server):
        container = _container(docker_server.details["container"])
        from provision.testing.reaper import LABEL, RUN_DIR_LABEL

        assert container.labels[LABEL] == "true" and container.labels[RUN_DIR_LABEL]
        bindings = container.attrs["HostConfig"]["PortBindings"]["3306/tcp"]
        assert [b["HostIp"] for b in bindings] == ["127.0.0.1"]
        with ephemeral_database(docker_server) as db:
            assert query(db, "SELECT DATABASE()")[0][0] == db.name

    def test_template_copy_on_mysql(self, docker_server, tmp_path):
        schema = tmp_path / "schema.sql"
        schema.write_text(SCHEMA)
        with Databases(docker_server, template=schema) as databases:  # the copy is proven on open
            db = databases.create()
            assert query(db, "SELECT email, n FROM a_post_count") == (("a@example.org", 1),)
            query(db, "INSERT INTO posts (user_id, title) VALUES (2, 'x')")
            assert query(db, "SELECT what FROM audit ORDER BY id") == (("post 1",), ("post 2",))

    def test_tls_server_keeps_tls_with_one_context(self, docker_server):
        """A server not known to be local negotiates TLS, and later connects reuse the SSL context."""
        remote = EphemeralServer(kind="url", server=docker_server.server.__class__(
            admin=docker_server.server.admin, host="127.0.0.1", port=docker_server.server.port, local=False))
        with Databases(remote) as databases:
            db = databases.create()
            first, second = db.connect(), db.connect()
            with first.cursor() as cursor:
                cursor.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
                assert cursor.fetchone()[1], "the connection did not use TLS"
            assert first.ctx is second.ctx is databases.tls.options()["ssl"]
            first.close()
            second.close()

    def test_killed_owner_container_is_removed(self):
        from provision.testing.servers import default_image

        image = default_image("mariadb")
        _docker_ready(image)
        owner, record = _owner_process("docker", image)
        assert _container(record["container"]) is not None
        owner.send_signal(signal.SIGKILL)
        owner.wait()
        wait_for(lambda: _container(record["container"]) is None, 20, "the container outlived its killed owner")
