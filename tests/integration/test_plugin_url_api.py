"""The plugin's URL goes wherever a URL string goes, and mysql_env points the app at the test database.

Run the way users run it: example suites in a pytest subprocess (pytester), on a real server.
"""
from __future__ import annotations

import contextlib
import textwrap

import pytest

with contextlib.suppress(ImportError):  # see test_pytest_plugin.py: imported once, outside pytester
    import pymysql  # noqa: F401
    import sqlalchemy  # noqa: F401

pytest_plugins = ["pytester"]
pytestmark = [pytest.mark.mysql]

STRING_SUITE = """
import os
from urllib.parse import urlsplit

import sqlalchemy


def test_create_engine_environ_and_urlsplit(mysql_db, mysql_url):
    assert isinstance(mysql_db.url, str) and mysql_url == mysql_db.url
    assert mysql_db.url.scheme == "{scheme}" and mysql_db.url.startswith("{scheme}://")
    engine = sqlalchemy.create_engine(mysql_db.url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT DATABASE()").scalar() == mysql_db.name
    engine.dispose()
    os.environ["DATABASE_URL"] = mysql_db.url
    assert os.environ["DATABASE_URL"] == str(mysql_db.url)
    parts = urlsplit(mysql_db.url)
    assert (parts.scheme, parts.hostname, parts.port, parts.path) == (
        "{scheme}", mysql_db.url.host, mysql_db.url.port, "/" + mysql_db.name)
    assert mysql_db.url.database == mysql_db.name and mysql_db.url.params["charset"] == "utf8mb4"
    assert mysql_db.url.password not in repr(mysql_db.url) or not mysql_db.url.password
"""


def run(pytester, server, *args: str):
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--mysql-server={server.admin}", *args)


class TestURLIsAString:
    """create_engine(mysql_db.url), os.environ[...] = mysql_db.url and urlsplit(mysql_db.url) work."""

    def test_with_the_pymysql_driver_setting(self, pytester, native_server):
        pytester.makefile(".toml", pyproject='[tool.provision]\ndriver = "pymysql"\n')
        pytester.makepyfile(test_url=STRING_SUITE.format(scheme="mysql+pymysql"))
        result = run(pytester, native_server)
        result.assert_outcomes(passed=1)

    def test_with_the_default_mysql_scheme(self, pytester, native_server):
        # mysql:// is SQLAlchemy's mysqlclient dialect; PyMySQL's MySQLdb shim is that driver here
        pytester.makeconftest("import pymysql\npymysql.install_as_MySQLdb()\n")
        pytester.makepyfile(test_url=STRING_SUITE.format(scheme="mysql"))
        result = run(pytester, native_server)
        result.assert_outcomes(passed=1)


class TestMysqlEnv:
    """mysql_env sets the app's URL variable for one test and puts the old value back after it."""

    def test_points_the_app_at_the_test_database_and_restores(self, pytester, native_server):
        pytester.makefile(".toml", pyproject='[tool.provision]\nenv_key = "APP_DATABASE_URL"\n')
        pytester.makepyfile(app=textwrap.dedent("""
            import os
            import pymysql
            from urllib.parse import urlsplit

            def current_database():
                # the app's own config: its URL variable, read when it connects
                url = urlsplit(os.environ["APP_DATABASE_URL"])
                conn = pymysql.connect(host=url.hostname, port=url.port, user=url.username,
                                       password=url.password or "", database=url.path[1:])
                with conn.cursor() as cursor:
                    cursor.execute("SELECT DATABASE()")
                    name = cursor.fetchone()[0]
                conn.close()
                return name
        """))
        pytester.makeconftest('import os\nos.environ["APP_DATABASE_URL"] = "mysql://dev@127.0.0.1:1/dev"\n')
        pytester.makepyfile(test_app=textwrap.dedent("""
            import os
            import app

            def test_uses_the_test_database(mysql_env, mysql_db):
                assert mysql_env == mysql_db.url == os.environ["APP_DATABASE_URL"]
                assert app.current_database() == mysql_db.name

            def test_restored_afterwards():
                assert os.environ["APP_DATABASE_URL"] == "mysql://dev@127.0.0.1:1/dev"
        """))
        result = run(pytester, native_server, "-p", "no:randomly")
        result.assert_outcomes(passed=2)
