"""Identifier validation and quoting against the server itself.

Every name ``names.py`` accepts is created and dropped on a real server under exactly that
name (the server is the oracle for what a backtick-quoted name means); every name it refuses
is refused by ``load_settings``, before any connection exists, so before any SQL.
"""
from __future__ import annotations

import re
import secrets

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from provision import collations
from provision.config import load_settings
from provision.errors import ConfigError
from provision.names import validate_database, validate_user
from provision.probe import server_info
from provision.sql import run

DATABASE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
USER = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}")
ANY = st.text(st.characters(max_codepoint=0x2FF, exclude_categories=("Cs",)), max_size=70)
SERVER = settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.mysql
@SERVER
@given(name=st.from_regex(DATABASE, fullmatch=True))
@example(name="_" * 64)
@example(name="Select")
def test_a_valid_database_name_is_created_and_dropped_as_itself(native_server, name):
    assume(name.lower() not in {"mysql", "information_schema", "performance_schema", "sys"})
    validate_database(name)
    conn = native_server.connect()
    try:
        with conn.cursor() as cursor:
            assume(not run(cursor, "bootstrap", "database_charset", {"database": name}))  # never one that exists
            collation = collations.choose(cursor, server_info(conn).flavor)
            run(cursor, "bootstrap", "create_database", database=name, collation=collation)
            try:
                assert run(cursor, "bootstrap", "database_charset", {"database": name}) == (("utf8mb4", collation),)
            finally:
                cursor.execute(f"DROP DATABASE `{name}`")
    finally:
        conn.close()


@pytest.mark.mysql
@SERVER
@given(name=st.from_regex(USER, fullmatch=True))
def test_a_valid_user_name_is_created_and_dropped_as_itself(native_server, name):
    assume(name.lower() not in {"root", "mysql", "mariadb.sys", "mysql.sys", "mysql.session", "mysql.infoschema"})
    validate_user(name)
    conn = native_server.connect()
    host = f"h{secrets.token_hex(3)}"  # a host of our own: never an account that exists
    try:
        with conn.cursor() as cursor:
            run(cursor, "bootstrap", "create_user", {"user": name, "host": host, "password": "x"})
            try:
                assert [row[0] for row in run(cursor, "bootstrap", "user_hosts", {"user": name})].count(host) == 1
            finally:
                run(cursor, "bootstrap", "drop_user", {"user": name, "host": host})
    finally:
        conn.close()


@given(name=ANY)
@example(name="a`b")
@example(name="db; DROP DATABASE mysql")
@example(name="x" * 65)
@example(name="mysql")
def test_an_invalid_database_name_is_refused_before_any_sql(name, tmp_path_factory):
    assume(not DATABASE.fullmatch(name) or name.lower() == "mysql")
    with pytest.raises(ConfigError):
        load_settings({"project_dir": tmp_path_factory.mktemp("p"), "database": name}, environ={})


@given(name=ANY)
@example(name="root")
@example(name="a'@'%")
def test_an_invalid_user_name_is_refused_before_any_sql(name, tmp_path_factory):
    assume(not USER.fullmatch(name) or name.lower() == "root")
    with pytest.raises(ConfigError):
        load_settings({"project_dir": tmp_path_factory.mktemp("p"), "user": name}, environ={})


@pytest.mark.mysql
@SERVER
@given(name=st.from_regex(r"[a-z][a-z0-9]{0,6}(_[a-z0-9]{1,4}){1,3}", fullmatch=True))
def test_a_grant_pattern_covers_exactly_that_database(native_server, name):
    """'_' is a wildcard in GRANT ... ON `db`.*: grant_pattern escapes it, so the grant covers the
    name itself and no name that differs where it has a '_' (the server decides)."""
    from provision.names import grant_pattern
    from provision.probe import connect
    from provision.url import DatabaseURL

    user, password = f"g{secrets.token_hex(4)}", secrets.token_hex(8)
    lookalike = name.replace("_", "x", 1)
    conn = native_server.connect()
    try:
        with conn.cursor() as cursor:
            cursor.execute("CREATE USER %s@'127.0.0.1' IDENTIFIED BY %s", (user, password))
            cursor.execute(f"GRANT ALL PRIVILEGES ON `{grant_pattern(name)}`.* TO %s@'127.0.0.1'", (user,))
        login = connect(DatabaseURL(user=user, password=password, host="127.0.0.1", port=native_server.port),
                        tls=False)
        try:
            with login.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE `{name}`")  # granted
                cursor.execute(f"DROP DATABASE `{name}`")
                with pytest.raises(Exception) as refused:
                    cursor.execute(f"CREATE DATABASE `{lookalike}`")
                assert refused.value.args[0] == 1044  # access denied to database
        finally:
            login.close()
    finally:
        with conn.cursor() as cursor:
            cursor.execute("DROP USER IF EXISTS %s@'127.0.0.1'", (user,))
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cursor.execute(f"DROP DATABASE IF EXISTS `{lookalike}`")
        conn.close()
