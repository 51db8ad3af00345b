"""The docker backend end to end, on a real Docker engine, through the real CLI.

Every behaviour runs on both flavors: the images come from PROVISION_TEST_MYSQL_IMAGE
(default provision-test/mysql:9.7) and PROVISION_TEST_MARIADB_IMAGE (default
provision-test/mariadb:10.11), built from Debian packages by docker/build-image.sh; with
a registry, PROVISION_TEST_MYSQL_IMAGE=mysql:8.4 runs them on the official image.

Read-only checks share one container per image of the server matrix (``shared``, over
PROVISION_TEST_IMAGES: MariaDB 10.11 and 11.8, MySQL 9.7 by default); tests that stop, remove or
break things make their own. Everything a test makes carries our labels and is removed by
label when it ends; containers we did not make are never touched.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import queue
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tarfile
import threading
import time

import docker
import pymysql
import pytest

from provision.backends.docker import (IMAGE_LABEL, OWNED_LABEL, PROJECT_LABEL, STATE_LABEL, DockerBackend,
                                       arch_warning, normalize_image, resource_names)
from provision.state import StateDir

from ..conftest import IMAGES as MATRIX
from ..conftest import Project, image_flavor, image_id, require
from .helpers import env_url, json_out, login, query

pytestmark = [pytest.mark.docker, pytest.mark.mysql, pytest.mark.slow]

IMAGES = {
    "mysql": os.environ.get("PROVISION_TEST_MYSQL_IMAGE") or "provision-test/mysql:9.7",
    "mariadb": os.environ.get("PROVISION_TEST_MARIADB_IMAGE") or "provision-test/mariadb:10.11",
}
FLAVORS = ("mysql", "mariadb")
OTHER = {"mysql": "mariadb", "mariadb": "mysql"}
FOREIGN_IMAGE = "provision-test/arch-probe:foreign"


# --- fixtures ------------------------------------------------------------------------
@pytest.fixture(scope="session")
def docker_client():
    try:
        import docker

        client = docker.from_env(timeout=60)
        client.ping()
    except Exception as exc:  # no SDK, no engine: a missing prerequisite
        require(False, f"no Docker engine answers ({exc}); start one: bash docker/start-dockerd.sh")
    yield client
    client.close()


@pytest.fixture(scope="session")
def image_for(docker_client):
    """flavor -> a local image of that flavor (skips, or fails when strict, if it is missing)."""
    import docker

    def get(flavor: str) -> str:
        name = IMAGES[flavor]
        try:
            docker_client.images.get(name)
        except docker.errors.ImageNotFound:
            require(False, f"image {name} is missing: bash docker/build-image.sh --flavor {flavor} "
                           f"(or set PROVISION_TEST_{flavor.upper()}_IMAGE)")
        return name

    return get


def ours(client, project: Project) -> tuple[list, list]:
    """The containers and volumes labelled as this project's."""
    wanted = {"label": [f"{OWNED_LABEL}=true", f"{STATE_LABEL}={project.state_dir.resolve()}"]}
    return client.containers.list(all=True, filters=wanted), client.volumes.list(filters=wanted)


def remove_ours(client, project: Project) -> None:
    containers, volumes = ours(client, project)
    for container in containers:
        container.remove(force=True, v=True)
    for volume in volumes:
        volume.remove(force=True)


@pytest.fixture
def dproject(project, docker_client):
    """A throwaway project whose containers and volumes are removed (by label) afterwards."""
    yield project
    remove_ours(docker_client, project)


@pytest.fixture(scope="module", params=[pytest.param(image, id=image_id(image)) for image in MATRIX])
def shared(request, docker_client, tmp_path_factory):
    """One project per image of the matrix with its server up, for the checks that leave it as it is."""
    image = request.param
    try:
        docker_client.images.get(image)
    except docker.errors.ImageNotFound:
        require(False, f"image {image} is missing: make docker-images (or bash docker/build-image.sh --help)")
    project = Project(tmp_path_factory.mktemp(f"docker-{image_id(image)}"))
    project.flavor = image_flavor(image)
    project.image = image
    project.up_result = project.cli(*project.up_args("--backend", "docker", "--image", project.image, "--json"))
    try:
        project.up_data = json_out(project.up_result)
        yield project
    finally:
        remove_ours(docker_client, project)


def container_of(client, project: Project):
    return client.containers.get(resource_names(project.settings())[0])


def root_password(project: Project) -> str:
    return StateDir(project.state_dir).secret("docker_root_password")


def admin_query(project: Project, sql: str):
    """Run ``sql`` as the container's root, through the published port."""
    from provision.probe import connect
    from provision.url import DatabaseURL

    admin = DatabaseURL(user="root", password=root_password(project), host="127.0.0.1", port=project.port)
    conn = connect(admin, tls=False)
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall()
    finally:
        conn.close()


# --- the first up, on a shared server ------------------------------------------------
class TestFirstUp:
    """`provision up --backend docker` converges the database and user and proves the URL."""

    def test_the_url_in_env_logs_in_from_the_bridge_gateway(self, shared, docker_client):
        data = shared.up_data
        assert (data["backend"], data["server_action"], data["flavor"]) == ("docker", "initialized", shared.flavor)
        assert data["hosts"] == ["%"]
        assert data["proof"]["account_host"] == "%"
        url = env_url(shared.env_file)
        assert url == f"mysql://ohdev:@127.0.0.1:{shared.port}/ohdevel?charset=utf8mb4"
        (user_host,), = query(url, "SELECT USER()")
        seen_from = user_host.rpartition("@")[2]
        gateway = container_of(docker_client, shared).attrs["NetworkSettings"]["Gateway"]
        assert seen_from not in ("localhost", "127.0.0.1", "::1")
        assert seen_from == gateway, "through the port mapping the server sees the bridge gateway"

    def test_the_container_is_ours_and_published_on_loopback_only(self, shared, docker_client):
        container = container_of(docker_client, shared)
        labels = container.labels
        assert labels[OWNED_LABEL] == "true"
        assert labels[STATE_LABEL] == str(shared.state_dir.resolve())
        assert labels[PROJECT_LABEL] == str(shared.path.resolve())
        assert labels[IMAGE_LABEL] == normalize_image(shared.image)
        bindings = container.attrs["HostConfig"]["PortBindings"]["3306/tcp"]
        assert bindings == [{"HostIp": "127.0.0.1", "HostPort": str(shared.port)}]
        mounts = {mount["Destination"]: mount for mount in container.attrs["Mounts"]}
        mount = mounts.pop("/var/lib/mysql")
        assert mount["Type"] == "volume" and mount["RW"]
        # besides the data, at most the image's data directory cache the volume was copied from, read-only
        assert all(other["Type"] == "volume" and not other["RW"] for other in mounts.values()), mounts
        assert len(mounts) <= 1
        volume = docker_client.volumes.get(mount["Name"])
        assert volume.attrs["Labels"][IMAGE_LABEL] == normalize_image(shared.image), "the image that made the data"
        assert volume.attrs["Labels"][STATE_LABEL] == str(shared.state_dir.resolve())

    def test_the_root_password_is_a_0600_secret_never_in_argv_logs_or_output(self, shared, docker_client):
        secrets_file = shared.state_dir / "secrets.json"
        assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
        password = root_password(shared)
        assert password and len(password) >= 24
        container = container_of(docker_client, shared)
        attrs = container.attrs
        argv = " ".join([attrs["Path"], *attrs["Args"], *(attrs["Config"]["Cmd"] or []),
                         *(attrs["Config"]["Entrypoint"] or [])])
        assert "--character-set-server=utf8mb4" in argv
        assert password not in argv
        environment = attrs["Config"]["Env"]
        if StateDir(shared.state_dir).read()["docker"].get("seeded_from"):
            # a copy of the data directory cache has a root password already: the container gets none
            assert not [item for item in environment if "ROOT_PASSWORD=" in item], environment
        else:
            assert f"MYSQL_ROOT_PASSWORD={password}" in environment, "the images' contract: the environment"
        assert password not in container.logs().decode("utf-8", "replace")
        assert password not in shared.up_result.stdout + shared.up_result.stderr
        assert password not in (shared.state_dir / "state.json").read_text()

    def test_dev_server_options_are_applied(self, shared):
        (charset, flush, log_bin), = admin_query(
            shared, "SELECT @@character_set_server, @@innodb_flush_log_at_trx_commit, @@log_bin")
        assert (charset, int(flush), int(log_bin)) == ("utf8mb4", 2, 0)
        (zones,), = admin_query(shared, "SELECT COUNT(*) FROM mysql.time_zone_name")
        assert zones == 0, "MYSQL_INITDB_SKIP_TZINFO: no time zone tables were loaded"

    def test_the_database_gets_the_newest_collation_of_the_image(self, shared):
        """The README's promise per version: UCA 14.0 on MariaDB 10.10+ (10.11, 11.8), UCA 9.0 on MySQL."""
        (version,), = admin_query(shared, "SELECT VERSION()")
        promised = "utf8mb4_uca1400_ai_ci" if shared.flavor == "mariadb" else "utf8mb4_0900_ai_ci"
        assert shared.flavor != "mariadb" or tuple(int(p) for p in version.split("-")[0].split(".")[:2]) >= (10, 10)
        assert shared.up_data["proof"]["collation"] == promised
        assert query(env_url(shared.env_file), "SELECT @@collation_database") == ((promised,),)

    def test_a_second_up_reports_no_change_and_leaves_env_alone(self, shared):
        before = shared.env_file.stat().st_mtime_ns, shared.env_file.read_bytes()
        result = shared.cli(*shared.up_args("--json"))  # backend and image come from the state
        data = json_out(result)
        assert (data["changed"], data["server_action"], data["env_action"], data["changes"]) == \
            (False, "already running", "unchanged", [])
        assert (shared.env_file.stat().st_mtime_ns, shared.env_file.read_bytes()) == before
        text = shared.cli("up")  # no --port either: the recorded port wins over the default
        assert text.returncode == 0, text.stderr
        assert "already up: nothing changed" in text.stdout
        assert env_url(shared.env_file) == f"mysql://ohdev:@127.0.0.1:{shared.port}/ohdevel?charset=utf8mb4"

    def test_a_warm_up_proves_the_server_is_our_container_without_the_engine(self, shared, docker_client):
        timed = subprocess.run([sys.executable, "-X", "importtime", "-m", "provision", *shared.up_args()],
                               cwd=shared.path, capture_output=True, text=True, timeout=120,
                               env={k: v for k, v in os.environ.items() if not k.startswith("PROVISION_")})
        assert timed.returncode == 0, timed.stderr
        imported = {line.rsplit("|", 1)[-1].strip() for line in timed.stderr.splitlines() if "|" in line}
        assert "pymysql" in imported and "docker" not in imported, "the warm path skips the SDK"

        state = StateDir(shared.state_dir)
        real = state.read()["docker"]["hostname"]
        assert real == container_of(docker_client, shared).attrs["Config"]["Hostname"]
        state.update(docker={**state.read()["docker"], "hostname": "someone-else"})
        result = shared.cli(*shared.up_args("--debug"))
        assert result.returncode == 0, result.stderr
        assert f"is {real}, not the recorded someone-else; asking the engine" in result.stderr
        assert state.read()["docker"]["hostname"] == real

    def test_status_shows_state_image_port_and_health(self, shared):
        data = json_out(shared.cli("status", "--json"))
        assert data["backend"] == "docker"
        assert data["state"] == "running"
        assert data["image"] == normalize_image(shared.image)
        assert data["port"] == shared.port
        assert data["health"] == "accepts the admin login"
        assert data["env_matches"] is True

    def test_logs_shows_the_server_log(self, shared):
        result = shared.cli("logs", "--lines", "200")
        assert result.returncode == 0, result.stderr
        assert "ready for connections" in result.stdout
        short = shared.cli("logs", "-n", "3")
        assert len(short.stdout.strip().splitlines()) <= 3

    def test_logs_follow_ends_quietly_on_ctrl_c(self, shared):
        follower = subprocess.Popen([sys.executable, "-m", "provision", "logs", "-f", "-n", "1"], cwd=shared.path,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines: queue.Queue = queue.Queue()
        _reader(follower.stdout, lines)
        try:
            assert lines.get(timeout=30) is not None, "the tail comes first, then it waits for more"
            assert follower.poll() is None, "still following"
            follower.send_signal(signal.SIGINT)
            assert follower.wait(timeout=30) == 0
        finally:
            follower.kill()
        assert "error" not in follower.stderr.read()


class TestCachingSha2:
    """MySQL 8.4/9.x log in with caching_sha2_password: on a cold cache a non-empty password
    needs TLS or the server's RSA key (PyMySQL[rsa]); both must work, and an empty one anywhere."""

    def test_empty_and_generated_passwords_work_on_a_cold_cache(self, shared):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        wrong_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        is_mysql = shared.flavor == "mysql"
        if is_mysql:
            (plugin,), = admin_query(shared, "SELECT plugin FROM mysql.user WHERE user = 'ohdev' AND host = '%'")
            assert plugin == "caching_sha2_password"

        # an empty password: no RSA and no TLS needed, even on a cold cache
        admin_query(shared, "FLUSH PRIVILEGES")
        url = env_url(shared.env_file)
        login(url, server_public_key=wrong_key).close()

        try:
            data = json_out(shared.cli(*shared.up_args("--generate-password", "--json")))
            assert any("password" in change for change in data["changes"])
            url = env_url(shared.env_file)
            password = StateDir(shared.state_dir).secret("app_password")
            assert password and f":{password}@" in url

            admin_query(shared, "FLUSH PRIVILEGES")  # empties the caching_sha2 cache
            if is_mysql:
                # the cache is cold: a login without TLS now needs the server's RSA key
                with pytest.raises(pymysql.err.OperationalError) as denied:
                    login(url, server_public_key=wrong_key)
                assert denied.value.args[0] == 1045
            conn = login(url)  # no TLS: PyMySQL fetches the server's key (cryptography)
            conn.close()

            admin_query(shared, "FLUSH PRIVILEGES")
            from provision.probe import connect
            from provision.url import parse

            conn = connect(parse(url), tls=True)
            with conn.cursor() as cursor:
                cursor.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
                (_, cipher), = cursor.fetchall()
            conn.close()
            if is_mysql:
                assert cipher, "MySQL images generate certificates: this login used TLS"

            again = json_out(shared.cli(*shared.up_args("--json")))
            assert again["changed"] is False, "the generated password is kept"
        finally:
            restored = shared.cli(*shared.up_args("--password", "", "--json"))
            assert json_out(restored)["url"].startswith("mysql://ohdev:@")


# --- the lifecycle, on a project of its own -------------------------------------------
def _reader(stream, lines: queue.Queue) -> threading.Thread:
    def pump():
        for line in iter(stream.readline, ""):
            lines.put(line)
        lines.put(None)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("flavor", FLAVORS)
def test_lifecycle_keeps_data_and_refuses_another_image(flavor, dproject, docker_client, image_for):
    """up, data through the URL, logs -f across down, up, container removed, image change, port change, destroy."""
    image, other = image_for(flavor), image_for(OTHER[flavor])
    first = json_out(dproject.cli(*dproject.up_args("--backend", "docker", "--image", image, "--json")))
    assert first["server_action"] == "initialized"
    url = env_url(dproject.env_file)
    query(url, "CREATE TABLE kept (id INT PRIMARY KEY, note VARCHAR(20))")
    query(url, "INSERT INTO kept VALUES (1, 'survives')")
    name, volume_name = resource_names(dproject.settings())

    # logs -f follows the server until the container stops
    follower = subprocess.Popen([sys.executable, "-m", "provision", "logs", "-f", "--lines", "1"],
                                cwd=dproject.path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue = queue.Queue()
    _reader(follower.stdout, lines)
    try:
        assert lines.get(timeout=30) is not None, "the log tail is printed first"
        down = dproject.cli("down")
        assert down.returncode == 0, down.stderr
        assert "stopped; data kept" in down.stdout
        assert follower.wait(timeout=60) == 0, follower.stderr.read()
    finally:
        follower.kill()
    followed = []
    while (line := lines.get(timeout=10)) is not None:
        followed.append(line)
    assert "Shutdown complete" in "".join(followed), "lines written after -f attached were shown"
    assert container_of(docker_client, dproject).status == "exited"
    assert json_out(dproject.cli("status", "--json"))["state"] == "exited"

    again = json_out(dproject.cli(*dproject.up_args("--json")))
    assert again["server_action"] == "started"
    assert query(url, "SELECT note FROM kept") == (("survives",),)

    container_of(docker_client, dproject).remove(force=True)
    recreated = json_out(dproject.cli(*dproject.up_args("--json")))
    assert recreated["server_action"] == "recreated on the kept data volume"
    assert query(url, "SELECT note FROM kept") == (("survives",),)

    container_id = container_of(docker_client, dproject).id
    refused = dproject.cli(*dproject.up_args("--image", other))
    assert refused.returncode == 3
    assert f"error: the data volume {volume_name} was initialised by {normalize_image(image)}, " \
           f"not {normalize_image(other)}" in refused.stderr
    assert "--recreate" in refused.stderr
    assert container_of(docker_client, dproject).id == container_id, "nothing was touched"
    assert query(url, "SELECT note FROM kept") == (("survives",),)

    new_port = Project(dproject.path).port
    moved = json_out(dproject.cli("up", "--port", str(new_port), "--json"))
    assert moved["server_action"] == f"recreated for port {dproject.port} -> {new_port}, data kept"
    url = env_url(dproject.env_file)
    assert f":{new_port}/" in url
    assert query(url, "SELECT note FROM kept") == (("survives",),)

    switched = json_out(dproject.cli("up", "--port", str(new_port), "--image", other, "--recreate", "--json"))
    assert switched["server_action"] == f"recreated from scratch with {normalize_image(other)} (--recreate)"
    assert switched["flavor"] == OTHER[flavor]
    assert query(url, "SHOW TABLES") == (), "a new, empty data directory"

    destroyed = dproject.cli("destroy", "--yes")
    assert destroyed.returncode == 0, destroyed.stderr
    assert f"removed container {name} and volume {volume_name}" in destroyed.stdout
    assert ours(docker_client, dproject) == ([], [])
    assert not (dproject.state_dir / "state.json").exists()


def test_auto_picks_docker_when_no_server_binary_is_installed(dproject, docker_client, image_for):
    image = image_for("mariadb")
    result = dproject.cli(*dproject.up_args("--image", image, "--json"),
                          env={"PROVISION_SERVER_SEARCH_PATH": str(dproject.path / "no-such-dir")})
    data = json_out(result)
    assert data["backend"] == "docker"
    assert "the Docker engine answers" in data["reason"]
    login(env_url(dproject.env_file)).close()


# --- errors -----------------------------------------------------------------------------
class TestErrors:
    """Each failure says what happened and how to fix it, and leaves nothing of ours behind."""

    def test_engine_not_running(self, project):
        result = project.cli(*project.up_args("--backend", "docker"),
                             env={"DOCKER_HOST": "unix:///tmp/provision-no-such-engine.sock"})
        assert result.returncode == 3
        assert "error: the Docker engine is not running or not reachable at " \
               "unix:///tmp/provision-no-such-engine.sock" in result.stderr
        assert "hint: " in result.stderr and "--backend native" in result.stderr
        assert "Traceback" not in result.stderr

    def test_available_answers_quickly_when_the_engine_is_unreachable(self, project, monkeypatch):
        monkeypatch.setenv("DOCKER_HOST", "tcp://10.255.255.1:2375")  # nothing answers there
        backend = DockerBackend(project.settings(), StateDir(project.state_dir))
        started = time.monotonic()
        ok, why = backend.available()
        assert (ok, time.monotonic() - started < 5) == (False, True), why
        assert "not running or not reachable" in why

    def test_socket_permission_denied(self, project, tmp_path):
        sock_path = tmp_path / "engine.sock"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(sock_path))
        listener.listen()
        os.chmod(sock_path, 0)
        prefix = []
        if os.geteuid() == 0:  # root ignores file modes unless it drops CAP_DAC_OVERRIDE
            require(shutil.which("setpriv") is not None, "setpriv (util-linux) is needed to drop root's DAC override")
            prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--inh-caps", "-all"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROVISION_")}
        env["DOCKER_HOST"] = f"unix://{sock_path}"
        try:
            result = subprocess.run([*prefix, sys.executable, "-m", "provision", *project.up_args("--backend", "docker")],
                                    cwd=project.path, env=env, capture_output=True, text=True, timeout=120)
        finally:
            listener.close()
        assert result.returncode == 3, result.stderr
        assert f"error: permission denied on the Docker engine's socket (unix://{sock_path})" in result.stderr
        assert "usermod -aG docker" in result.stderr and "--backend native" in result.stderr

    def test_readiness_timeout_shows_the_log_tail_and_removes_the_half_made_server(self, dproject, docker_client,
                                                                                     image_for):
        # a first start that initialises its data directory takes seconds: one second is not enough.
        # Without the data-directory cache: a copied one can be ready within that second.
        image = image_for("mysql")
        no_cache = {"PROVISION_DOCKER_CACHE": "0"}
        result = dproject.cli(*dproject.up_args("--backend", "docker", "--image", image, "--timeout", "1"),
                              env=no_cache)
        assert result.returncode == 3
        assert "did not accept a login on 127.0.0.1:" in result.stderr and "within 1 s" in result.stderr
        assert "hint: the server log ends with:" in result.stderr
        assert "[Entrypoint]" in result.stderr, "the container's own log lines"
        assert ours(docker_client, dproject) == ([], [])
        again = json_out(dproject.cli(*dproject.up_args("--backend", "docker", "--image", image, "--json"),
                                      env=no_cache))
        assert (again["backend"], again["server_action"]) == ("docker", "initialized"), "the next up starts clean"

    def test_image_missing_and_no_registry(self, dproject, docker_client):
        result = dproject.cli(*dproject.up_args("--backend", "docker", "--image", "provision-test/does-not-exist:1"))
        assert result.returncode == 3
        assert "error: image provision-test/does-not-exist:1 is not on this machine and could not be pulled" \
            in result.stderr
        assert "docker pull provision-test/does-not-exist:1" in result.stderr
        assert "docker/build-image.sh" in result.stderr
        assert ours(docker_client, dproject) == ([], [])

    def test_port_taken(self, dproject, docker_client, image_for):
        image = image_for("mariadb")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
            holder.bind(("127.0.0.1", dproject.port))
            holder.listen()
            result = dproject.cli(*dproject.up_args("--backend", "docker", "--image", image))
        assert result.returncode == 3
        assert f"error: port {dproject.port} on 127.0.0.1 is already in use by pid {os.getpid()}" in result.stderr
        assert f"--port {dproject.port + 1}" in result.stderr
        assert ours(docker_client, dproject) == ([], [])

    @pytest.mark.parametrize("kind", ["container", "volume"])
    def test_name_clash_with_something_not_ours(self, kind, dproject, docker_client, image_for):
        image = image_for("mariadb")
        container_name, volume_name = resource_names(dproject.settings())
        label = {"dev.provision.test": "clash"}  # not our ownership labels
        if kind == "container":
            theirs = docker_client.containers.create(image, name=container_name, labels=label)
        else:
            theirs = docker_client.volumes.create(name=volume_name, labels=label)
        try:
            result = dproject.cli(*dproject.up_args("--backend", "docker", "--image", image))
            assert result.returncode == 3
            name = container_name if kind == "container" else volume_name
            assert f"error: a Docker {kind} named {name} already exists and is not this project's" in result.stderr
            assert "provision leaves it alone" in result.stderr
            theirs.reload()  # still there, untouched
            message = DockerBackend(dproject.settings(), StateDir(dproject.state_dir)).destroy()
            assert message == f"no container or volume of this project; the {kind} {name} is not this " \
                              "project's and was left alone"
            theirs.reload()  # destroy leaves it alone too
        finally:
            if kind == "container":
                theirs.remove(force=True, v=True)  # v: its anonymous volume too
            else:
                theirs.remove(force=True)

    def test_image_for_another_architecture_warns(self, dproject, docker_client, foreign_image):
        result = dproject.cli(*dproject.up_args("--backend", "docker", "--image", foreign_image))
        engine_arch = docker_client.version()["Arch"]
        assert f"warning: image {foreign_image} is built for linux/{foreign_arch(engine_arch)} but the Docker " \
               f"engine runs on linux/{engine_arch}" in result.stderr
        assert result.returncode == 3  # this probe image has no server: starting it fails, clearly
        assert "error: Docker could not start container" in result.stderr
        assert "Traceback" not in result.stderr
        assert ours(docker_client, dproject) == ([], []), "a failed first start leaves nothing behind"

    def test_missing_sdk_says_how_to_install_it(self, project):
        code = ("import sys; sys.modules['docker'] = None\n"  # as if the package were not installed
                "from provision.cli import main; main()")
        result = subprocess.run([sys.executable, "-c", code, *project.up_args("--backend", "docker")],
                                cwd=project.path, capture_output=True, text=True, timeout=120,
                                env={k: v for k, v in os.environ.items() if not k.startswith("PROVISION_")})
        assert result.returncode == 3
        assert "error: the docker backend needs the Docker SDK for Python" in result.stderr
        assert "pip install 'docker>=7.0'" in result.stderr


def foreign_arch(engine_arch: str) -> str:
    return "arm64" if engine_arch != "arm64" else "amd64"


@pytest.fixture(scope="session")
def foreign_image(docker_client):
    """A tiny image (no server in it) whose config says another CPU than the engine's.

    `docker build --platform` and `docker import --platform` keep the engine's architecture
    for local content, so the image is written in `docker save` format and loaded.
    """
    arch = foreign_arch(docker_client.version()["Arch"])
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w"):
        pass
    layer_bytes = layer.getvalue()
    config = json.dumps({
        "architecture": arch, "os": "linux",
        "config": {"Cmd": ["/no-server-here"], "Labels": {"dev.provision.test": "arch-probe"}},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer_bytes).hexdigest()]},
        "history": [{"created_by": "tests/integration/test_docker_backend.py"}],
    }).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [FOREIGN_IMAGE], "Layers": ["layer/layer.tar"]}])
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for member, data in ((config_name, config), ("layer/layer.tar", layer_bytes),
                             ("manifest.json", manifest.encode())):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    docker_client.images.load(archive.getvalue())
    assert docker_client.images.get(FOREIGN_IMAGE).attrs["Architecture"] == arch
    yield FOREIGN_IMAGE
    try:
        docker_client.images.remove(FOREIGN_IMAGE, force=True)
    except docker.errors.ImageNotFound:
        pass  # another test session on this engine removed it first


# --- pure functions -----------------------------------------------------------------------
class TestNaming:
    def test_names_derive_from_the_state_dir(self, project):
        first = resource_names(project.settings())
        assert first == resource_names(project.settings())
        other = resource_names(project.settings(state_dir=project.path / "other-state"))
        assert first != other
        assert first[0].startswith("provision-") and first[1] == first[0] + "-data"

    @pytest.mark.parametrize("given, normal", [
        ("mysql", "mysql:latest"), ("mysql:8.4", "mysql:8.4"), ("docker.io/library/mysql:8.4", "mysql:8.4"),
        ("localhost:5000/db/mysql", "localhost:5000/db/mysql:latest"), ("mariadb@sha256:ab", "mariadb@sha256:ab"),
    ])
    def test_normalize_image(self, given, normal):
        assert normalize_image(given) == normal

    def test_arch_warning_on_a_real_image_with_its_architecture_edited(self, docker_client, image_for):
        attrs = docker_client.images.get(image_for("mariadb")).attrs
        engine = docker_client.version()["Arch"]
        assert arch_warning("img", attrs, engine) is None
        assert arch_warning("img", attrs, "x86_64" if engine == "amd64" else engine) is None  # aliases
        edited = {**attrs, "Architecture": foreign_arch(engine)}
        assert f"built for linux/{foreign_arch(engine)}" in arch_warning("img", edited, engine)


# --- snapshots and the shell, with the container's and this machine's tools ---------------
class TestSnapshotsAndShell:
    """Snapshots dump inside the container (its own tool, the password in the exec's environment);
    the shell is this machine's client on the published port, the password in a 0600 file."""

    def test_a_snapshot_is_dumped_inside_the_container_and_restores_the_rows(self, shared, docker_client):
        name = resource_names(shared.settings())[0]
        tool = "mariadb-dump" if shared.flavor == "mariadb" else "mysqldump"
        url = env_url(shared.env_file)
        admin_query(shared, "CREATE TABLE ohdevel.snap (id INT PRIMARY KEY, note VARCHAR(32)) DEFAULT CHARSET=utf8mb4")
        try:
            admin_query(shared, "INSERT INTO ohdevel.snap VALUES (1, 'kept'), (2, 'Zoë; -- not a comment')")
            admin_query(shared, "CREATE PROCEDURE ohdevel.add_snap(IN n VARCHAR(32)) "
                                "BEGIN INSERT INTO snap VALUES (9, n); SELECT 'a;b'; END")
            admin_query(shared, "CREATE EVENT ohdevel.tidy ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' "
                                "DISABLE DO DELETE FROM snap WHERE note = 'x;y'")
            since = int(time.time()) - 1
            saved = json_out(shared.cli("snapshot", "save", "indocker", "--json"))
            until = int(time.time()) + 1
            folder = shared.state_dir / "snapshots" / "indocker"
            meta = json.loads((folder / "meta.json").read_text())
            assert meta["format"] == saved["format"] == f"{tool} inside container {name} (the server's dump tool)"
            dump = gzip.decompress((folder / "dump.sql.gz").read_bytes()).decode()
            assert "INSERT INTO `snap`" in dump and "GTID_PURGED" not in dump

            # the engine's record of what it ran: the tool with the root user, never the password
            events = docker_client.events(since=since, until=until, decode=True,
                                          filters={"type": "container", "container": name})
            ran = [event["Action"] for event in events if event["Action"].startswith("exec_create:")]
            dumps = [action for action in ran if f"/{tool} " in action]
            assert len(dumps) == 1, ran
            assert "--user=root" in dumps[0] and " ohdevel" in dumps[0]
            assert root_password(shared) not in " ".join(ran)

            admin_query(shared, "DELETE FROM ohdevel.snap WHERE id = 1")
            admin_query(shared, "INSERT INTO ohdevel.snap VALUES (3, 'added later')")
            admin_query(shared, "DROP PROCEDURE ohdevel.add_snap")
            admin_query(shared, "DROP EVENT ohdevel.tidy")
            restored = shared.cli("snapshot", "restore", "indocker")
            assert restored.returncode == 0, restored.stderr
            assert query(url, "SELECT id, note FROM snap ORDER BY id") == ((1, "kept"), (2, "Zoë; -- not a comment"))
            # the stored procedure and the event came back with the tables
            assert admin_query(shared, "SELECT ROUTINE_NAME FROM information_schema.ROUTINES "
                                       "WHERE ROUTINE_SCHEMA = 'ohdevel'") == (("add_snap",),)
            assert admin_query(shared, "SELECT EVENT_NAME, STATUS FROM information_schema.EVENTS "
                                       "WHERE EVENT_SCHEMA = 'ohdevel'") == (("tidy", "DISABLED"),)
        finally:
            admin_query(shared, "DROP PROCEDURE IF EXISTS ohdevel.add_snap")
            admin_query(shared, "DROP EVENT IF EXISTS ohdevel.tidy")
            admin_query(shared, "DROP TABLE IF EXISTS ohdevel.snap")
            shared.cli("snapshot", "delete", "indocker")

    def test_the_shell_is_the_local_client_on_the_published_port(self, shared):
        from provision.project import open_project

        require(bool(shutil.which("mariadb") or shutil.which("mysql")), "no mariadb/mysql client on this machine")
        result = shared.cli("shell", input="SELECT CURRENT_USER(), DATABASE();\n")
        assert result.returncode == 0, result.stderr
        assert "ohdev@%\tohdevel" in result.stdout
        root = shared.cli("shell", "--root", input="SELECT CURRENT_USER();\n")
        assert root.returncode == 0, root.stderr
        assert "root@%" in root.stdout

        password = root_password(shared)
        with open_project(shared.settings()).client_command("client", root=True) as argv:
            assert password not in " ".join(argv)
            assert os.path.basename(argv[0]) in ("mariadb", "mysql")
            option_file = argv[1].split("=", 1)[1]
            assert stat.S_IMODE(os.stat(option_file).st_mode) == 0o600
            options = open(option_file).read()
            assert password in options and f'port="{shared.port}"' in options and 'host="127.0.0.1"' in options
        assert not list(shared.state_dir.glob(".client-*")), "the option file is removed when the client exits"

    def test_the_shell_without_a_local_client_says_what_to_install(self, shared, tmp_path):
        result = shared.cli("shell", input="SELECT 1;\n", env={"PATH": str(tmp_path)})
        assert result.returncode == 3
        assert "error: no mysql or mariadb client for the docker server was found" in result.stderr
        assert "hint: install one" in result.stderr
