"""Tests inside a transaction that is rolled back (the ``mysql_tx`` fixture).

One connection per process to one template copy (or empty database), kept across tests.
Each test runs inside a transaction that is rolled back after it: no copy, no check, no
restore, as Django's ``TestCase`` and Rails' transactional tests do.

A test that commits (``COMMIT``, ``conn.commit()``, or a statement that commits implicitly:
DDL such as ``CREATE TABLE`` or ``ALTER TABLE``) defeats the rollback. That is detected by
the server, not by reading SQL: the transaction begins by inserting a row into a temporary
table of the connection; after the rollback the row is gone unless something committed it.
Then the test gets a clear error and its database goes back to the janitor, which restores
it (provision/testing/restore.py); the next test gets a clean one. Between tests the session is
reset (``COM_RESET_CONNECTION``: temporary tables, variables and the default database go back).
As with Django and Rails: InnoDB does not roll back AUTO_INCREMENT (ids used inside a rolled-back
transaction are not handed out again); tests that assert exact ids use ``mysql_db``.
"""
from __future__ import annotations

from ..errors import ProvisionError

MARK = "_provision_tx_mark"


class CommittedError(ProvisionError):
    exit_code = 1

    @classmethod
    def committed(cls, database: str) -> "CommittedError":
        return cls(f"the test committed inside mysql_tx (COMMIT, conn.commit(), or a statement that commits "
                   f"implicitly such as CREATE/ALTER/DROP TABLE or TRUNCATE): its writes to {database} could not "
                   "be rolled back",
                   "use the mysql_db fixture for tests that commit or change the schema (their database is "
                   "restored after them); the database has been restored for the next test")


class RolledBack:
    """The connection ``mysql_tx`` hands out, one per process (``databases``: the janitor)."""

    def __init__(self, databases):
        self.databases = databases
        self.db = None
        self.conn = None

    def begin(self):
        """The connection, inside a fresh transaction (autocommit off)."""
        if self.conn is None:
            self.db = self.databases.create()
            self.conn = self.db.connect(autocommit=False)
        with self.conn.cursor() as cursor:
            cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {MARK} (x INT) ENGINE=InnoDB")
            cursor.execute(f"INSERT INTO {MARK} VALUES (1)")  # the transaction begins here
        return self.conn

    def end(self) -> None:
        """Roll back; raise CommittedError when the test committed (its database is restored)."""
        try:
            with self.conn.cursor() as cursor:
                cursor.execute(f"SELECT COUNT(*) FROM {MARK}")
                ours = cursor.fetchone()[0]  # 0: the test rolled back our transaction itself
                self.conn.rollback()
                cursor.execute(f"SELECT COUNT(*) FROM {MARK}")
                committed = cursor.fetchone()[0]
            _reset_session(self.conn)
        except Exception as exc:  # the test closed or broke the connection: start over
            if not _is_driver_error(exc):
                raise
            self._renew()
            return
        if committed:
            name = self.db.name
            self._renew()
            raise CommittedError.committed(name)
        if not ours:  # what happened after the test's own rollback is unknown: let the janitor check
            self._renew()

    def _renew(self) -> None:
        """Hand the database back to the janitor (checked, restored) and open a new one next time."""
        conn, db, self.conn, self.db = self.conn, self.db, None, None
        try:
            conn.close()
        except Exception:  # already closed by the test
            pass
        self.databases.release(db)

    def close(self) -> None:
        if self.conn is not None:
            self._renew()


def _is_driver_error(exc: BaseException) -> bool:
    import pymysql

    return isinstance(exc, (pymysql.err.Error, OSError))


def _reset_session(conn) -> None:
    """COM_RESET_CONNECTION (MySQL 5.7+, MariaDB 10.2+): session state back to a new login's,
    without logging in again. PyMySQL has no method for it: its ``_execute_command`` and
    ``_read_ok_packet`` (checked against PyMySQL 2.2.8) send it and read the answer."""
    conn._execute_command(0x1F, b"")  # COM_RESET_CONNECTION
    conn._read_ok_packet()
    conn.autocommit(False)
