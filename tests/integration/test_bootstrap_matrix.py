"""Bootstrap on every server of the matrix (native, then each PROVISION_TEST_IMAGES image).

The collation rule (provision/collations.py): a new database gets the newest utf8mb4
collation the server has. The README promises UCA 14.0 on MariaDB 10.10+
(utf8mb4_uca1400_ai_ci, which information_schema.COLLATIONS lists without its character
set) and UCA 9.0 on MySQL 8.0+ (utf8mb4_0900_ai_ci). `up`, `reset` and ephemeral
databases all follow it, so a test database compares strings like the dev database.
"""
from __future__ import annotations

import secrets

import pytest

from provision.testing.databases import Databases, EphemeralServer
from provision.probe import server_info

from .helpers import env_url, json_out, query

pytestmark = [pytest.mark.mysql]


def promised_collation(server) -> str:
    """The README's promise for this server's version (not what the code computes)."""
    conn = server.connect()
    try:
        info = server_info(conn)
    finally:
        conn.close()
    if info.flavor == "mariadb":
        assert info.version_tuple >= (10, 10), f"the matrix has MariaDB {info.version}; the promise starts at 10.10"
        return "utf8mb4_uca1400_ai_ci"
    assert info.version_tuple >= (8, 0)
    return "utf8mb4_0900_ai_ci"


@pytest.fixture
def app(project, matrix_server):
    """`provision up --backend existing` on the server with names of this test's own; dropped after."""
    database, user = f"mx{secrets.token_hex(3)}", f"mxu{secrets.token_hex(3)}"
    admin = matrix_server.admin
    args = ["up", "--backend", "existing", "--server-url", f"mysql://root:{admin.password}@127.0.0.1:{admin.port}/",
            "--database", database, "--user", user, "--json"]
    project.up = args
    project.server = matrix_server
    yield project
    conn = matrix_server.connect()
    with conn.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")
        for host in ("127.0.0.1", "localhost", "%"):
            cursor.execute("DROP USER IF EXISTS %s@%s", (user, host))
    conn.close()


class TestCollationPerVersion:
    """up, reset and ephemeral databases give the promised collation on every server."""

    def test_up_creates_the_database_with_the_promised_collation(self, app):
        promised = promised_collation(app.server)
        data = json_out(app.cli(*app.up))
        assert data["proof"]["collation"] == promised
        url = env_url(app.env_file)
        assert query(url, "SELECT @@character_set_database, @@collation_database") == (("utf8mb4", promised),)
        assert json_out(app.cli(*app.up))["changed"] is False

    def test_reset_recreates_it_with_the_same_collation(self, app):
        promised = promised_collation(app.server)
        json_out(app.cli(*app.up))
        url = env_url(app.env_file)
        query(url, "CREATE TABLE gone (id INT)")
        data = json_out(app.cli("reset", "--yes", "--json"))
        assert (data["dropped_tables"], data["collation"]) == (1, promised)
        assert query(url, "SELECT @@collation_database, COUNT(*) FROM information_schema.TABLES "
                          "WHERE TABLE_SCHEMA = DATABASE()") == ((promised, 0),)

    def test_ephemeral_databases_get_it_too(self, matrix_server):
        promised = promised_collation(matrix_server)
        with Databases(EphemeralServer(kind="url", server=matrix_server)) as databases:
            db = databases.create()
            conn = db.connect()
            try:
                with conn.cursor() as cursor:
                    cursor.execute("SELECT @@character_set_database, @@collation_database")
                    assert cursor.fetchall() == (("utf8mb4", promised),)
            finally:
                conn.close()
