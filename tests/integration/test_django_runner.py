"""Django's own runner on the URL `provision up` wrote: native MariaDB 10.11 and MySQL 9.7 in Docker.

The app (tests/apps/django_app) reads DATABASE_URL from provision's .env. Nothing is granted
by hand: `manage.py test` makes test_ohdevel, `--parallel 2` clones it into test_ohdevel_1/_2
by piping mysqldump into mysql (the client tools on this machine), `--keepdb` keeps them.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import MYSQL_IMAGE, Project, require
from .helpers import env_url, json_out, query

pytestmark = [pytest.mark.mysql, pytest.mark.slow]

APP = Path(__file__).resolve().parent.parent / "apps" / "django_app"


@pytest.fixture(params=["mariadb", pytest.param("mysql", marks=pytest.mark.docker)])
def django_project(request, project: Project):
    """The Django app copied into a fresh project, its server up by `provision up`; destroyed after."""
    require(shutil.which("mysqldump") is not None and shutil.which("mysql") is not None,
            "Django's --parallel clone needs the mysql and mysqldump clients (apt-get install mariadb-client)")
    shutil.copytree(APP, project.path, dirs_exist_ok=True)
    if request.param == "mariadb":
        request.getfixturevalue("server_binary")
        args = ["--backend", "native"]
    else:
        _require_image()
        args = ["--backend", "docker", "--image", MYSQL_IMAGE]
    data = json_out(project.cli(*project.up_args("--json", *args)))
    yield project, data
    project.cli("destroy", "--yes")


def _require_image() -> None:
    try:
        import docker

        client = docker.from_env(timeout=10)
        client.images.get(MYSQL_IMAGE)
    except Exception as exc:
        require(False, f"no Docker engine or no {MYSQL_IMAGE} ({exc}); bash docker/build-image.sh --flavor mysql")


def manage(project: Project, *args: str) -> subprocess.CompletedProcess:
    """`./manage.py <args> --noinput` as CI runs it: DATABASE_URL comes from the .env only."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("PROVISION_")}
    return subprocess.run([sys.executable, "manage.py", *args, "--noinput"], cwd=project.path, env=env,
                          capture_output=True, text=True, timeout=300)


def passed(result: subprocess.CompletedProcess) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "\nOK" in output, output
    return output


class TestDjangoRunner:
    def test_manage_py_test_parallel_and_keepdb(self, django_project):
        project, data = django_project
        assert data["framework"]["name"] == "django"
        assert data["framework"]["evidence"] == ["manage.py", "mysite/settings.py"]
        url = env_url(project.env_file)

        output = passed(manage(project, "test"))
        assert "DATABASE=test_ohdevel\n" in output

        output = passed(manage(project, "test", "--parallel", "2"))
        assert "Cloning test database" in output
        if data["flavor"] == "mariadb":
            assert "denied" not in output, output  # the clone needs nothing more there (README, Django)
        # every worker ran its tests on its own clone, with the tables the clone copied
        assert {"DATABASE=test_ohdevel_1", "DATABASE=test_ohdevel_2"} & set(output.split()), output

        for _ in range(2):
            output = passed(manage(project, "test", "--keepdb"))
            assert "Using existing test database" in output or "Preserving test database" in output
        for _ in range(2):
            passed(manage(project, "test", "--keepdb", "--parallel", "2"))
        databases = {row[0] for row in query(url, "SHOW DATABASES LIKE 'test\\_ohdevel%'")}
        assert databases == {"test_ohdevel", "test_ohdevel_1", "test_ohdevel_2"}

        passed(manage(project, "test"))  # without --keepdb the runner drops what it made
        assert query(url, "SHOW DATABASES LIKE 'test\\_ohdevel'") == ()

        # least privilege: nothing global, only the app's names
        grants = [row[0] for row in query(url, "SHOW GRANTS")]
        assert grants[0].startswith("GRANT USAGE ON *.*"), grants
        assert sorted(g.split(" ON ")[1].split(" TO ")[0] for g in grants[1:]) == [
            "`ohdevel\\_%`.*", "`ohdevel`.*", "`test\\_ohdevel\\_%`.*", "`test\\_ohdevel`.*"]


@pytest.mark.docker
def test_djangos_clone_with_mysqls_own_client_tools(project: Project):
    """The clone Django runs, with MySQL 9.7's own mysqldump and mysql (inside the container), as the
    app user: the dump loads (no GTID statements) and the clone has the rows; PROCESS is not needed."""
    _require_image()
    import docker

    json_out(project.cli(*project.up_args("--json", "--backend", "docker", "--image", MYSQL_IMAGE),
                         env={"PROVISION_FRAMEWORK": "django"}))
    try:
        url = env_url(project.env_file)
        query(url, "CREATE TABLE notes (id INT PRIMARY KEY, title VARCHAR(20))")
        query(url, "INSERT INTO notes VALUES (1, 'kept')")
        client = docker.from_env(timeout=60)
        [container] = client.containers.list(filters={"label": f"dev.provision.state={project.state_dir.resolve()}"})
        login = "-h127.0.0.1 -uohdev"  # the app user (ohdev@'%', empty password, as in the seed)
        clone = (f"mysql {login} -e 'CREATE DATABASE test_ohdevel_1' && "
                 f"mysqldump {login} --routines --events ohdevel | mysql {login} test_ohdevel_1")
        code, output = container.exec_run(["sh", "-c", clone + "; echo pipe=$?"])
        text = output.decode()
        assert code == 0 and "pipe=0" in text, text
        assert query(url, "SELECT title FROM test_ohdevel_1.notes") == (("kept",),)
        # what mysqldump says without PROCESS: a message, not a failure (README, Test suites)
        assert "GTID" not in text
    finally:
        project.cli("destroy", "--yes")
