"""Settings precedence: explicit > PROVISION_* > [tool.provision] > defaults."""
from pathlib import Path

import pytest

from provision.config import load_settings
from provision.errors import ConfigError


def write_pyproject(path: Path, body: str) -> None:
    (path / "pyproject.toml").write_text("[project]\nname='app'\n\n[tool.provision]\n" + body)


class TestPrecedence:
    def test_defaults_are_the_seeds(self, tmp_path):
        settings = load_settings(project_dir=tmp_path, environ={})
        assert (settings.host, settings.port, settings.database, settings.user) == ("127.0.0.1", 3306, "ohdevel",
                                                                                    "ohdev")
        assert settings.env_path == tmp_path / ".env" and settings.state_path == tmp_path / ".devdb"

    def test_pyproject_then_env_then_explicit(self, tmp_path):
        write_pyproject(tmp_path, "port = 3400\ndatabase = 'fromfile'\nuser = 'fileuser'\n")
        settings = load_settings(project_dir=tmp_path, environ={"PROVISION_PORT": "3500",
                                                                "PROVISION_DATABASE": "fromenv"})
        assert (settings.port, settings.database, settings.user) == (3500, "fromenv", "fileuser")
        settings = load_settings({"port": 3600}, project_dir=tmp_path, environ={"PROVISION_PORT": "3500"})
        assert settings.port == 3600

    def test_booleans_from_env(self, tmp_path):
        assert load_settings(project_dir=tmp_path, environ={"PROVISION_FIX_CHARSET": "yes"}).fix_charset is True
        with pytest.raises(ConfigError):
            load_settings(project_dir=tmp_path, environ={"PROVISION_FIX_CHARSET": "maybe"})


class TestBadInput:
    def test_unknown_key_in_pyproject(self, tmp_path):
        write_pyproject(tmp_path, "prot = 1\n")
        with pytest.raises(ConfigError, match="unknown setting 'prot'"):
            load_settings(project_dir=tmp_path, environ={})

    def test_broken_toml(self, tmp_path):
        (tmp_path / "pyproject.toml").write_text("[tool.provision\n")
        with pytest.raises(ConfigError, match="cannot read"):
            load_settings(project_dir=tmp_path, environ={})

    @pytest.mark.parametrize("overrides", [
        {"port": 0}, {"port": "abc"}, {"backend": "podman"}, {"driver": "mysqlclient"},
        {"database": "ohdevel; DROP DATABASE mysql"}, {"password": "x", "generate_password": True},
    ])
    def test_rejected(self, tmp_path, overrides):
        with pytest.raises(ConfigError) as info:
            load_settings(overrides, project_dir=tmp_path, environ={})
        assert info.value.hint
