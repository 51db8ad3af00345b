"""The app user may create and drop exactly the databases its test runner makes, on MariaDB and MySQL 9.7.

Rails, Laravel and the SQLAlchemy test plugin cannot run here, so each test creates and
drops, as the app user and through the URL in .env, the databases their runners would make,
and checks that neighbouring names stay refused. Django's runner runs for real in
test_django_runner.py.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pymysql
import pytest

from ..conftest import Project
from .helpers import env_url, json_out, query

pytestmark = [pytest.mark.mysql]

DJANGO_MANAGE = 'import os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")\nimport django\n'
DENIED = (1044, 1142)
OKSERVER = Path(__file__).resolve().parent.parent / "fixtures" / "okserver"  # the seed's Flask app


@pytest.fixture(params=["mariadb", pytest.param("mysql", marks=pytest.mark.docker)])
def server(request):
    """Native MariaDB 10.11, or MySQL 9.7 in Docker (reached through its published port)."""
    return request.getfixturevalue("native_server" if request.param == "mariadb" else "mysql97")


@pytest.fixture
def app(project: Project, server):
    """A project on the shared server with a database and user of its own; everything it made is dropped."""
    made = App(project, server, database=f"rg{secrets.token_hex(3)}", user=f"rgu{secrets.token_hex(3)}")
    yield made
    conn = server.connect()
    try:
        with conn.cursor() as cursor:
            for name in made.created | {made.database}:
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
            for host in ("127.0.0.1", "localhost", "%"):
                cursor.execute("DROP USER IF EXISTS %s@%s", (made.user, host))
    finally:
        conn.close()


class App:
    def __init__(self, project: Project, server, *, database: str, user: str):
        self.project, self.server, self.database, self.user = project, server, database, user
        self.created: set[str] = set()

    def write(self, files: dict[str, str]) -> None:
        for name, text in files.items():
            path = self.project.path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)

    def up_args(self) -> list[str]:
        admin = f"mysql://root:{self.server.admin.password}@127.0.0.1:{self.server.port}/"
        return ["up", "--backend", "existing", "--server-url", admin, "--database", self.database,
                "--user", self.user]

    def up(self, *extra: str, env: dict | None = None) -> dict:
        return json_out(self.project.cli(*self.up_args(), "--json", *extra, env=env))

    def revoke(self, pattern: str) -> None:
        admin = self.server.connect()
        try:
            with admin.cursor() as cursor:
                cursor.execute("SELECT Host FROM mysql.user WHERE User = %s", (self.user,))
                for (host,) in cursor.fetchall():
                    cursor.execute(f"REVOKE ALL PRIVILEGES ON `{pattern.replace('%', '%%')}`.* FROM %s@%s",
                                   (self.user, host))
        finally:
            admin.close()

    @property
    def url(self) -> str:
        return env_url(self.project.env_file)

    def can_make(self, name: str) -> bool:
        """Create, use and drop ``name`` as the app user, as a runner does; False when refused."""
        try:
            query(self.url, f"CREATE DATABASE `{name}`")
        except pymysql.err.OperationalError as exc:
            assert exc.args[0] in DENIED, exc
            return False
        self.created.add(name)
        query(self.url, f"CREATE TABLE `{name}`.t (id INT PRIMARY KEY)")
        query(self.url, f"INSERT INTO `{name}`.t VALUES (1)")
        query(self.url, f"DROP DATABASE `{name}`")
        return True

    def grants(self) -> list[str]:
        return [row[0] for row in query(self.url, "SHOW GRANTS")]


def check_names(app: App, allowed: list[str], refused: list[str]) -> None:
    assert [n for n in allowed if not app.can_make(n)] == []
    assert [n for n in refused if app.can_make(n)] == []


class TestEachRunnersDatabases:
    """Detected from the project's files, granted, and usable by the app user; nothing wider."""

    def test_django(self, app):
        app.write({"manage.py": DJANGO_MANAGE, "mysite/settings.py": ""})
        data = app.up()
        db = app.database
        assert data["framework"]["name"] == "django"
        assert data["framework"]["evidence"] == ["manage.py", "mysite/settings.py"]
        assert data["test_grants"] == [f"test\\_{db}", f"test\\_{db}\\_%"]
        check_names(app, [f"test_{db}", f"test_{db}_1", f"test_{db}_2"],
                    [f"test_{db}x", f"testx{db}", f"test{db}_1", "test_other"])
        assert all(not g.startswith("GRANT") or " ON *.* " not in g or "USAGE" in g for g in app.grants())

    def test_rails_from_database_yml(self, app):
        test_db = f"{app.database}shop_test"  # not under <database>_*: the grant is needed
        app.write({"config/database.yml": f"default: &default\n  adapter: mysql2\n\ntest:\n  <<: *default\n"
                                          f"  database: {test_db}\n", "Gemfile": "gem 'rails'\n"})
        data = app.up()
        assert data["framework"]["name"] == "rails"
        assert data["test_grants"] == [f"{test_db}".replace("_", "\\_"), test_db.replace("_", "\\_") + "\\_%",
                                       test_db.replace("_", "\\_") + "-%"]
        check_names(app, [test_db, f"{test_db}_1", f"{test_db}-2"], [f"{test_db}x", f"{test_db}1"])

    def test_rails_convention_is_covered_by_the_database_grant(self, app):
        app.write({"config/database.yml": "test:\n  database: <%= ENV['TEST_DATABASE'] %>\n"})
        data = app.up()
        db = app.database
        assert data["framework"]["name"] == "rails" and data["test_grants"] == []  # <db>_test* is in <db>_*
        check_names(app, [f"{db}_test", f"{db}_test_1", f"{db}_test-1"], [f"{db}test"])

    def test_laravel(self, app):
        app.write({"artisan": "#!/usr/bin/env php\n"})
        data = app.up()
        db = app.database
        assert data["framework"]["name"] == "laravel"
        assert data["test_grants"] == ["testing", "testing\\_test\\_%"]
        check_names(app, ["testing", "testing_test_1", "testing_test_2", f"{db}_test_1"],
                    ["testing2", "testing_other"])

    def test_sqlalchemy_test_plugin(self, app):
        app.write({"setup.cfg": "[sqla_testing]\nrequirement_cls = test.requirements:Requirements\n"})
        data = app.up()
        assert data["framework"]["name"] == "sqlalchemy"
        assert data["test_grants"] == ["test\\_schema", "test\\_schema\\_2"]
        check_names(app, ["test_schema", "test_schema_2"], ["test_schema_3", "testXschema"])

    def test_extra_names_from_pyproject(self, app):
        app.write({"pyproject.toml": '[tool.provision]\ntest_databases = ["e2e_{database}_{n}"]\n'})
        data = app.up()
        assert data["framework"] is None
        check_names(app, [f"e2e_{app.database}_1"], [f"e2e{app.database}_1", f"test_{app.database}"])


class TestConverge:
    """Every run converges: missing grants come back, unwanted ones provision made go, others stay."""

    def test_second_run_changes_nothing(self, app):
        app.write({"manage.py": DJANGO_MANAGE})
        first = app.up()
        assert any("test databases for Django granted" in c for c in first["changes"])
        again = app.up()
        assert again["changed"] is False and again["changes"] == []

    def test_a_revoked_grant_comes_back(self, app):
        app.write({"manage.py": DJANGO_MANAGE})
        app.up()
        app.revoke(f"test\\_{app.database}")
        assert not app.can_make(f"test_{app.database}")
        data = app.up()
        assert any("granted: test_" in c for c in data["changes"])
        assert app.can_make(f"test_{app.database}")

    def test_unwanted_grants_are_revoked_but_only_provisions(self, app):
        # a grant made by hand before provision came is the user's: never revoked
        admin = app.server.connect()
        app.write({"setup.cfg": "[sqla_testing]\n"})
        data = app.up()
        try:
            with admin.cursor() as cursor:
                for host in data["hosts"]:
                    cursor.execute(f"GRANT ALL PRIVILEGES ON `hand\\_{app.database}`.* TO %s@%s",
                                   (app.user, host))
        finally:
            admin.close()
        app.write({"pyproject.toml": f'[tool.provision]\ntest_databases = ["hand_{{database}}"]\n'})
        (app.project.path / "setup.cfg").unlink()
        app.write({"manage.py": DJANGO_MANAGE})
        switched = app.up()
        assert switched["framework"]["name"] == "django"
        assert any("no longer wanted revoked: test_schema, test_schema_2" in c for c in switched["changes"])
        assert not app.can_make("test_schema")
        assert app.can_make(f"test_{app.database}") and app.can_make(f"hand_{app.database}")

        (app.project.path / "pyproject.toml").unlink()
        off = app.up(env={"PROVISION_FRAMEWORK": "none"})
        assert off["framework"] is None and off["test_grants"] == []
        assert not app.can_make(f"test_{app.database}")
        grants = " ".join(app.grants())
        assert f"`hand\\_{app.database}`" in grants and app.can_make(f"hand_{app.database}")  # by hand: kept
        assert app.up(env={"PROVISION_FRAMEWORK": "none"})["changes"] == []


class TestReportedAndChecked:
    """up says which framework it found and what it granted; doctor checks those grants."""

    def test_up_reports_the_framework_and_the_names(self, app):
        app.write({"manage.py": DJANGO_MANAGE, "mysite/settings.py": ""})
        result = app.project.cli(*app.up_args())
        assert result.returncode == 0, result.stderr
        db = app.database
        assert (f"framework: Django (manage.py, mysite/settings.py); test databases: test_{db}, test_{db}_*"
                in result.stdout.splitlines())
        plain = App(Project(app.project.path / "plain"), app.server, database=app.database, user=app.user)
        plain.project.path.mkdir()
        result = plain.project.cli(*plain.up_args(), "--framework", "none", "--test-databases", "e2e_{database}")
        assert f"framework: none detected; test databases: e2e_{db}" in result.stdout.splitlines(), result.stderr

    def test_the_ok_server_is_reported_as_flask_migrate(self, app):
        shutil.copytree(OKSERVER, app.project.path, dirs_exist_ok=True)
        result = app.project.cli(*app.up_args())
        assert result.returncode == 0, result.stderr
        assert (f"framework: Flask-Migrate (migrations/alembic.ini, migrations/env.py); test databases: "
                f"{app.database}_* only") in result.stdout.splitlines()

    def test_doctor_finds_a_missing_grant_and_names_the_fix(self, app):
        app.write({"manage.py": DJANGO_MANAGE})
        app.up()
        [finding] = [f for f in json_out(app.project.cli("doctor", "--json"))["findings"]
                     if f["check"] == "test_grants"]
        assert finding["status"] == "ok" and finding["details"]["framework"] == "django"
        app.revoke(f"test\\_{app.database}\\_%")
        report = app.project.cli("doctor", "--json")
        [finding] = [f for f in json.loads(report.stdout)["findings"] if f["check"] == "test_grants"]
        assert report.returncode == 1 and finding["status"] == "error"
        assert f"test_{app.database}_*" in finding["finding"] and finding["fix"].startswith("provision up")
        app.up()
        [finding] = [f for f in json_out(app.project.cli("doctor", "--json"))["findings"]
                     if f["check"] == "test_grants"]
        assert finding["status"] == "ok"


SQLA_APP = Path(__file__).resolve().parent.parent / "apps" / "sqla_plugin_app"


class TestSQLAlchemyTestPluginRuns:
    """SQLAlchemy's own test plugin and dialect suite, run for real as the app user on the URL in .env."""

    def test_schema_tests_pass(self, app):
        shutil.copytree(SQLA_APP, app.project.path, dirs_exist_ok=True)
        data = app.up("--driver", "pymysql")
        assert data["framework"]["name"] == "sqlalchemy" and data["framework"]["evidence"] == ["setup.cfg"]
        # the plugin expects the two schemas to exist: the app user makes them (README)
        for name in ("test_schema", "test_schema_2"):
            query(app.url, f"CREATE DATABASE {name}")
            app.created.add(name)
        # SQLAlchemy's test_has_table_nonexistent_schema expects "no such database" (1049/1146) for a
        # database nobody created; a least-privilege user gets "denied" (1142) there instead: deselected
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "sqla_plugin_setup", "--dburi", app.url, "-v", "-p", "no:warnings",
             "-k", "not nonexistent_schema"],
            cwd=app.project.path, env={**os.environ, "PYTHONPATH": str(app.project.path)},
            capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
        for test in ("test_create_table_schema", "test_has_table_schema", "test_has_multi_table_schema"):
            assert any(test in line and "PASSED" in line for line in result.stdout.splitlines()), result.stdout
