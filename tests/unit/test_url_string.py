"""URLString: a str wherever a URL string goes, with the parsed parts still at hand."""
import os
import pickle
from urllib.parse import urlsplit

import pytest
from sqlalchemy.engine import make_url

from provision.url import DatabaseURL, URLString, parsed

URL = DatabaseURL(scheme="mysql+pymysql", user="app", password="p@ss:w/rd", host="127.0.0.1", port=3307,
                  database="ohdevel_t_x", query=(("charset", "utf8mb4"),))


class TestURLString:
    def test_is_the_built_url(self):
        url = URLString(URL)
        assert isinstance(url, str) and url == str(URL) and f"{url}" == str(URL)
        assert (url.scheme, url.user, url.password, url.host, url.port, url.database) == (
            "mysql+pymysql", "app", "p@ss:w/rd", "127.0.0.1", 3307, "ohdevel_t_x")
        assert url.params == {"charset": "utf8mb4"} and url.parsed == URL and parsed(url) == URL

    def test_oracles_we_did_not_write_read_it(self, monkeypatch):
        url = URLString(URL)
        sa = make_url(url)  # SQLAlchemy's parser, as create_engine uses it
        assert (sa.drivername, sa.username, sa.password, sa.host, sa.port, sa.database) == (
            "mysql+pymysql", "app", "p@ss:w/rd", "127.0.0.1", 3307, "ohdevel_t_x")
        parts = urlsplit(url)
        assert (parts.scheme, parts.hostname, parts.port) == ("mysql+pymysql", "127.0.0.1", 3307)
        monkeypatch.setenv("DATABASE_URL", url)
        assert os.environ["DATABASE_URL"] == str(URL)

    def test_repr_hides_the_password(self):
        url = URLString(URL)
        assert "p%40ss" not in repr(url) and repr(url) == f"URLString({URL.redacted()!r})"
        assert "p%40ss" in str(url)

    def test_from_text_and_pickled(self):
        url = URLString(str(URL))
        assert url.parsed == URL
        again = pickle.loads(pickle.dumps(url))
        assert again == url and again.parsed == URL and isinstance(again, URLString)

    def test_bad_text_is_refused(self):
        from provision.errors import ConfigError

        with pytest.raises(ConfigError):
            URLString("postgres://x@y/z")


class TestTestURLScheme:
    """The test URLs' scheme is the dev URL's: the driver setting, else the last up's, else mysql://."""

    def test_recorded_then_explicit(self, tmp_path):
        from provision.api import url_scheme
        from provision.config import load_settings
        from provision.state import StateDir

        assert url_scheme(load_settings(project_dir=tmp_path, environ={})) == "mysql"
        StateDir(tmp_path / ".devdb").update(driver="pymysql")
        assert url_scheme(load_settings(project_dir=tmp_path, environ={})) == "mysql+pymysql"
        explicit = load_settings(project_dir=tmp_path, environ={"PROVISION_DRIVER": "mysql"})
        assert url_scheme(explicit) == "mysql"
