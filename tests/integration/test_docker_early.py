"""`provision up` on the docker backend starts the container while the CLI imports
(backends/docker_early.py): through the real CLI, on a real Docker engine."""
from __future__ import annotations

import json

import pytest

from .helpers import env_url, json_out, query
from .test_docker_backend import container_of, docker_client, dproject, image_for  # noqa: F401

pytestmark = [pytest.mark.docker, pytest.mark.mysql, pytest.mark.slow]

AHEAD = "the start began ahead of the CLI's imports"


def test_first_up_and_up_after_down_start_ahead(dproject, docker_client, image_for):  # noqa: F811
    args = dproject.up_args("--backend", "docker", "--image", image_for("mariadb"))
    first = dproject.cli(*args, "--debug")
    assert first.returncode == 0, first.stderr
    assert AHEAD in first.stderr and "(initialized)" in first.stdout, first.stderr
    # the thread's records reach the CLI's log once it is set up, at its level
    assert "docker: waiting for the server in" in first.stderr
    query(env_url(dproject.env_file), "CREATE TABLE kept (n INT)")
    assert dproject.cli("down").returncode == 0
    again = dproject.cli("up")  # backend and port from the state
    assert again.returncode == 0, again.stderr
    assert "(started)" in again.stdout and "provision: docker: waiting for the server in" in again.stderr
    assert query(env_url(dproject.env_file), "SELECT COUNT(*) FROM kept") == ((0,),)
    quiet = dproject.cli("up", "--json")
    assert json.loads(quiet.stdout)["server_action"] == "already running"
    assert quiet.stderr == "", quiet.stderr  # --json: the handed-over records are below its level too


def test_other_options_start_it_in_the_cli(dproject, docker_client, image_for):  # noqa: F811
    result = dproject.cli(*dproject.up_args("--backend", "docker", "--image", image_for("mariadb"),
                                            "--database", "ohdevel", "--debug"))
    assert result.returncode == 0, result.stderr
    assert AHEAD not in result.stderr


def test_without_a_port_choose_decides_first(dproject, docker_client, image_for):  # noqa: F811
    """No --port and none recorded: choose() may move the project to a port of its own, so no head start."""
    result = dproject.cli("up", "--backend", "docker", "--image", image_for("mariadb"), "--debug",
                          env={"PROVISION_DEFAULT_PORT": str(dproject.port)})
    assert result.returncode == 0, result.stderr
    assert AHEAD not in result.stderr and "(initialized)" in result.stdout
    assert json_out(dproject.cli("up", "--json"))["port"] == dproject.port
