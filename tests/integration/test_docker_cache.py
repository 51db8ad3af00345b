"""The docker backend's data directory cache, on a real Docker engine through the real CLI."""
from __future__ import annotations

import secrets

import pymysql
import pytest

from provision.backends import docker_cache
from provision.backends.docker import resource_names
from provision.state import StateDir

from ..conftest import Project
from .helpers import json_out
from .test_ephemeral import wait_for
from .test_docker_backend import FLAVORS, docker_client, image_for, remove_ours, root_password  # noqa: F401

pytestmark = [pytest.mark.docker, pytest.mark.mysql, pytest.mark.slow]


def login_as_root(project: Project, password: str):
    return pymysql.connect(host="127.0.0.1", port=project.port, user="root", password=password,
                           ssl_disabled=True, connect_timeout=5)


@pytest.fixture
def two_projects(tmp_path, docker_client):  # noqa: F811
    projects = [Project(tmp_path / name) for name in ("first", "second")]
    for project in projects:
        project.path.mkdir()
    yield projects
    for project in projects:
        remove_ours(docker_client, project)


class TestDataDirectoryCache:
    """A new project's volume starts as a copy of a data directory its image initialised once."""

    @pytest.mark.parametrize("flavor", FLAVORS)
    def test_second_project_copies_the_cache_with_its_own_root_password(self, flavor, two_projects, docker_client,
                                                                        image_for, request):  # noqa: F811
        # a tag of our own: its cache does not exist yet, so the background build is what is tested
        source = docker_client.images.get(image_for(flavor))
        image = f"provision-test/cache-probe-{flavor}-{secrets.token_hex(3)}:1"
        source.tag(image)
        request.addfinalizer(lambda: _untag_and_drop_cache(docker_client, image, source.id))
        first, second = two_projects
        name = docker_cache.cache_name(image, source.id)
        data = json_out(first.cli(*first.up_args("--backend", "docker", "--image", image, "--json")))
        assert "seeded_from" not in StateDir(first.state_dir).read()["docker"]  # initialised by the image
        # its up started the cache's build in the background, once the project's server was up
        wait_for(lambda: docker_cache._complete(docker_client, name) is not None, 300, "the cache was not made")
        labels = docker_client.volumes.get(name).attrs["Labels"]
        assert labels[docker_cache.OWNED_LABEL] == "true" and labels[docker_cache.CACHE_LABEL] == "datadir"

        data = json_out(second.cli(*second.up_args("--backend", "docker", "--image", image, "--json")))
        assert data["server_action"] == "initialized", data
        assert StateDir(second.state_dir).read()["docker"]["seeded_from"] == name
        container = docker_client.containers.get(resource_names(second.settings())[0])
        logs = container.logs().decode("utf-8", "replace")
        assert "Initializing database files" not in logs
        # the image's server itself, as the image's mysql user: not through the image's entrypoint
        assert "[Entrypoint]" not in logs, logs
        code, out = container.exec_run(["sh", "-c", "awk '/^Uid:/ {print $2}' /proc/1/status; id -u mysql"])
        server_uid, mysql_uid = out.decode().split()
        assert code == 0 and server_uid == mysql_uid != "0"
        # and no root password in its environment (the copy has its own, then the project's)
        names = {item.split("=", 1)[0] for item in container.attrs["Config"]["Env"]}
        assert not names & {"MYSQL_ROOT_PASSWORD", "MARIADB_ROOT_PASSWORD"}, names

        passwords = [root_password(p) for p in (first, second)]
        assert passwords[0] != passwords[1]
        cached = (docker_cache._secret_file(name)).read_text().strip()
        login_as_root(second, passwords[1]).close()  # the project's own password works
        for wrong in (cached, passwords[0]):  # the cache's and the other project's do not
            with pytest.raises(pymysql.err.OperationalError) as caught:
                login_as_root(second, wrong)
            assert caught.value.args[0] == 1045
        if flavor == "mysql":  # each server made its own identity
            uuids = set()
            for project, password in zip((first, second), passwords):
                conn = login_as_root(project, password)
                with conn.cursor() as cursor:
                    cursor.execute("SELECT @@server_uuid")
                    uuids.add(cursor.fetchone()[0])
                conn.close()
            assert len(uuids) == 2

        # down and up: the same container starts again on the copied data directory, data kept
        conn = login_as_root(second, passwords[1])
        with conn.cursor() as cursor:
            cursor.execute("CREATE TABLE ohdevel.kept (n INT)")
            cursor.execute("INSERT INTO ohdevel.kept VALUES (15)")
        conn.commit()
        conn.close()
        assert second.cli("down").returncode == 0
        data = json_out(second.cli(*second.up_args("--json")))
        assert data["server_action"] == "started", data
        conn = login_as_root(second, passwords[1])
        with conn.cursor() as cursor:
            cursor.execute("SELECT n FROM ohdevel.kept")
            assert cursor.fetchall() == ((15,),)
        conn.close()

        assert second.cli("destroy", "--yes").returncode == 0
        docker_client.volumes.get(name)  # a project's destroy leaves the cache alone

    def test_only_our_older_caches_of_the_image_are_removed(self, docker_client):  # noqa: F811
        tag = secrets.token_hex(4)
        image = f"provision-test/cache-probe-{tag}:1"  # no real cache is touched
        base = {docker_cache.IMAGE_LABEL: image, docker_cache.IMAGE_ID_LABEL: f"sha256:old{tag}"}
        ours = docker_client.volumes.create(name=f"provision-cache-test-{tag}-ours",
                                            labels={**base, docker_cache.OWNED_LABEL: "true",
                                                    docker_cache.CACHE_LABEL: "datadir"})
        foreign = docker_client.volumes.create(name=f"provision-cache-test-{tag}-foreign", labels=base)
        try:
            docker_cache._remove_older(docker_client, image, f"sha256:new{tag}")
            names = {v.name for v in docker_client.volumes.list()}
            assert ours.name not in names
            assert foreign.name in names
        finally:
            for volume in (ours, foreign):
                try:
                    docker_client.volumes.get(volume.name).remove(force=True)
                except Exception:  # noqa: BLE001 - already removed by the code under test
                    pass


def _untag_and_drop_cache(client, image: str, image_id: str) -> None:
    for volume in client.volumes.list(filters={"label": [f"{docker_cache.IMAGE_LABEL}={image}",
                                                         f"{docker_cache.CACHE_LABEL}=datadir",
                                                         f"{docker_cache.OWNED_LABEL}=true"]}):
        volume.remove(force=True)
    client.images.remove(image)  # only our tag: the image itself stays
    secret = docker_cache._secret_file(docker_cache.cache_name(image, image_id))
    secret.unlink(missing_ok=True)
