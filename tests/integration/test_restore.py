"""Restoring template copies between tests, run the way users run it (pytester suites on real servers).

Each suite alternates a test that damages its database (rows inserted, updated, deleted,
cascaded, a trigger fired, a failed insert that moves AUTO_INCREMENT, TRUNCATE, DDL) with a
test that compares the database it gets to the template: the server's own SHOW CREATE TABLE
(AUTO_INCREMENT included), CHECKSUM TABLE, the view and trigger definitions, and the ids
the next inserts get.
"""
from __future__ import annotations

import contextlib
import secrets
import textwrap

import pytest

from .test_ephemeral import query

with contextlib.suppress(ImportError):
    import pymysql  # noqa: F401  (see test_pytest_plugin.py: imported once, outside pytester)

pytest_plugins = ["pytester"]
pytestmark = [pytest.mark.mysql]

SCHEMA = """
CREATE TABLE parents (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20) NOT NULL UNIQUE) AUTO_INCREMENT = 10;
CREATE TABLE children (id INT AUTO_INCREMENT PRIMARY KEY, parent_id INT,
                       CONSTRAINT fk_child FOREIGN KEY (parent_id) REFERENCES parents (id) ON DELETE CASCADE);
CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, what VARCHAR(40));
CREATE TABLE prices (id INT AUTO_INCREMENT PRIMARY KEY, amount INT);
CREATE TRIGGER prices_audit AFTER INSERT ON prices FOR EACH ROW
BEGIN
  INSERT INTO audit (what) VALUES (CONCAT('price ', NEW.amount));
END;
CREATE TABLE notes (id INT PRIMARY KEY, body TEXT);
CREATE TABLE counters (id INT AUTO_INCREMENT PRIMARY KEY, n INT);
CREATE VIEW parent_names AS SELECT name FROM parents;
INSERT INTO parents (id, name) VALUES (1, 'a'), (2, 'b');
INSERT INTO children (parent_id) VALUES (1), (1), (2);
INSERT INTO prices (amount) VALUES (5);
"""

SUITE = '''
import pytest
from provision.testing.templates import fingerprint

DAMAGE = {
    "rows": [
        "INSERT INTO parents (name) VALUES ('c')",
        "UPDATE children SET parent_id = 2 WHERE id = 3",
        "DELETE FROM parents WHERE id = 1",  # cascades to children inside InnoDB
        "INSERT INTO prices (amount) VALUES (7)",  # the trigger writes to audit
        "INSERT INTO notes VALUES (1, 'x')",
        "DELETE FROM notes",
        "INSERT INTO counters (n) VALUES (1)",
        "DELETE FROM counters",  # empty again, but AUTO_INCREMENT moved
    ],
    "failed insert": ["INSERT INTO parents (name) VALUES ('a')"],  # duplicate: fails, AUTO_INCREMENT moves
    "truncate": ["SET FOREIGN_KEY_CHECKS = 0", "TRUNCATE TABLE children"],
    "alter": ["ALTER TABLE notes ADD COLUMN extra INT"],
    "new table": ["CREATE TABLE extra (id INT PRIMARY KEY)"],
    "view": ["CREATE OR REPLACE VIEW parent_names AS SELECT name, id FROM parents"],
    "trigger": ["DROP TRIGGER prices_audit"],
    "routine": ["CREATE PROCEDURE noop() BEGIN SELECT 1; END"],
    "event": ["CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY DO DELETE FROM notes"],
}
DDL = {"alter", "new table", "view", "trigger", "routine", "event"}
if TRUNCATE_IS_DDL:  # where a new table id or file shows it (TRUNCATE is DDL to MySQL too)
    DDL.add("truncate")
names = {}


def run(db, statements):
    conn = db.connect()
    try:
        with conn.cursor() as cursor:
            for statement in statements:
                try:
                    cursor.execute(statement)
                except Exception as exc:
                    if "Duplicate" not in str(exc):
                        raise
    finally:
        conn.close()


def check_template_state(db, server, template):
    admin = server.connect()
    try:
        want, got = fingerprint(admin, template), fingerprint(admin, db.name)
    finally:
        admin.close()
    for part in want:
        assert got[part] == want[part], part
    conn = db.connect()
    with conn.cursor() as cursor:
        cursor.execute("INSERT INTO parents (name) VALUES ('next')")
        assert cursor.lastrowid == 10
        cursor.execute("INSERT INTO counters (n) VALUES (1)")
        assert cursor.lastrowid == 1
        cursor.execute("SELECT what FROM audit ORDER BY id")
        assert cursor.fetchall() == (("price 5",),)
    conn.close()


@pytest.mark.parametrize("kind", list(DAMAGE))
@pytest.mark.parametrize("step", ["damage", "check"])
def test_step(mysql_db, mysql_server, mysql_databases, kind, step):
    if step == "damage":
        names[kind] = mysql_db.name
        run(mysql_db, DAMAGE[kind])
    else:
        check_template_state(mysql_db, mysql_server, mysql_databases.template_name)
        if INLINE:  # one copy: the damaged one, restored (or, after DDL, a new copy)
            assert (mysql_db.name != names[kind]) == (kind in DDL)


def test_zz_only_ddl_made_new_copies(mysql_databases):
    stats = mysql_databases.recycler.stats
    assert stats["replaced"] == len(DDL), stats
    if INLINE:
        assert stats["restored"] >= len(DAMAGE) - len(DDL), stats
'''


def run_suite(pytester, server: str, pool: int, truncate_is_ddl: bool = True) -> None:
    (pytester.path / "schema.sql").write_text(SCHEMA)
    # damage, then check, kind after kind
    pytester.makepyfile(test_restore_suite=f"INLINE = {pool == 0}\nTRUNCATE_IS_DDL = {truncate_is_ddl}\n" + SUITE)
    pytester.makeconftest(textwrap.dedent("""
        def pytest_collection_modifyitems(items):
            steps = [i for i in items if "test_step" in i.name]
            order = {"rows": 0, "failed insert": 1, "truncate": 2, "alter": 3, "new table": 4, "view": 5, "trigger": 6,
                     "routine": 7, "event": 8}
            steps.sort(key=lambda i: (order[i.callspec.params["kind"]], i.callspec.params["step"] != "damage"))
            items[:] = steps + [i for i in items if "test_step" not in i.name]
    """))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:xdist",
                                           f"--mysql-server={server}", "--mysql-template=schema.sql",
                                           f"--mysql-pool={pool}")
    result.assert_outcomes(passed=2 * 9 + 1)


class TestRestore:
    """A test sees exactly the template's state whatever the test before it did to its copy."""

    @pytest.mark.parametrize("pool", [0, 2])
    def test_throwaway_server_performance_schema(self, pytester, pool):
        run_suite(pytester, "native", pool)

    def test_server_without_performance_schema_checksums(self, pytester, native_server):
        assert query(native_server, "SELECT @@performance_schema")[0][0] == 0  # the checksum path
        run_suite(pytester, str(native_server.admin), 0)

    def test_mysql_information_schema_fingerprint(self, pytester, mysql97):
        run_suite(pytester, str(mysql97.admin), 0)

    def test_mysql_login_without_performance_schema_or_process(self, pytester, mysql97):
        """A dev server's kind of login: checksums, information_schema (AUTO_INCREMENT uncached)."""
        from dataclasses import replace

        user, password = f"restore_{secrets.token_hex(3)}", secrets.token_urlsafe(12)
        query(mysql97, "CREATE USER %s@'%%' IDENTIFIED BY %s", (user, password))
        trusted = query(mysql97, "SELECT @@log_bin_trust_function_creators")[0][0]
        # binary logging is on in this container: a trigger by a non-SUPER user needs this
        # (provision's own docker dev servers run with --skip-log-bin)
        query(mysql97, "SET GLOBAL log_bin_trust_function_creators = 1")
        try:
            query(mysql97, f"GRANT ALL ON `provision\\_%`.* TO `{user}`@'%'")
            url = replace(mysql97.admin, user=user, password=password)
            run_suite(pytester, str(url), 0, truncate_is_ddl=False)
        finally:
            query(mysql97, "DROP USER %s@'%%'", (user,))
            query(mysql97, "SET GLOBAL log_bin_trust_function_creators = %s", (trusted,))


def test_a_database_the_janitor_did_not_copy_is_dropped_on_release(native_server, tmp_path):
    """release() of a name the recycler does not own (made by hand) drops it, as without restore."""
    from provision.testing.databases import Databases
    from provision.testing.servers import EphemeralServer

    (tmp_path / "schema.sql").write_text(SCHEMA)
    with Databases(EphemeralServer(kind="url", server=native_server), template=str(tmp_path / "schema.sql"),
                   pool=0) as databases:
        assert databases.recycler is not None
        name = databases.new_name()
        query(native_server, f"CREATE DATABASE `{name}`")
        databases.release(name)
        assert query(native_server, "SHOW DATABASES LIKE %s", (name,)) == ()
