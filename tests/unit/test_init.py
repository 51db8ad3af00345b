"""`provision init` on copies of real app layouts, each a real git repo in tmp_path.

Oracles we did not write: tomllib for pyproject/Pipfile, python-dotenv for .env.example,
SQLAlchemy's make_url for the URL, `git check-ignore` for .gitignore, GNU make (`make -n`,
`make -p`) for the Makefile, `git apply` for the --dry-run diff.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from provision import adopt
from provision.config import load_settings
from provision.errors import InitError
from tests.conftest import REPO, require

OKSERVER = REPO / "tests" / "fixtures" / "okserver"
SOURCE = "git+https://git.example.org/provision.git@v0.1.0"  # what a maintainer passes with --source


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def repo(path: Path, files: dict[str, str] | None = None, copy_of: Path | None = None) -> Path:
    if copy_of:
        shutil.copytree(copy_of, path)
    path.mkdir(exist_ok=True)
    for name, text in (files or {}).items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "the app")
    return path


def snapshot(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(path).parts}


def cli(cwd: Path, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "provision", "init", *args], cwd=cwd, capture_output=True,
                          text=True, input=input, timeout=120,
                          env={k: v for k, v in os.environ.items() if not k.startswith("PROVISION_")})


def make(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    require(shutil.which("make") is not None, "GNU make is not installed (apt-get install make)")
    return subprocess.run([shutil.which("make"), "--no-print-directory", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


def init_twice(app: Path, **options) -> adopt.Plan:
    """init, then init again: the second plans no change (idempotence, in every test)."""
    plan = adopt.plan(app, source=SOURCE, **options)
    adopt.apply(plan)
    assert adopt.plan(app, source=SOURCE, **options).pending == []
    return plan


class TestOkServer:
    """The seed's app: manage.py with Flask-Script, Flask-Migrate's migrations/, requirements.txt, a Makefile."""

    def test_adds_only_what_is_missing_and_keeps_every_byte(self, tmp_path):
        app = repo(tmp_path / "ok", copy_of=OKSERVER)
        before = snapshot(app)
        make_before = make(app, "-n", "test", "lint", "serve").stdout

        plan = init_twice(app)

        after = snapshot(app)
        assert sorted(set(after) - set(before)) == [".env.example", "pyproject.toml", "requirements-dev.txt"]
        for name in ("Makefile", ".gitignore"):  # appended to, never rewritten
            assert after[name].startswith(before[name]) and after[name] != before[name]
        assert {k: v for k, v in after.items() if k in before and k not in ("Makefile", ".gitignore")} == \
            {k: v for k, v in before.items() if k not in ("Makefile", ".gitignore")}
        assert make(app, "-n", "test", "lint", "serve").stdout == make_before  # its targets are untouched
        assert any("Flask-Migrate" in line for line in plan.findings)

    def test_warns_that_its_pins_exclude_provisions(self, tmp_path):
        """Flask 1.1's click 7 against typer's click>=8.2: read from the installed metadata, not hard-coded."""
        from importlib.metadata import requires

        typer_click = next(r for r in requires("typer") if r.startswith("click"))
        app = repo(tmp_path / "ok", copy_of=OKSERVER)
        warning = next(w for w in adopt.plan(app, source=SOURCE).warnings if "cannot share" in w)
        assert f"requirements.txt pins click==7.1.2, provision needs {typer_click.replace(' ', '')} (through typer)" \
            in warning

    def test_settings_the_config_loader_reads(self, tmp_path):
        app = repo(tmp_path / "ok", copy_of=OKSERVER)
        init_twice(app)
        settings = load_settings(project_dir=app, environ={})
        assert (settings.database, settings.user, settings.driver, settings.framework) == \
            ("ohdevel", "ohdev", "mysql", "flask-migrate")
        assert "project" not in tomllib.loads((app / "pyproject.toml").read_text())  # only [tool.provision]

    def test_env_example_has_the_seeds_url(self, tmp_path):
        from dotenv import dotenv_values
        from sqlalchemy.engine import make_url

        app = repo(tmp_path / "ok", copy_of=OKSERVER)
        init_twice(app)
        url = dotenv_values(app / ".env.example")["DATABASE_URL"]
        assert url == "mysql://ohdev:@127.0.0.1:3306/ohdevel?charset=utf8mb4"
        parsed = make_url(url)
        assert (parsed.drivername, parsed.username, parsed.database, parsed.query["charset"]) == \
            ("mysql", "ohdev", "ohdevel", "utf8mb4")

    def test_gitignore_covers_state_env_and_venv(self, tmp_path):
        app = repo(tmp_path / "ok", copy_of=OKSERVER)
        init_twice(app)
        for path in (".env", ".devdb/state.json", ".venv-provision/bin/python"):
            git(app, "-c", "core.excludesFile=/dev/null", "check-ignore", "-q", "--no-index", path)

    def test_makefile_targets_reach_provision_in_the_venv(self, tmp_path):
        app = repo(tmp_path / "ok", copy_of=OKSERVER)
        init_twice(app)
        text = (app / "Makefile").read_text()
        assert "\n\t@$(DEV_DB) up $(if $(filter 1 y yes true,$(YES)),--install --yes) $(ARGS) \\\n\t\t|| {" in text
        assert "    $(DEV_DB)" not in text  # recipes use tabs
        dry = make(app, "-n", "dev-db", "ARGS=--port 3307")
        assert dry.returncode == 0, dry.stderr
        # its pins exclude provision's (click 7): provision gets a venv apart from the app's
        assert "python3 -m venv .venv-provision" in dry.stdout
        assert ".venv-provision/bin/python -m pip install -q -r requirements-dev.txt" in dry.stdout
        assert ".venv-provision/bin/provision up  --port 3307" in dry.stdout
        scripted = make(app, "-n", "dev-db", "ARGS=--port 3307", "YES=1")  # as provision's own Makefile
        assert ".venv-provision/bin/provision up --install --yes --port 3307" in scripted.stdout
        assert (app / "requirements-dev.txt").read_text().splitlines()[-2:] == [
            "# make dev-db installs provision into .venv-provision, apart from the app",
            "provision @ git+https://git.example.org/provision.git@v0.1.0"]
        hooks = make(app, "-n", "dev-db-hooks")
        assert ".venv-provision/bin/provision hooks install" in hooks.stdout
        database = make(app, "-p", "-n", "dev-db-status").stdout  # make's own view of the rules
        for target in ("dev-db:", "dev-db-down:", "dev-db-status:", "dev-db-reset:", "dev-db-hooks:", "test:",
                       "lint:", "serve:"):
            assert f"\n{target}" in database


    def test_a_venv_whose_packages_broke_provision_gets_a_hint(self, tmp_path):
        """The app installed into make dev-db's .venv after it (unpinned click: no warning at init)."""
        app = repo(tmp_path / "ok", copy_of=OKSERVER)
        requirements = app / "requirements.txt"
        requirements.write_text("".join(line for line in requirements.read_text().splitlines(True)
                                        if not line.startswith("click==")))
        init_twice(app)
        assert "DEV_DB_VENV ?= .venv\n" in (app / "Makefile").read_text()
        subprocess.run([sys.executable, "-m", "venv", str(app / ".venv")], check=True)
        # a real installed distribution whose requirement is not met: what `pip check` reports after an
        # app's pins replaced one of provision's dependencies
        site = next((app / ".venv" / "lib").glob("python*/site-packages"))
        info = site / "needs_new_click-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: needs-new-click\nVersion: 1.0\n"
                                       "Requires-Dist: click>=99\n")
        (info / "RECORD").write_text("")
        provision = app / ".venv" / "bin" / "provision"  # stands for the provision that no longer starts
        provision.write_text("#!/bin/sh\necho 'TypeError: type Choice is not subscriptable' >&2\nexit 1\n")
        provision.chmod(0o755)
        result = make(app, "dev-db")
        assert result.returncode != 0
        assert "hint: packages installed later into .venv broke provision's dependencies" in result.stdout
        assert "DEV_DB_VENV ?= .venv-provision" in result.stdout


class TestCommand:
    """The CLI: a diff first, a confirmation, all or nothing, and a second run that says so."""

    def test_dry_run_diff_applies_to_the_same_result(self, tmp_path):
        written = repo(tmp_path / "a", copy_of=OKSERVER)
        patched = repo(tmp_path / "b", copy_of=OKSERVER)
        dry = cli(patched, "--dry-run", "--source", SOURCE)
        assert dry.returncode == 0, dry.stderr
        assert git(patched, "status", "--porcelain") == ""  # nothing written
        (tmp_path / "patch").write_text(dry.stdout)
        git(patched, "apply", str(tmp_path / "patch"))
        done = cli(written, "--yes", "--source", SOURCE)
        assert done.returncode == 0, done.stderr
        assert snapshot(patched) == snapshot(written)

    def test_second_run_reports_no_change(self, tmp_path):
        app = repo(tmp_path / "ok", copy_of=OKSERVER)
        assert cli(app, "--yes", "--source", SOURCE).returncode == 0
        git(app, "add", "-A")
        git(app, "commit", "-q", "-m", "make dev-db")
        again = cli(app, "--yes", "--source", SOURCE)
        assert again.returncode == 0 and again.stdout == "already adopted: nothing to change\n"
        assert git(app, "status", "--porcelain") == ""

    def test_without_a_terminal_it_asks_for_yes(self, tmp_path):
        app = repo(tmp_path / "ok", copy_of=OKSERVER)
        result = cli(app, "--source", SOURCE, input="")
        assert result.returncode == 2 and "provision init --yes" in result.stderr
        assert git(app, "status", "--porcelain") == ""

    def test_tracked_env_gets_a_warning_not_a_change(self, tmp_path):
        app = repo(tmp_path / "ok", copy_of=OKSERVER, files={".env": "SECRET_KEY=x\n"})
        result = cli(app, "--yes", "--source", SOURCE)
        assert result.returncode == 0, result.stderr
        assert "warning: .env is tracked by git" in result.stderr and "git rm --cached .env" in result.stderr
        assert (app / ".env").read_text() == "SECRET_KEY=x\n"

    def test_a_local_checkout_source_is_named_with_a_warning(self, tmp_path):
        app = repo(tmp_path / "ok", copy_of=OKSERVER)
        result = cli(app, "--yes", "--source", str(REPO))
        assert result.returncode == 0, result.stderr
        assert f"provision @ {REPO.as_uri()}" in (app / "requirements-dev.txt").read_text()
        assert "is a path on this machine" in result.stderr


class TestDjango:
    """A Django project: requirements-dev.txt already there, the URL in its settings (dj-database-url)."""

    FILES = {
        "manage.py": "#!/usr/bin/env python\nimport os, sys\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', "
                     "'shop.settings')\nfrom django.core.management import execute_from_command_line\n"
                     "execute_from_command_line(sys.argv)\n",
        "shop/__init__.py": "",
        "shop/settings.py": "import dj_database_url\nDATABASES = {'default': dj_database_url.config("
                            "default='mysql://shop:@localhost:3306/shop_dev')}\n",
        "requirements.txt": "Django>=5.0\ndj-database-url\nmysqlclient\n",
        "requirements-dev.txt": "-r requirements.txt\npytest\npytest-django",  # no final newline
        ".gitignore": "*.pyc\r\n.env*\r\n",  # CRLF, and a pattern that already covers .env
    }

    def test_names_from_its_url_and_its_dev_requirements(self, tmp_path):
        app = repo(tmp_path / "shop", self.FILES)
        init_twice(app)
        settings = load_settings(project_dir=app, environ={})
        assert (settings.database, settings.user, settings.driver, settings.framework) == \
            ("shop_dev", "shop", "mysql", "django")
        assert (app / "requirements-dev.txt").read_text() == \
            "-r requirements.txt\npytest\npytest-django\nprovision @ git+https://git.example.org/provision.git@v0.1.0\n"
        assert (app / ".gitignore").read_bytes() == \
            b"*.pyc\r\n.env*\r\n# provision: the dev database's state and the local .env it writes\r\n.devdb/\r\n.venv/\r\n"
        assert "\nDEV_DB_VENV ?= .venv\n" in (app / "Makefile").read_text()  # no pin excludes provision's


class TestUvProject:
    """A pyproject/uv project: [dependency-groups], uv.lock, a Makefile with a dev-db-status of its own."""

    PYPROJECT = (
        '[project]\nname = "api"\nversion = "1.0"\ndependencies = [\n    "sqlalchemy>=2",\n    "pymysql",\n]\n\n'
        '[dependency-groups]\ndev = [\n    "pytest>=8",  # tests\n    "ruff",\n]\n\n[tool.ruff]\nline-length = 100\n'
    )
    MAKEFILE = "check:\n\truff check .\n\ndev-db-status:\n\t@echo our own status\n"

    def test_group_runner_and_its_own_target_kept(self, tmp_path):
        app = repo(tmp_path / "api", {"pyproject.toml": self.PYPROJECT, "uv.lock": "version = 1\n",
                                      "Makefile": self.MAKEFILE,
                                      "alembic.ini": "[alembic]\nscript_location = migrations\n",
                                      "api/db.py": "URL = 'mysql+pymysql://api:@127.0.0.1/api'\n"})
        plan = init_twice(app)
        data = tomllib.loads((app / "pyproject.toml").read_text())
        assert data["dependency-groups"]["dev"] == ["pytest>=8", "ruff",
                                                    "provision @ git+https://git.example.org/provision.git@v0.1.0"]
        assert data["tool"]["provision"] == {"database": "api", "user": "api", "driver": "pymysql",
                                             "framework": "alembic"}
        # every other byte kept: one line into the group, the table at the end
        assert (app / "pyproject.toml").read_text() == self.PYPROJECT.replace(
            '    "ruff",\n', '    "ruff",\n    "provision @ git+https://git.example.org/provision.git@v0.1.0",\n') + (
            '\n[tool.provision]\n# `make dev-db` runs `provision up` with these; PROVISION_* variables and flags '
            'override them\ndatabase = "api"\nuser = "api"\ndriver = "pymysql"\nframework = "alembic"\n')
        makefile = (app / "Makefile").read_text()
        assert makefile.startswith(self.MAKEFILE)
        assert makefile.count("dev-db-status:") == 1  # theirs, untouched
        assert "DEV_DB := uv run provision" in makefile
        assert any("kept the Makefile's own dev-db-status" in line for line in plan.findings)
        assert make(app, "dev-db-status").stdout == "our own status\n"


    def test_targets_of_included_makefiles_count(self, tmp_path):
        app = repo(tmp_path / "api", {"pyproject.toml": self.PYPROJECT, "uv.lock": "version = 1\n",
                                      "Makefile": "include mk/*.mk\n\ncheck:\n\ttrue\n",
                                      "mk/db.mk": "dev-db:\n\t@echo our own dev-db\n"})
        init_twice(app)
        makefile = (app / "Makefile").read_text()
        assert "\ndev-db:" not in makefile and "\ndev-db-down:" in makefile
        result = make(app, "dev-db")
        assert result.stdout == "our own dev-db\n" and "overriding" not in result.stderr


class TestNoMakefile:
    """An app with no Python environment and no Makefile: a new Makefile and a provision on PATH."""

    def test_new_makefile_says_how_to_install_provision(self, tmp_path):
        app = repo(tmp_path / "site", {"README.md": "a PHP site\n", "index.php": "<?php echo 1;\n"})
        init_twice(app)
        assert not (app / "requirements-dev.txt").exists()
        text = (app / "Makefile").read_text()
        assert text.startswith("# --- dev database (provision) ---\n")
        # a PATH with make's helpers but no provision: the target stops and says the one install command
        bare = tmp_path / "bin"
        bare.mkdir()
        for tool in ("sh", "echo"):
            if shutil.which(tool):
                (bare / tool).symlink_to(shutil.which(tool))
        result = make(app, "dev-db", env={"PATH": str(bare)})
        assert result.returncode != 0
        assert "error: provision is not installed" in result.stdout
        assert "hint: pipx install 'provision @ git+https://git.example.org/provision.git@v0.1.0'" in result.stdout

    def test_provision_on_path_is_run_with_args(self, tmp_path):
        app = repo(tmp_path / "site", {"README.md": "a site\n"})
        init_twice(app)
        bindir = tmp_path / "bin"
        bindir.mkdir()
        fake = bindir / "provision"  # a real executable on PATH that records how make called it
        fake.write_text("#!/bin/sh\necho \"called: $* port=$PROVISION_PORT\"\n")
        fake.chmod(0o755)
        env = {"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", "PROVISION_PORT": "3399"}
        result = make(app, "dev-db", "ARGS=--backend native", env=env)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().endswith("called: up --backend native port=3399")


class TestOtherForms:
    """poetry groups, Pipfile [dev-packages], [project.optional-dependencies]: each in its own spelling."""

    def test_poetry_group(self, tmp_path):
        text = '[tool.poetry]\nname = "x"\n\n[tool.poetry.dependencies]\npython = "^3.11"\n'
        app = repo(tmp_path / "p", {"pyproject.toml": text, "poetry.lock": ""})
        init_twice(app)
        data = tomllib.loads((app / "pyproject.toml").read_text())
        assert data["tool"]["poetry"]["group"]["dev"]["dependencies"]["provision"] == \
            {"git": "https://git.example.org/provision.git", "rev": "v0.1.0"}
        assert "poetry run provision" in (app / "Makefile").read_text()

    def test_pipfile(self, tmp_path):
        text = '[packages]\nflask = "*"\n\n[dev-packages]\npytest = "*"\n'
        app = repo(tmp_path / "p", {"Pipfile": text})
        init_twice(app)
        data = tomllib.loads((app / "Pipfile").read_text())
        assert data["dev-packages"] == {"pytest": "*", "provision": {"git": "https://git.example.org/provision.git",
                                                                      "ref": "v0.1.0"}}
        assert "pipenv run provision" in (app / "Makefile").read_text()

    def test_optional_dependencies_for_pip(self, tmp_path):
        text = '[project]\nname = "x"\nversion = "1"\n\n[project.optional-dependencies]\ndev = ["pytest"]\n'
        app = repo(tmp_path / "p", {"pyproject.toml": text})
        init_twice(app)
        data = tomllib.loads((app / "pyproject.toml").read_text())
        assert data["project"]["optional-dependencies"]["dev"][-1].startswith("provision @ git+")
        assert "pip install -q -e '.[dev]'" in make(app, "-n", "dev-db").stdout


class TestBadInput:
    """A clear error, and not one byte written."""

    @pytest.mark.parametrize("name,content,message", [
        ("pyproject.toml", b"[project\nname = 1\n", "cannot parse pyproject.toml"),
        (".gitignore", b"\xff\xfe*.pyc\n", ".gitignore is not UTF-8 text"),
        ("Pipfile", b"[dev-packages\npytest = '*'\n", "cannot parse Pipfile"),
        ("Makefile", b"test:\n\t@echo \xe9t\xe9\n", "Makefile is not UTF-8 text"),
    ])
    def test_unreadable_file(self, tmp_path, name, content, message):
        app = repo(tmp_path / "ok", copy_of=OKSERVER)
        (app / name).write_bytes(content)
        before = snapshot(app)
        result = cli(app, "--yes", "--source", SOURCE)
        assert result.returncode == 2 and f"error: {message}" in result.stderr
        assert "Traceback" not in result.stderr
        assert snapshot(app) == before

    @pytest.mark.parametrize("option,message", [
        (["--database", "my-db"], "invalid database name"),
        (["--user", "root"], "is a server account"),
        (["--driver", "mysqldb"], "unknown driver"),
        (["--source", "django>=5"], "names 'django', not provision"),
        (["--source", "/nonexistent/provision"], "is not a checkout of provision"),
    ])
    def test_bad_options(self, tmp_path, option, message):
        app = repo(tmp_path / "ok", copy_of=OKSERVER)
        result = cli(app, "--yes", *option) if option[0] == "--source" else cli(app, "--yes", "--source", SOURCE,
                                                                                 *option)
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert git(app, "status", "--porcelain", "--ignored") == ""

    def test_a_failed_write_puts_every_file_back(self, tmp_path):
        app = repo(tmp_path / "ok", copy_of=OKSERVER)
        before = snapshot(app)
        plan = adopt.plan(app, source=SOURCE)
        # the last file's directory turns into a file after planning: its write fails half-way through
        blocker = adopt.changes.FileChange(app / "docs" / "x.txt", "docs/x.txt", None, b"x\n", "test")
        (app / "docs").write_text("a file where a directory was expected\n")
        before["docs"] = (app / "docs").read_bytes()
        plan.changes.append(blocker)
        with pytest.raises(InitError, match="every file was put back"):
            adopt.apply(plan)
        assert snapshot(app) == before
