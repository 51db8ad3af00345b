"""Framework detection and the test-database name templates its runner uses."""
from pathlib import Path

import pytest

from provision.config import load_settings
from provision.errors import ConfigError
from provision.frameworks import FRAMEWORKS, detect, name_templates, resolve
from provision.names import like_match, shown_pattern, template_grant_pattern



def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


DJANGO_MANAGE = ('import os, sys\nif __name__ == "__main__":\n'
                 '    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")\n'
                 '    from django.core.management import execute_from_command_line\n')
# the seed's manage.py: Flask-Script and Flask-Migrate, not Django
SEED_MANAGE = "from flask_script import Manager\nfrom flask_migrate import Migrate, MigrateCommand\n"


class TestDetect:
    """Each framework is recognised from its files, and the first match wins."""

    def test_django_with_its_settings(self, tmp_path):
        write(tmp_path, {"manage.py": DJANGO_MANAGE, "mysite/settings.py": "", "alembic.ini": ""})
        found = detect(tmp_path)
        assert found.name == "django" and found.evidence == ("manage.py", "mysite/settings.py")
        assert found.grant_patterns("ohdevel") == ("test\\_ohdevel", "test\\_ohdevel\\_%")

    def test_the_seeds_flask_manage_py_is_not_django(self, tmp_path):
        write(tmp_path, {"manage.py": SEED_MANAGE, "migrations/alembic.ini": "",
                         "migrations/env.py": "from flask import current_app\n"})
        assert detect(tmp_path).name == "flask-migrate"
        assert detect(tmp_path).test_databases == ()

    def test_rails_reads_a_literal_test_database(self, tmp_path):
        write(tmp_path, {"config/database.yml": "default: &default\n  adapter: mysql2\n\ntest:\n  <<: *default\n"
                                                "  database: shop_test\n", "Gemfile": "gem 'rails'\n"})
        found = detect(tmp_path)
        assert found.evidence == ("config/database.yml", "Gemfile")
        assert found.grant_patterns("ohdevel") == ("shop\\_test", "shop\\_test\\_%", "shop\\_test-%")

    def test_rails_with_erb_keeps_the_convention(self, tmp_path):
        write(tmp_path, {"config/database.yml": "test:\n  database: <%= ENV['TEST_DB'] %>\n"})
        assert detect(tmp_path).test_databases == FRAMEWORKS["rails"].test_databases

    def test_laravel_reads_phpunit_xml(self, tmp_path):
        write(tmp_path, {"artisan": "#!/usr/bin/env php\n", "composer.json": '{"require": {"laravel/framework": "^11"}}',
                         "phpunit.xml": '<php>\n  <env name="DB_DATABASE" value="app_testing"/>\n</php>\n'})
        found = detect(tmp_path)
        assert found.name == "laravel" and found.evidence == ("artisan", "composer.json", "phpunit.xml")
        assert found.test_databases == ("app_testing", "app_testing_test_{n}")

    def test_laravel_default(self, tmp_path):
        write(tmp_path, {"artisan": ""})
        assert detect(tmp_path).grant_patterns("ohdevel") == ("testing", "testing\\_test\\_%",
                                                              "ohdevel\\_test\\_%")

    @pytest.mark.parametrize("files", [
        {"setup.cfg": "[tool:pytest]\naddopts = -p sqlalchemy.testing.plugin.pytestplugin\n"},
        {"setup.cfg": "[sqla_testing]\nrequirement_cls = x:Requirements\n", "alembic.ini": ""},
        {"tests/conftest.py": "from alembic.testing.plugin.pytestplugin import *\n"},
    ])
    def test_sqlalchemy_test_plugin(self, tmp_path, files):
        write(tmp_path, files)
        found = detect(tmp_path)
        assert found.name == "sqlalchemy" and found.test_databases == ("test_schema", "test_schema_2")

    def test_plain_alembic_and_nothing(self, tmp_path):
        assert detect(tmp_path) is None
        write(tmp_path, {"alembic.ini": "[alembic]\n"})
        assert detect(tmp_path).name == "alembic"


class TestSettings:
    """framework = auto | <name> | none; test_databases adds names (framework = none replaces)."""

    def test_framework_named_or_none(self, tmp_path):
        write(tmp_path, {"manage.py": DJANGO_MANAGE})
        assert resolve("none", tmp_path) is None
        assert resolve("rails", tmp_path).evidence == ("framework setting",)
        assert resolve("auto", tmp_path).name == "django"

    def test_test_databases_from_pyproject_and_env(self, tmp_path):
        write(tmp_path, {"pyproject.toml": '[tool.provision]\nframework = "none"\n'
                                           'test_databases = ["e2e_{database}", "ci_{n}"]\n'})
        settings = load_settings(project_dir=tmp_path, environ={})
        assert settings.framework == "none" and settings.test_databases == ("e2e_{database}", "ci_{n}")
        settings = load_settings(project_dir=tmp_path, environ={"PROVISION_TEST_DATABASES": "a, b_{n}"})
        assert settings.test_databases == ("a", "b_{n}")

    def test_added_to_the_runners(self, tmp_path):
        write(tmp_path, {"manage.py": DJANGO_MANAGE})
        assert name_templates(detect(tmp_path), ("test_{database}", "e2e")) == (
            "test_{database}", "test_{database}_{n}", "e2e")

    @pytest.mark.parametrize("overrides", [
        {"framework": "symfony"}, {"test_databases": "{n}_x"}, {"test_databases": "test_{db}"},
        {"test_databases": "a%b"}, {"test_databases": "te`st"},
    ])
    def test_rejected_with_a_hint(self, tmp_path, overrides):
        with pytest.raises(ConfigError) as info:
            load_settings(overrides, project_dir=tmp_path, environ={})
        assert info.value.hint


class TestGrantPatterns:
    """Templates become GRANT patterns escaped in one place; the server's LIKE is the oracle in
    tests/integration/test_runner_grants.py, this is the shape."""

    @pytest.mark.parametrize("template, pattern", [
        ("test_{database}", "test\\_oh\\_dev"),
        ("test_{database}_{n}", "test\\_oh\\_dev\\_%"),
        ("{database}_test-{n}", "oh\\_dev\\_test-%"),
        ("testing", "testing"),
    ])
    def test_escaped(self, template, pattern):
        assert template_grant_pattern(template, "oh_dev") == pattern

    def test_matches_only_the_runners_names(self):
        pattern = template_grant_pattern("test_{database}_{n}", "ohdevel")
        assert like_match(pattern, "test_ohdevel_1") and like_match(pattern, "test_ohdevel_12")
        assert not like_match(pattern, "testXohdevel_1") and not like_match(pattern, "test_ohdevel")
        assert shown_pattern(pattern) == "test_ohdevel_*"

    @pytest.mark.parametrize("template", ["m{token}", "sys", "information_schema"])
    def test_never_a_system_schema(self, template):
        with pytest.raises(ConfigError, match="system schema"):
            template_grant_pattern(template, "ohdevel")

    def test_too_long(self):
        with pytest.raises(ConfigError, match="longer than 64"):
            template_grant_pattern("test_{database}_" + "x" * 40, "d" * 30)


class TestThisRepositorysProjects:
    """The test projects in tests/ are detected as what they are."""

    TESTS = Path(__file__).resolve().parent.parent

    def test_the_django_app(self):
        found = detect(self.TESTS / "apps" / "django_app")
        assert (found.name, found.evidence) == ("django", ("manage.py", "mysite/settings.py"))

    def test_the_ok_server_is_flask_migrate_not_django(self):
        found = detect(self.TESTS / "fixtures" / "okserver")
        assert (found.name, found.evidence) == ("flask-migrate", ("migrations/alembic.ini", "migrations/env.py"))
