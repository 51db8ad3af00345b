"""The snapshot SQL splitter against the mariadb client and the server.

A random script (strings with quotes, ';', backslashes and comment markers; -- # /* */ and
/*! */ comments; DELIMITER blocks with triggers whose bodies hold ';') is loaded twice: by
the real ``mariadb`` client, which defines how a dump is cut into statements, and statement by
statement from ``split_statements`` over PyMySQL. The server must end up with the same rows,
the same trigger names and the same rows the triggers wrote.
"""
from __future__ import annotations

import io
import os
import secrets
import subprocess

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from provision.client_tools import local_command
from provision.sqldump import split_statements

from ..conftest import require

pytestmark = [pytest.mark.mysql]

TEXT = st.lists(st.sampled_from(list("ab;'\"\\`#-/* \n$") + ["--", "/*", "*/", "DELIMITER", "é"]),
                max_size=10).map("".join)


def literal(text: str, style: int) -> str:
    if style == 0:  # the client's and mysqldump's form: backslash escapes
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"
    if style == 1:  # SQL's doubled quotes (a raw newline inside the string)
        return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"
    return '"' + text.replace("\\", "\\\\").replace('"', '""') + '"'


def comment(text: str, kind: int) -> str:
    flat = text.replace("\n", " ")
    if kind == 0:
        return f"-- {flat}\n"
    if kind == 1:
        return f"# {flat}\n"
    return "/* " + text.replace("*/", "* /") + " */ "


@st.composite
def scripts(draw) -> str:
    parts = ["CREATE TABLE t (id INT PRIMARY KEY, s TEXT);\n",
             "CREATE TABLE log (id INT AUTO_INCREMENT PRIMARY KEY, what TEXT);\n"]
    row = 0
    for n in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["insert", "insert", "comment", "trigger", "executable"]))
        if kind == "insert":
            row += 1
            before = comment(draw(TEXT), draw(st.integers(0, 2))) if draw(st.booleans()) else ""
            end = draw(st.sampled_from([";", " ;", ";  ", ";\n"]))
            parts.append(f"{before}INSERT INTO t VALUES\n ({row}, {literal(draw(TEXT), draw(st.integers(0, 2)))})"
                         f"{end}\n")
        elif kind == "comment":
            parts.append(comment(draw(TEXT), draw(st.integers(0, 2))) + "\n")
        elif kind == "executable":
            parts.append(f"/*!40101 SET @v{n} = {literal(draw(TEXT), 0)} */;\n")
        else:
            delimiter = draw(st.sampled_from([";;", "$$", "//"]))
            value = literal(draw(TEXT), draw(st.integers(0, 2)))
            parts.append(f"DELIMITER {delimiter}\n"
                         f"CREATE TRIGGER trg_{n} AFTER INSERT ON t FOR EACH ROW BEGIN\n"
                         f"  INSERT INTO log (what) VALUES ({value}); -- a; comment\n"
                         f"  INSERT INTO log (what) VALUES (CONCAT('{n};', NEW.s));\n"
                         f"END {delimiter}\nDELIMITER ;\n")
    return "".join(parts)


def state(server, database: str):
    conn = server.connect(database=database)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT id, s FROM t ORDER BY id")
            rows = cursor.fetchall()
            cursor.execute("SELECT what FROM log ORDER BY id")
            log = cursor.fetchall()
            cursor.execute("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %s "
                           "ORDER BY 1", (database,))
            return rows, log, cursor.fetchall()
    finally:
        conn.close()


@settings(max_examples=int(os.environ.get("PROVISION_TEST_SERVER_EXAMPLES", "25")), suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(script=scripts())
@example(script="CREATE TABLE t (id INT PRIMARY KEY, s TEXT);\nCREATE TABLE log (id INT AUTO_INCREMENT PRIMARY KEY, "
                "what TEXT);\nINSERT INTO t VALUES (1, 'a;b -- c # d /* e'' \\' \"');\n"
                "DELIMITER ;;\nCREATE TRIGGER trg AFTER INSERT ON t FOR EACH ROW BEGIN INSERT INTO log (what) "
                "VALUES ('x;y'); END ;;\nDELIMITER ;\nINSERT INTO t VALUES (2, \"q;\")")
def test_the_splitter_loads_what_the_client_loads(native_server, tmp_path_factory, script):
    admin = native_server.admin
    client, ours = f"split_c_{secrets.token_hex(3)}", f"split_o_{secrets.token_hex(3)}"
    conn = native_server.connect()
    try:
        with conn.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{client}`")
            cursor.execute(f"CREATE DATABASE `{ours}`")
        with local_command("client", user=admin.user, password=admin.password, host="127.0.0.1", port=admin.port,
                           directory=tmp_path_factory.mktemp("client")) as argv:
            require(argv is not None, "no mariadb/mysql client installed (apt-get install mariadb-client)")
            loaded = subprocess.run([*argv, "--default-character-set=utf8mb4", client], input=script.encode(),
                                    capture_output=True, timeout=60)
        assert loaded.returncode == 0, loaded.stderr.decode()  # the generator makes valid scripts only
        mine = native_server.connect(database=ours)
        try:
            with mine.cursor() as cursor:
                for statement in split_statements(io.StringIO(script)):
                    cursor.execute(statement)
        finally:
            mine.close()
        assert state(native_server, ours) == state(native_server, client)
    finally:
        with conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{client}`")
            cursor.execute(f"DROP DATABASE IF EXISTS `{ours}`")
        conn.close()
