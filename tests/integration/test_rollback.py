"""The mysql_tx fixture, run the way users run it (a pytester suite on a real throwaway server)."""
from __future__ import annotations

import contextlib

import pytest

from .test_restore import SCHEMA

with contextlib.suppress(ImportError):
    import pymysql  # noqa: F401  (see test_pytest_plugin.py: imported once, outside pytester)

pytest_plugins = ["pytester"]
pytestmark = [pytest.mark.mysql]

SUITE = '''
def rows(conn, sql):
    with conn.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def clean(conn):
    assert rows(conn, "SELECT id, name FROM parents ORDER BY id") == ((1, "a"), (2, "b"))
    assert rows(conn, "SELECT COUNT(*) FROM children") == ((3,),)
    assert rows(conn, "SHOW TABLES LIKE 'extra'") == ()
    assert rows(conn, "SELECT @marker") == ((None,),)  # session state does not leak


def test_01_writes(mysql_tx):
    clean(mysql_tx)
    rows(mysql_tx, "INSERT INTO parents (name) VALUES ('c')")
    rows(mysql_tx, "DELETE FROM children")
    rows(mysql_tx, "SET @marker = 1")


def test_02_rolled_back(mysql_tx):
    clean(mysql_tx)


def test_03_commits(mysql_tx):
    rows(mysql_tx, "INSERT INTO parents (name) VALUES ('committed')")
    mysql_tx.commit()


def test_04_restored(mysql_tx):
    clean(mysql_tx)


def test_05_ddl_commits_implicitly(mysql_tx):
    rows(mysql_tx, "INSERT INTO parents (name) VALUES ('before ddl')")
    rows(mysql_tx, "CREATE TABLE extra (id INT)")


def test_06_restored(mysql_tx):
    clean(mysql_tx)


def test_07_own_rollback_then_commit(mysql_tx):
    mysql_tx.rollback()
    rows(mysql_tx, "INSERT INTO parents (name) VALUES ('after own rollback')")
    mysql_tx.commit()  # not detectable as ours: the database is checked (and restored) instead


def test_08_restored(mysql_tx):
    clean(mysql_tx)


def test_09_closes_the_connection(mysql_tx):
    mysql_tx.close()


def test_10_new_connection(mysql_tx):
    clean(mysql_tx)


def test_11_mixes_with_mysql_db(mysql_db, mysql_tx):
    conn = mysql_db.connect()
    clean(conn)
    conn.close()
    clean(mysql_tx)
'''


def test_rollback_fixture_detects_commits_and_ddl(pytester):
    (pytester.path / "schema.sql").write_text(SCHEMA)
    pytester.makepyfile(test_tx_suite=SUITE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:xdist",
                                           "--mysql-server=native", "--mysql-template=schema.sql")
    result.assert_outcomes(passed=11, errors=2)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_03_commits*",
                                 "*the test committed inside mysql_tx*",
                                 "*ERROR at teardown of test_05_ddl_commits_implicitly*"])
