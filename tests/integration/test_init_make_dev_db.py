"""The issue's "Done when", for real: an OK-server-shaped app adopts provision with `provision init --yes`
and a commit; a fresh `git clone` of it runs the generated `make dev-db` (which builds a venv in the clone and
installs provision from this checkout), gets the seed's URL, and `./manage.py db upgrade` (Flask-Script +
Flask-Migrate, the app installed into .venv) migrates that database; make dev-db still works after that."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from provision.ports import free_port
from tests.conftest import REPO, require
from tests.unit.test_init import OKSERVER, git, repo

pytestmark = [pytest.mark.mysql, pytest.mark.native, pytest.mark.slow]


def run(cmd: list[str], cwd: Path, env: dict, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_fresh_clone_make_dev_db_then_db_upgrade(tmp_path, server_binary):
    require(shutil.which("make") is not None, "GNU make is not installed (apt-get install make)")
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("PROVISION_", "VIRTUAL_ENV"))}
    upstream = repo(tmp_path / "ok", copy_of=OKSERVER)

    # the maintainer: init (provision from this checkout) and a commit are enough
    adopted = run([sys.executable, "-m", "provision", "init", "--yes", "--source", str(REPO)], upstream, base_env)
    assert adopted.returncode == 0, adopted.stderr
    git(upstream, "add", "-A")
    git(upstream, "commit", "-q", "-m", "make dev-db")
    again = run([sys.executable, "-m", "provision", "init", "--yes", "--source", str(REPO)], upstream, base_env)
    assert again.stdout == "already adopted: nothing to change\n"

    # a new contributor: a fresh clone, make dev-db on a free port with the native backend
    clone = tmp_path / "contributor"
    git(tmp_path, "clone", "-q", str(upstream), str(clone))
    port = free_port()
    env = {**base_env, "PROVISION_PORT": str(port), "PROVISION_BACKEND": "native"}
    try:
        first = run(["make", "dev-db"], clone, env)
        assert first.returncode == 0, first.stdout + first.stderr
        assert (clone / ".venv-provision" / "bin" / "provision").is_file()  # apart: the app pins click 7
        from dotenv import dotenv_values

        url = dotenv_values(clone / ".env")["DATABASE_URL"]
        assert url == f"mysql://ohdev:@127.0.0.1:{port}/ohdevel?charset=utf8mb4"
        assert git(clone, "status", "--porcelain") == ""  # .env, .devdb/, .venv-provision/ are ignored

        # the app's own environment in .venv (click 7 and all): provision's venv is apart, nothing breaks
        venv = run([sys.executable, "-m", "venv", ".venv"], clone, base_env)
        assert venv.returncode == 0, venv.stderr
        pip = run([".venv/bin/python", "-m", "pip", "install", "-q", "-r", "requirements.txt"], clone, base_env)
        assert pip.returncode == 0, pip.stderr[-3000:]
        manage_env = {**base_env, "DATABASE_URL": url, "PATH": f"{clone / '.venv' / 'bin'}{os.pathsep}"
                      f"{base_env['PATH']}"}
        upgrade = run(["./manage.py", "db", "upgrade"], clone, manage_env)  # the seed's command, as written
        assert upgrade.returncode == 0, upgrade.stderr[-3000:]
        assert "Running upgrade  -> 6eb58a886a0d" in upgrade.stderr

        import pymysql

        from provision.url import parse

        head = _head(clone)
        connection = pymysql.connect(**parse(url).connect_kwargs())
        with connection, connection.cursor() as cursor:
            cursor.execute("SELECT version_num FROM alembic_version")
            assert cursor.fetchall() == ((head,),)
            cursor.execute("SHOW TABLES")
            assert {row[0] for row in cursor.fetchall()} == {"alembic_version", "assignment", "user"}

        # a second make dev-db, the port as a make variable this time: nothing changes
        second = run(["make", "dev-db", f"PROVISION_PORT={port}"], clone,
                     {k: v for k, v in env.items() if k != "PROVISION_PORT"})
        assert second.returncode == 0, second.stderr
        assert "already up: nothing changed" in second.stdout
        status = run(["make", "dev-db-status"], clone, env)
        assert status.returncode == 0 and str(port) in status.stdout

        # opt-in: the branch hook (issue 12) through the app's own provision; a branch's own database
        hooks = run(["make", "dev-db-hooks"], clone, env)
        assert hooks.returncode == 0, hooks.stdout + hooks.stderr
        hook = clone / ".git" / "hooks" / "post-checkout"
        assert str(clone / ".venv-provision" / "bin" / "python") in hook.read_text()
        git(clone, "checkout", "-q", "-b", "feature")
        with pymysql.connect(**parse(url).connect_kwargs()) as connection, connection.cursor() as cursor:
            cursor.execute("DROP TABLE assignment")  # the feature branch's change
        git(clone, "checkout", "-q", "main")
        with pymysql.connect(**parse(url).connect_kwargs()) as connection, connection.cursor() as cursor:
            cursor.execute("SHOW TABLES")  # main's tables are back, same URL
            assert {row[0] for row in cursor.fetchall()} == {"alembic_version", "assignment", "user"}
    finally:
        if (clone / ".venv-provision" / "bin" / "provision").exists():
            run([str(clone / ".venv-provision" / "bin" / "provision"), "destroy", "--yes"], clone, env)


def _head(clone: Path) -> str:
    """The migrations' head, read by Alembic's own ScriptDirectory (not by us)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(clone / "migrations")).get_current_head()


UV_PYPROJECT = """[project]
name = "api"
version = "1.0"
requires-python = ">=3.10"
dependencies = ["sqlalchemy>=2", "pymysql"]

[dependency-groups]
dev = ["pytest>=8"]
"""


def test_uv_project_fresh_clone_make_dev_db(tmp_path, server_binary):
    """A pyproject/uv app: init adds provision to its dev group; a fresh clone's make dev-db runs `uv run`."""
    require(shutil.which("make") is not None, "GNU make is not installed (apt-get install make)")
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    require(Path(uv).is_file(), "uv is not installed (it is in the test extra: pip install -e '.[test]')")
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("PROVISION_", "VIRTUAL_ENV", "UV_"))}
    base_env["PATH"] = f"{Path(uv).parent}{os.pathsep}{base_env['PATH']}"
    upstream = tmp_path / "api"
    (upstream / "api").mkdir(parents=True)
    (upstream / "pyproject.toml").write_text(UV_PYPROJECT)
    (upstream / "api" / "db.py").write_text("URL = 'mysql+pymysql://api:@127.0.0.1/api'\n")
    assert run([uv, "lock", "-q"], upstream, base_env).returncode == 0
    repo(upstream)

    adopted = run([sys.executable, "-m", "provision", "init", "--yes", "--source", str(REPO)], upstream, base_env)
    assert adopted.returncode == 0, adopted.stderr
    assert "next: uv lock" in adopted.stdout
    assert run([uv, "lock", "-q"], upstream, base_env).returncode == 0
    git(upstream, "add", "-A")
    git(upstream, "commit", "-q", "-m", "make dev-db")

    clone = tmp_path / "contributor"
    git(tmp_path, "clone", "-q", str(upstream), str(clone))
    port = free_port()
    env = {**base_env, "PROVISION_PORT": str(port), "PROVISION_BACKEND": "native"}
    try:
        first = run(["make", "dev-db"], clone, env)
        assert first.returncode == 0, first.stdout + first.stderr
        from dotenv import dotenv_values
        from sqlalchemy import create_engine, text

        url = dotenv_values(clone / ".env")["DATABASE_URL"]
        assert url == f"mysql+pymysql://api:@127.0.0.1:{port}/api?charset=utf8mb4"  # the app's own driver
        engine = create_engine(url)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT DATABASE()")).scalar() == "api"
        engine.dispose()
        assert git(clone, "status", "--porcelain") == ""  # uv.lock already lists provision; .venv/ ignored
    finally:
        run([uv, "run", "provision", "destroy", "--yes"], clone, env)
