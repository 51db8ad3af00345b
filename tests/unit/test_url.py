"""URLs: the seed's exact format, passwords that survive the round trip, redaction."""
import pytest

from provision.errors import ConfigError
from provision.url import app_url, parse, redact


class TestBuild:
    """The default URL is the seed's, byte for byte."""

    def test_seed_url(self):
        url = app_url(driver_scheme="mysql", user="ohdev", password="", host="127.0.0.1", port=3306,
                      database="ohdevel")
        assert str(url) == "mysql://ohdev:@127.0.0.1:3306/ohdevel?charset=utf8mb4"

    def test_pymysql_driver_scheme(self):
        url = app_url(driver_scheme="mysql+pymysql", user="ohdev", password="", host="127.0.0.1", port=3307,
                      database="ohdevel")
        assert str(url).startswith("mysql+pymysql://ohdev:@127.0.0.1:3307/")

    @pytest.mark.parametrize("password", ["p@ss:w/rd", "a b#c?d&e=f", "%41", "ümlaut€", "'\"`\\"])
    def test_password_round_trip(self, password):
        url = app_url(driver_scheme="mysql", user="ohdev", password=password, host="127.0.0.1", port=3306,
                      database="ohdevel")
        back = parse(str(url))
        assert back.password == password
        assert back.user == "ohdev" and back.database == "ohdevel" and back.port == 3306
        assert back.params == {"charset": "utf8mb4"}


class TestParse:
    """Admin URLs from --server-url."""

    def test_defaults_and_socket(self):
        url = parse("mysql://root@db.example:3310/?unix_socket=/tmp/my.sock")
        assert (url.user, url.password, url.host, url.port) == ("root", "", "db.example", 3310)
        assert url.connect_kwargs()["unix_socket"] == "/tmp/my.sock"

    def test_port_defaults_to_3306(self):
        assert parse("mysql://root:@127.0.0.1/").port == 3306

    @pytest.mark.parametrize("text", ["postgres://u@h/db", "mysql:///nohost", "mysql://u@h:99999/"])
    def test_bad_urls_are_config_errors(self, text):
        with pytest.raises(ConfigError) as info:
            parse(text)
        assert info.value.hint


class TestRedact:
    def test_password_hidden(self):
        assert redact("mysql://root:s3cret@127.0.0.1:3306/") == "mysql://root:***@127.0.0.1:3306/"
        assert "s3cret" not in parse("mysql://root:s3cret@127.0.0.1:3306/").redacted()

    def test_empty_password_shown_as_is(self):
        assert redact("mysql://ohdev:@127.0.0.1:3306/ohdevel") == "mysql://ohdev:@127.0.0.1:3306/ohdevel"
