"""reset, snapshots and shell on real servers: what goes in comes back out, and failures leave nothing half-done."""
from __future__ import annotations

import gzip
import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from provision import api
from provision.config import load_settings
from provision.errors import ProvisionError
from provision.probe import connect
from provision.sqldump import split_statements
from provision.url import parse
from provision.project import open_project

pytestmark = pytest.mark.mysql

SCHEMA = [
    "CREATE TABLE client (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(64) NOT NULL, "
    "created DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP, photo BLOB, score DECIMAL(8,3), "
    "name_length INT AS (CHAR_LENGTH(name)) VIRTUAL) DEFAULT CHARSET = utf8mb4",
    "CREATE TABLE assignment (id INT AUTO_INCREMENT PRIMARY KEY, client_id INT, note TEXT, "
    "FOREIGN KEY (client_id) REFERENCES client (id)) DEFAULT CHARSET = utf8mb4",
    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)",
    "INSERT INTO alembic_version VALUES ('3c3c3c3c3c3c')",
    "INSERT INTO client (name, created, photo, score) VALUES "
    "('Ada', '2024-01-02 03:04:05', x'00FF27225C0A3B', 1.5), ('Zoë 😀', '2024-02-03 04:05:06', NULL, NULL), "
    "('it''s; -- not a comment', '2024-03-04 05:06:07', 'x\\\\y\\n;', -2.25)",
    "INSERT INTO assignment (client_id, note) VALUES (1, 'first'), (2, NULL), (3, REPEAT('long ', 1000))",
    "CREATE VIEW client_names AS SELECT name FROM client",
    "CREATE TRIGGER upper_name BEFORE INSERT ON client FOR EACH ROW SET NEW.name = UPPER(NEW.name)",
    # stored routines and an event: ';' and quotes in their bodies
    "CREATE FUNCTION client_label(n VARCHAR(64)) RETURNS VARCHAR(80) DETERMINISTIC RETURN CONCAT('client; \"', n)",
    "CREATE PROCEDURE add_client(IN n VARCHAR(64)) BEGIN INSERT INTO client (name) VALUES (n); SELECT 'a;b'; END",
    "CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' DISABLE "
    "DO DELETE FROM assignment WHERE note = 'x;y'",
]


class App:
    def __init__(self, path: Path, server):
        self.path = path
        self.server = server
        self.name = "wf_" + secrets.token_hex(4)
        path.mkdir(parents=True, exist_ok=True)
        self.settings = load_settings({"project_dir": path, "backend": "existing", "server_url": str(server.admin),
                                       "database": self.name, "user": self.name, "generate_password": True},
                                      environ={})
        api.up(self.settings)
        self.url = str(api.current_url(self.settings))

    def sql(self, *statements: str, admin: bool = False):
        conn = self.server.connect(database=self.name) if admin else connect(parse(self.url), tls=False)
        try:
            with conn.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
                return cursor.fetchall()
        finally:
            conn.close()

    def fingerprint(self) -> dict:
        """Every table's definition and rows, the views and the triggers."""
        conn = self.server.connect(database=self.name)
        try:
            with conn.cursor() as cursor:
                cursor.execute("SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                               "ORDER BY TABLE_NAME", (self.name,))
                objects = cursor.fetchall()
                found = {"objects": objects, "tables": {}}
                for table, kind in objects:
                    if kind != "BASE TABLE":
                        continue
                    cursor.execute(f"SHOW CREATE TABLE `{table}`")
                    create = cursor.fetchone()[1]
                    cursor.execute(f"SELECT * FROM `{table}` ORDER BY 1")
                    found["tables"][table] = (create, cursor.fetchall())
                cursor.execute("SELECT TRIGGER_NAME, ACTION_STATEMENT FROM information_schema.TRIGGERS "
                               "WHERE TRIGGER_SCHEMA = %s", (self.name,))
                found["triggers"] = cursor.fetchall()
                cursor.execute("SELECT ROUTINE_NAME, ROUTINE_TYPE, ROUTINE_DEFINITION FROM information_schema.ROUTINES "
                               "WHERE ROUTINE_SCHEMA = %s ORDER BY 1", (self.name,))
                found["routines"] = cursor.fetchall()
                cursor.execute("SELECT EVENT_NAME, EVENT_DEFINITION, INTERVAL_VALUE, INTERVAL_FIELD, STATUS, STARTS "
                               "FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s ORDER BY 1", (self.name,))
                found["events"] = cursor.fetchall()
                cursor.execute("SELECT name FROM client_names ORDER BY name") if ("client_names", "VIEW") in objects \
                    else None
                found["view_rows"] = cursor.fetchall() if ("client_names", "VIEW") in objects else None
            return found
        finally:
            conn.close()

    def leftovers(self) -> list[str]:
        conn = self.server.connect()
        try:
            with conn.cursor() as cursor:
                cursor.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE %s",
                               (self.name[:40] + "\\_%",))
                return [row[0] for row in cursor.fetchall()]
        finally:
            conn.close()

    def cli(self, *args: str, env: dict | None = None, input: str | None = None) -> subprocess.CompletedProcess:
        full = {k: v for k, v in os.environ.items() if not k.startswith("PROVISION_")}
        full.update(env or {})
        return subprocess.run([sys.executable, "-m", "provision", *args], cwd=self.path, env=full, input=input,
                              capture_output=True, text=True, timeout=120)

    def drop(self):
        conn = self.server.connect()
        try:
            with conn.cursor() as cursor:
                for name in [self.name, *self.leftovers()]:
                    cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
                cursor.execute("SELECT Host FROM mysql.user WHERE User = %s", (self.name,))
                for (host,) in cursor.fetchall():
                    cursor.execute("DROP USER %s@%s", (self.name, host))
        finally:
            conn.close()


@pytest.fixture
def server(matrix_server):
    """The native server, then every image of the matrix (PROVISION_TEST_IMAGES)."""
    return matrix_server


@pytest.fixture
def make_app(tmp_path):
    apps = []

    def make(server) -> App:
        app = App(tmp_path / f"app{len(apps)}", server)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.drop()


def no_tools_path(tmp_path: Path) -> dict:
    """A PATH without mysql/mariadb tools (and without git): a machine that has only Python."""
    empty = tmp_path / "empty-bin"
    empty.mkdir(exist_ok=True)
    return {"PATH": str(empty)}


class TestSnapshots:
    """save, change, restore gives back the same tables, rows, views, triggers, routines and events."""

    def test_round_trip(self, server, make_app):
        app = make_app(server)
        app.sql(*SCHEMA, admin=True)
        before = app.fingerprint()
        saved = api.snapshot_save("master", app.settings)
        assert saved["alembic_revision"] == ["3c3c3c3c3c3c"] and saved["charset"] == "utf8mb4"
        assert set(saved["tables"]) == {"client", "assignment", "alembic_version", "client_names"}
        meta = json.loads((app.settings.state_path / "snapshots" / "master" / "meta.json").read_text())
        assert meta["flavor"] == ("mariadb" if "MariaDB" in meta["server"] else "mysql") and meta["size"] > 0
        # the server's own dump tool where this machine has it (MariaDB's); provision's SQL for MySQL here
        assert ("mariadb-dump" in meta["format"]) == (meta["flavor"] == "mariadb")

        app.sql("INSERT INTO client (name) VALUES ('added later')", "DROP VIEW client_names",
                "DROP TRIGGER upper_name", "DELETE FROM assignment WHERE id = 3", "CREATE TABLE feature (x INT)",
                "UPDATE alembic_version SET version_num = '4d4d4d4d4d4d'", "DROP FUNCTION client_label",
                "DROP EVENT nightly", "CREATE PROCEDURE extra() SELECT 1", admin=True)
        assert app.fingerprint() != before
        restored = api.snapshot_restore("master", app.settings)
        assert restored["tables"] == 3
        assert app.fingerprint() == before
        assert app.leftovers() == []
        # the app still logs in and the trigger works in its new home
        app.sql("INSERT INTO client (name) VALUES ('lower')")
        assert app.sql("SELECT name FROM client WHERE name = 'LOWER'") == (("LOWER",),)
        assert app.sql("SELECT client_label('x')", admin=True) == (('client; "x',),)
        assert [row[0] for row in before["routines"]] == ["add_client", "client_label"]
        assert [row[0] for row in before["events"]] == ["nightly"]

    def test_without_any_dump_or_client_tool(self, native_server, make_app, tmp_path):
        app = make_app(native_server)
        app.sql(*SCHEMA, admin=True)
        before = app.fingerprint()
        saved = app.cli("snapshot", "save", "py", "--json", env=no_tools_path(tmp_path))
        assert saved.returncode == 0, saved.stderr
        assert json.loads(saved.stdout)["format"].startswith("provision")
        app.sql("DROP TABLE assignment", "DELETE FROM client", admin=True)
        restored = app.cli("snapshot", "restore", "py", env=no_tools_path(tmp_path))  # loaded by Python too
        assert restored.returncode == 0, restored.stderr
        assert app.fingerprint() == before
        app.sql("DELETE FROM assignment", admin=True)
        assert api.snapshot_restore("py", app.settings)  # the mariadb client loads provision's SQL as well
        assert app.fingerprint() == before

    def test_a_failed_restore_leaves_the_database_as_it_was(self, native_server, make_app):
        app = make_app(native_server)
        app.sql(*SCHEMA, admin=True)
        api.snapshot_save("broken", app.settings)
        dump = app.settings.state_path / "snapshots" / "broken" / "dump.sql.gz"
        text = gzip.decompress(dump.read_bytes()).decode()
        cut = text.index("INSERT INTO `assignment`")  # fails after some tables are already loaded
        dump.write_bytes(gzip.compress((text[:cut] + "INSERT INTO no_such_table VALUES (1);\n" + text[cut:]).encode()))
        app.sql("INSERT INTO client (name) VALUES ('current')", admin=True)
        current = app.fingerprint()
        with pytest.raises(ProvisionError, match="no_such_table") as failure:
            api.snapshot_restore("broken", app.settings)
        assert "left as it was" in failure.value.hint
        assert app.fingerprint() == current
        assert app.leftovers() == []

    def test_list_and_delete(self, native_server, make_app):
        app = make_app(native_server)
        app.sql(*SCHEMA[:4], admin=True)
        assert app.cli("snapshot", "save", "master").returncode == 0
        listing = app.cli("snapshot", "list")
        header, row = listing.stdout.splitlines()
        assert header.split() == ["NAME", "TAKEN", "SIZE", "TABLES", "SERVER", "ALEMBIC", "GIT"]
        assert row.startswith("master ") and "3c3c3c3c3c3c" in row and "MariaDB" in row
        assert app.cli("snapshot", "delete", "master").returncode == 0
        assert "no snapshots" in app.cli("snapshot", "list").stdout
        missing = app.cli("snapshot", "restore", "master")
        assert missing.returncode != 0 and "no snapshot named master" in missing.stderr
        bad = app.cli("snapshot", "save", "feature/x")
        assert bad.returncode == 2 and "feature-x" in bad.stderr


class TestReset:
    def test_reset_asks_then_leaves_an_empty_utf8mb4_database_the_url_logs_into(self, native_server, make_app):
        app = make_app(native_server)
        app.sql(*SCHEMA, admin=True)
        collation = app.sql("SELECT @@collation_database")[0][0]
        refused = app.cli("reset")  # no terminal, no --yes
        assert refused.returncode == 2 and "--yes" in refused.stderr
        assert len(app.fingerprint()["objects"]) == 4

        result = app.cli("reset", "--yes", "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["dropped_tables"] == 4
        assert app.fingerprint()["objects"] == ()
        env_url = (app.path / ".env").read_text().split("=", 1)[1].strip()
        assert app.sql("SELECT CURRENT_USER(), @@character_set_database, @@collation_database") == \
            ((f"{app.name}@127.0.0.1", "utf8mb4", collation),)
        assert env_url == app.url
        app.sql("CREATE TABLE t (id INT)")  # the grants outlived the drop


class TestShell:
    def test_shell_logs_in_as_the_app_user_and_as_root(self, native_server, make_app):
        app = make_app(native_server)
        result = app.cli("shell", input="SELECT CURRENT_USER(), DATABASE();\n")
        assert result.returncode == 0, result.stderr
        assert f"{app.name}@127.0.0.1\t{app.name}" in result.stdout
        root = app.cli("shell", "--root", input="SELECT CURRENT_USER();\n")
        assert "root@" in root.stdout
        failing = app.cli("shell", input="SELECT * FROM no_such_table;\n")
        assert failing.returncode == 1 and "1146" in failing.stderr
        assert not list(app.settings.state_path.glob(".client-*"))

    def test_the_password_goes_through_a_0600_file_never_argv(self, native_server, make_app):
        app = make_app(native_server)
        project = open_project(app.settings)
        password = parse(app.url).password
        assert password
        with project.client_command("client") as argv:
            assert password not in " ".join(argv)
            option_file = Path(argv[1].split("=", 1)[1])
            assert stat.S_IMODE(option_file.stat().st_mode) == 0o600
            assert password in option_file.read_text()
            out = subprocess.run([*argv, "-N", "-e", "SELECT CURRENT_USER()"], capture_output=True, text=True)
            assert out.stdout.strip() == f"{app.name}@127.0.0.1"
        assert not option_file.exists()


class TestSplitStatements:
    """Dumps are cut into statements the way the mysql client does."""

    def test_quotes_comments_and_delimiters(self):
        text = (
            "-- header; not a statement\n"
            "/*!40101 SET NAMES utf8mb4 */;\n"
            "INSERT INTO t VALUES ('a;b', \"c;\", 'it''s', 'back\\'slash;'), (`x;`);\n"
            "/* a; comment */ SELECT 1;\n"
            "DELIMITER ;;\n"
            "CREATE TRIGGER x BEFORE INSERT ON t FOR EACH ROW BEGIN SET @a = 1; SET @b = 2; END ;;\n"
            "DELIMITER ;\n"
            "SELECT 2 # trailing; comment\n;\n"
            "SELECT 3"
        )
        statements = list(split_statements(text.splitlines(keepends=True)))
        assert statements == [
            "-- header; not a statement\n/*!40101 SET NAMES utf8mb4 */",
            "INSERT INTO t VALUES ('a;b', \"c;\", 'it''s', 'back\\'slash;'), (`x;`)",
            "/* a; comment */ SELECT 1",
            "CREATE TRIGGER x BEFORE INSERT ON t FOR EACH ROW BEGIN SET @a = 1; SET @b = 2; END",
            "SELECT 2 # trailing; comment",
            "SELECT 3",
        ]


class TestMySQLDumpWithGTIDs:
    """MySQL's own mysqldump on a server with GTIDs on: the dump has no SET @@GLOBAL.GTID_PURGED
    (loading that needs SUPER), so a snapshot restores as always."""

    def test_the_local_mysqldump_gets_set_gtid_purged_off(self, container_server, make_app, tmp_path, monkeypatch):
        from ..conftest import MYSQL_IMAGE, image_flavor, require

        require(image_flavor(MYSQL_IMAGE) == "mysql", f"{MYSQL_IMAGE} is not a MySQL image")
        options = ("--gtid-mode=ON", "--enforce-gtid-consistency=ON")
        server = container_server(MYSQL_IMAGE, *options)
        container = container_server.container_id(MYSQL_IMAGE, *options)
        # this host's libc is too old for MySQL 9.7's mysqldump: the real one runs in the container,
        # with the option file provision wrote (the server is on 3306 in there)
        tools = tmp_path / "mysql-tools"
        tools.mkdir()
        shim = tools / "mysqldump"
        shim.write_text(textwrap.dedent(f"""\
            #!/bin/sh
            case "$1" in --defaults-file=*)
                docker cp "${{1#--defaults-file=}}" {container}:/tmp/client.cnf >/dev/null || exit 1
                shift; set -- --defaults-file=/tmp/client.cnf --port=3306 "$@" ;;
            esac
            echo "$@" >>{tools}/argv
            exec docker exec -i {container} mysqldump "$@"
            """))
        shim.chmod(0o755)
        monkeypatch.setenv("PATH", f"{tools}:{os.path.dirname(shutil.which('docker'))}")
        app = make_app(server)
        assert app.sql("SELECT @@gtid_mode", admin=True) == (("ON",),)
        app.sql(*SCHEMA, admin=True)
        before = app.fingerprint()
        saved = api.snapshot_save("gtid", app.settings)
        assert saved["format"].startswith("mysqldump")
        assert "--set-gtid-purged=OFF" in (tools / "argv").read_text()
        dump = gzip.decompress((app.settings.state_path / "snapshots" / "gtid" / "dump.sql.gz").read_bytes()).decode()
        assert "GTID_PURGED" not in dump and "CREATE DEFINER" in dump  # routines and the event are in it
        app.sql("DROP TABLE assignment", "DROP PROCEDURE add_client", admin=True)
        api.snapshot_restore("gtid", app.settings)  # no mysql client on PATH: loaded by provision's splitter
        assert app.fingerprint() == before
