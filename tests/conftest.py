"""Shared test fixtures: real servers on free ports, each test in its own directory.

Skips are honest: a test skips only when a real prerequisite is missing, and with
PROVISION_TEST_STRICT=1 (set by .ci/run) any skip fails the run, so a green CI means
the real thing ran.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from provision.config import load_settings
from provision.ports import free_port

STRICT = os.environ.get("PROVISION_TEST_STRICT") == "1"

# property tests (tests/properties): a bounded count for `make test`; PROVISION_TEST_EXAMPLES
# raises it for a long run. No deadline: the machine is shared, timing is not the property.
settings.register_profile("provision", max_examples=int(os.environ.get("PROVISION_TEST_EXAMPLES", "150")),
                          deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("provision")
REPO = Path(__file__).resolve().parent.parent


def require(condition: bool, reason: str) -> None:
    """Skip (or, under PROVISION_TEST_STRICT=1, fail) when a real prerequisite is missing."""
    if condition:
        return
    if STRICT:
        pytest.fail(f"prerequisite missing under PROVISION_TEST_STRICT=1: {reason}", pytrace=False)
    pytest.skip(reason)


_skipped: list[str] = []


def pytest_runtest_logreport(report):
    if report.skipped and not hasattr(report, "wasxfail"):
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    if STRICT and _skipped and exitstatus == 0:
        session.exitstatus = 1
        print(f"\nPROVISION_TEST_STRICT=1: {len(_skipped)} test(s) were skipped: {_skipped[:5]}", file=sys.stderr)


@pytest.fixture(scope="session")
def server_binary():
    from provision.backends.native import find_server_binary

    binary = find_server_binary()
    require(binary is not None, "no mariadbd/mysqld installed (apt-get install mariadb-server)")
    return binary


@pytest.fixture
def project(tmp_path):
    """A throwaway app directory: its own state dir, .env and free port."""
    return Project(tmp_path)


class Project:
    def __init__(self, path: Path):
        self.path = path
        self.port = free_port()
        self.env_file = path / ".env"
        self.state_dir = path / ".devdb"

    def settings(self, **overrides):
        values = {"project_dir": self.path, "port": self.port, "timeout": 60}
        values.update(overrides)
        return load_settings(values, environ={})

    def cli(self, *args: str, env: dict | None = None, input: str | None = None) -> subprocess.CompletedProcess:
        """Run the real `provision` CLI in this project directory."""
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("PROVISION_")}
        full_env.update(env or {})
        return subprocess.run(
            [sys.executable, "-m", "provision", *args],
            cwd=self.path, env=full_env, capture_output=True, text=True, input=input, timeout=120,
        )

    def up_args(self, *extra: str) -> list[str]:
        return ["up", "--port", str(self.port), *extra]


@pytest.fixture(scope="session")
def native_server(server_binary, tmp_path_factory):
    """One native MariaDB/MySQL for the session's bootstrap/existing tests; stopped at the end."""
    from provision.backends.native import NativeBackend
    from provision.state import StateDir

    root = tmp_path_factory.mktemp("shared-native")
    settings = load_settings({"project_dir": root, "port": free_port(), "timeout": 60}, environ={})
    backend = NativeBackend(settings, StateDir(settings.state_path))
    started = backend.start()
    yield started.server
    backend.destroy()


MYSQL_IMAGE = os.environ.get("PROVISION_TEST_MYSQL_IMAGE", "provision-test/mysql:9.7")
MARIADB_IMAGE = os.environ.get("PROVISION_TEST_MARIADB_IMAGE", "provision-test/mariadb:10.11")
# The server matrix: the docker, bootstrap, doctor, snapshot and ephemeral suites run on every
# image here (space- or comma-separated); docker/build-image.sh builds the local ones.
IMAGES = tuple((os.environ.get("PROVISION_TEST_IMAGES")
                or f"{MARIADB_IMAGE} provision-test/mariadb:11.8 {MYSQL_IMAGE}").replace(",", " ").split())


def image_id(image: str) -> str:
    """provision-test/mariadb:11.8 -> mariadb-11.8 (a test id)."""
    return image.rsplit("/", 1)[-1].replace(":", "-")


def image_flavor(image: str) -> str:
    return "mariadb" if "mariadb" in image.rsplit("/", 1)[-1] else "mysql"


def matrix_params(*, native: bool = True) -> list:
    """Params for a fixture that runs on the native server and on every image of the matrix."""
    images = [pytest.param(image, id=image_id(image), marks=pytest.mark.docker) for image in IMAGES]
    return ([pytest.param("native", id="native")] if native else []) + images


@pytest.fixture(scope="session")
def container_server():
    """(image, *server options) -> a Server in a container of ours (one per image and options per
    session; nothing is pulled); ``container_server.container_id(image, *options)`` names its container.

    Reached as an existing server: bootstrap, the doctor and the snapshots never ask which
    backend it is. The root password goes through the container's environment (the Docker
    API), never argv. Every container is removed at the end of the session.
    """
    import secrets

    from provision.probe import Server, wait_until_ready
    from provision.url import DatabaseURL

    started: dict = {}
    session = secrets.token_hex(6)  # a create that timed out on our side may still make a container
    creating: list[str] = []

    def get(image: str, *server_args: str):
        key = (image, *server_args)
        if key in started:
            return started[key][1]
        try:
            import docker

            client = docker.from_env(timeout=60)  # a busy engine can take more than 10 s to create one
            client.ping()
        except Exception as exc:  # no SDK or no engine
            require(False, f"no Docker engine ({exc}); run bash docker/start-dockerd.sh")
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            require(False, f"{image} missing (make docker-images, or bash docker/build-image.sh --help)")
        password = secrets.token_urlsafe(12)
        creating.append(image)
        container = client.containers.run(
            image, list(server_args), detach=True,
            labels={"provision.test": image_id(image), "provision.test.session": session},
            environment={"MYSQL_ROOT_PASSWORD": password, "MYSQL_INITDB_SKIP_TZINFO": "1"},
            ports={"3306/tcp": ("127.0.0.1", None)})
        started[key] = (container, None)
        container.reload()
        port = int(container.ports["3306/tcp"][0]["HostPort"])
        server = Server(DatabaseURL(user="root", password=password, host="127.0.0.1", port=port), "127.0.0.1",
                        port, local=True)
        wait_until_ready(server, timeout=180, what=f"{image} container").close()
        started[key] = (container, server)
        return server

    get.container_id = lambda image, *server_args: started[(image, *server_args)][0].id

    yield get
    if creating:
        import docker

        client = docker.from_env(timeout=60)
        for container in client.containers.list(all=True, filters={"label": f"provision.test.session={session}"}):
            container.remove(force=True, v=True)


@pytest.fixture(scope="session")
def mysql97(container_server):
    """MySQL (PROVISION_TEST_MYSQL_IMAGE, default the local 9.7 image) in a container of ours."""
    return container_server(MYSQL_IMAGE)


@pytest.fixture(params=matrix_params())
def matrix_server(request):
    """The native server, then a container of every image in the matrix (PROVISION_TEST_IMAGES)."""
    if request.param == "native":
        return request.getfixturevalue("native_server")
    return request.getfixturevalue("container_server")(request.param)
