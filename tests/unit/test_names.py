"""Identifiers: strict patterns, no way to smuggle SQL through a name."""
import pytest

from provision.errors import ConfigError
from provision.names import grant_pattern, quote, validate_collation, validate_database, validate_user
from provision.sql import render, statements


class TestDatabaseNames:
    @pytest.mark.parametrize("name", ["ohdevel", "ok_dev", "_x", "A" * 64])
    def test_valid(self, name):
        assert validate_database(name) == name

    @pytest.mark.parametrize("name", [
        "", "ohdevel; DROP DATABASE mysql", "oh`devel", "oh'devel", 'oh"devel', "A" * 65, "ok-dev", "ok dev",
        "1abc", "mysql", "information_schema", "ohdevel\x00",
    ])
    def test_invalid(self, name):
        with pytest.raises(ConfigError) as info:
            validate_database(name)
        assert info.value.hint and info.value.exit_code == 2


class TestUserNames:
    @pytest.mark.parametrize("name", ["ohdev", "app.user", "a-b", "u" * 32])
    def test_valid(self, name):
        assert validate_user(name) == name

    @pytest.mark.parametrize("name", ["", "root", "o'hdev", "oh`dev", "u" * 33, "oh dev", "x@y"])
    def test_invalid(self, name):
        with pytest.raises(ConfigError):
            validate_user(name)


def test_collations_must_be_utf8mb4():
    assert validate_collation("utf8mb4_0900_ai_ci")
    for bad in ("latin1_swedish_ci", "utf8mb4_x; DROP", "UTF8MB4_BIN"):
        with pytest.raises(ConfigError):
            validate_collation(bad)


def test_quote_refuses_backticks():
    assert quote("ohdevel") == "`ohdevel`"
    with pytest.raises(ConfigError):
        quote("a`b")


def test_grant_pattern_escapes_wildcards():
    assert grant_pattern("ok_dev") == "ok\\_dev"
    assert grant_pattern("ohdevel") + "\\_%" == "ohdevel\\_%"


class TestSqlFiles:
    """Statements come from sql/*.sql; identifiers are quoted, % doubled for the driver."""

    def test_every_bootstrap_statement_is_loaded(self):
        names = set(statements("bootstrap"))
        assert {"create_database", "create_user", "grant_database", "set_password", "drop_user"} <= names
        assert all(text and not text.endswith(";") for text in statements("bootstrap").values())

    def test_render_quotes_identifiers_and_doubles_percent(self):
        text = render("bootstrap", "grant_database", pattern="ohdevel\\_%")
        assert text == "GRANT ALL PRIVILEGES ON `ohdevel\\_%%`.* TO %(user)s@%(host)s"
        assert text % {"user": "'ohdev'", "host": "'%'"}.copy() == (
            "GRANT ALL PRIVILEGES ON `ohdevel\\_%`.* TO 'ohdev'@'%'")
