"""URLs against SQLAlchemy's ``make_url`` and a real login, with random user names and passwords.

What ``provision up`` writes must read back the same in SQLAlchemy (what Alembic, Flask-SQLAlchemy
and most apps use) and in our own parser, and must log in to a real server as exactly that
user. The other way round, a URL SQLAlchemy renders parses to the same login here.
"""
from __future__ import annotations

import secrets

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import make_url

from provision.bootstrap import app_hosts
from provision.probe import connect, server_info
from provision.url import app_url, parse

# what mysql.user can hold on both flavors: the BMP (MariaDB stores names as utf8mb3), no NUL
TEXT = st.text(st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs",), exclude_characters="\x00"),
               max_size=12)
PASSWORDS = st.one_of(TEXT, st.sampled_from(["", "p@ss:w/rd", "a b#c?d&e=f", "%41", "'\"`\\", "ümlaut€"]))
# provision refuses non-ASCII passwords (config.py): PyMySQL sends them as Latin-1, the server hashed UTF-8
ASCII_PASSWORDS = st.text(st.characters(max_codepoint=0x7F, exclude_characters="\x00"), max_size=16)
DATABASES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True)


@given(user=TEXT.filter(bool), password=PASSWORDS, database=DATABASES,
       port=st.integers(1, 65535), scheme=st.sampled_from(["mysql", "mysql+pymysql"]))
@example(user="a@b:c/d?e#f", password="p@ss:w/rd", database="ohdevel", port=3306, scheme="mysql")
def test_what_we_write_is_what_sqlalchemy_reads(user, password, database, port, scheme):
    text = str(app_url(driver_scheme=scheme, user=user, password=password, host="127.0.0.1", port=port,
                       database=database))
    theirs = make_url(text)
    assert (theirs.drivername, theirs.username, theirs.password or "", theirs.host, theirs.port, theirs.database) \
        == (scheme, user, password, "127.0.0.1", port, database)
    assert dict(theirs.query) == {"charset": "utf8mb4"}
    ours = parse(text)
    assert (ours.user, ours.password, ours.host, ours.port, ours.database) == (user, password, "127.0.0.1", port,
                                                                              database)
    # and what SQLAlchemy renders, we parse to the same login
    back = parse(theirs.render_as_string(hide_password=False))
    assert (back.user, back.password, back.database, back.port) == (user, password, database, port)


@pytest.mark.mysql
@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(user=TEXT, password=ASCII_PASSWORDS)
@example(user=" trailing ", password="")
@example(user="ü@x:y", password="%41'\"\x01")
def test_the_url_logs_in_as_exactly_that_user(matrix_server, user, password):
    """A real account with a random name and password, on every server of the matrix (MySQL: its
    caching_sha2_password full authentication over RSA); the URL we build logs in as it."""
    # never an account that exists; no trailing blanks: mysql.user stores names as CHAR (stripped), and MySQL
    # then refuses a login whose name has them (MariaDB lets it in); provision's own names have no blanks
    user = f"u{secrets.token_hex(2)}{user}".rstrip()
    admin = matrix_server.connect()
    hosts = app_hosts(server_info(admin))  # where our logins come from, as this server sees them
    try:
        with admin.cursor() as cursor:
            for host in hosts:
                cursor.execute("CREATE USER %s@%s IDENTIFIED BY %s", (user, host, password))
        try:
            url = app_url(driver_scheme="mysql", user=user, password=password, host="127.0.0.1",
                          port=matrix_server.port, database="")
            theirs = make_url(str(url))
            login = connect(parse(str(url)), tls=False)  # the login the product and the tests' apps use
            try:
                with login.cursor() as cursor:
                    cursor.execute("SELECT CURRENT_USER()")
                    assert cursor.fetchone()[0] in {f"{user}@{host}" for host in hosts}
            finally:
                login.close()
            assert (theirs.username, theirs.password or "") == (user, password)
        finally:
            with admin.cursor() as cursor:
                for host in hosts:
                    cursor.execute("DROP USER %s@%s", (user, host))
    finally:
        admin.close()


@given(password=TEXT.filter(lambda p: not p.isascii()))
def test_a_non_ascii_password_is_refused_before_anything_is_touched(password, tmp_path_factory):
    from provision.config import load_settings
    from provision.errors import ConfigError

    with pytest.raises(ConfigError, match="non-ASCII"):
        load_settings({"project_dir": tmp_path_factory.mktemp("p"), "password": password}, environ={})
