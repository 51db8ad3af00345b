"""A data directory initialised once per image, copied into each new project's volume.

A MySQL image's first start is mostly its initialisation (``mysqld --initialize``, a
temporary server, its stop: ~5 s of MySQL 9.7's ~6 s). The data directory that comes out of
it is the same for every project using that image, except for the root password. So the
first project that uses an image starts a detached process when its own ``up`` is done, which
initialises a *cache volume* once
(``provision-cache-<image>-<image id>``, labelled ``dev.provision.owned=true`` and
``dev.provision.cache=datadir``, never touched by a project's ``destroy``), and every new
project's volume starts as a copy of it: the project's container mounts the cache read-only
and its first start copies it (``cp -a``) into the empty volume, then starts the image's server
itself (``container_options``). (A container of its own for the copy cost ~0.5-1 s more: one more
create, start and remove.)

The cache's root password is its own (random, in a 0600 file under
``~/.cache/provision/docker/``); right after the copy starts, the project's root password
replaces it (``ALTER USER`` for every ``root`` account), so no two projects share one.
MySQL's ``auto.cnf`` (the server UUID) is not copied: each server makes its own.
A cache is keyed by the image's id: a rebuilt or re-pulled image gets a new one, and the
caches of older ids of that image are removed (only volumes with our cache labels).
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import secrets
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import ServerError
from ..probe import Server, wait_until_ready
from ..url import DatabaseURL

log = logging.getLogger(__name__)

OWNED_LABEL = "dev.provision.owned"
CACHE_LABEL = "dev.provision.cache"  # "datadir"
IMAGE_LABEL = "dev.provision.image"
IMAGE_ID_LABEL = "dev.provision.image-id"
RECIPE = "1"  # bump when what goes into a cache changes
DATA_DIR = "/var/lib/mysql"
CACHE_MOUNT = "/provision-cache"
SERVERS = ("mysqld", "mariadbd")
# GNU cp writes runs of zeros as holes: most of a fresh redo log (MariaDB's 96 MB ib_logfile0), so
# the copy writes a fraction of the cache (measured: 0.25 -> 0.20 s to MariaDB's first query);
# a cp without --sparse (busybox) copies every byte
_COPY = f"cp -a --sparse=always {CACHE_MOUNT}/. {DATA_DIR}/ 2>/dev/null || cp -a {CACHE_MOUNT}/. {DATA_DIR}/"
# first in the container, on its first start only: the cache, except the server's identity; a failed
# copy stops the container (the image must not initialise a half-copied directory)
SEED_SCRIPT = (f'if [ ! -d {DATA_DIR}/mysql ]; then {{ {_COPY}; }} && rm -f {DATA_DIR}/auto.cnf || exit 1; fi; '
               'exec "$@"')


@dataclass(frozen=True)
class Cache:
    volume: str
    password: str  # the cache's own root password (replaced in every copy)


def cache_name(image: str, image_id: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", image.lower()).strip("-")[:40]
    digest = hashlib.sha256(f"{image_id}|{RECIPE}".encode()).hexdigest()[:12]
    return f"provision-cache-{slug}-{digest}"


def _secret_file(name: str) -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "provision" / "docker" / f"{name}.password"


def _labels(image: str, image_id: str) -> dict[str, str]:
    return {OWNED_LABEL: "true", CACHE_LABEL: "datadir", IMAGE_LABEL: image, IMAGE_ID_LABEL: image_id}


def _is_cache(volume) -> bool:
    labels = volume.attrs.get("Labels") or {}
    return labels.get(OWNED_LABEL) == "true" and labels.get(CACHE_LABEL) == "datadir"


def _lock(name: str):
    secret = _secret_file(name)
    secret.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return open(secret.parent / f".{name}.lock", "a")


def _complete(client, name: str) -> Cache | None:
    import docker

    secret = _secret_file(name)
    try:
        volume = client.volumes.get(name)
    except docker.errors.NotFound:
        return None
    if _is_cache(volume) and secret.is_file():
        return Cache(name, secret.read_text(encoding="utf-8").strip())
    return None


def ready(client, image: str, image_attrs: dict) -> Cache | None:
    """The cache of ``image`` when it is complete (waiting for a build in progress), else None."""
    name = cache_name(image, image_attrs.get("Id") or image)
    with _lock(name) as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a build holds it until its cache is complete
        return _complete(client, name)


def build_in_background(image: str) -> None:
    """Make the cache of ``image`` in a detached process (``python -m provision.backends.docker
    build IMAGE``): the first project's ``up`` initialises its own volume as before and returns;
    the next project's copies the cache."""
    subprocess.Popen([sys.executable, "-m", "provision.backends.docker", "build", image],
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True, close_fds=True)


def ensure(client, image: str, image_attrs: dict, *, environment: dict[str, str], command: list[str],
           timeout: float) -> Cache:
    """The cache of ``image`` (made now if missing; serialised across processes by a file lock)."""
    import docker

    image_id = image_attrs.get("Id") or image
    name = cache_name(image, image_id)
    secret = _secret_file(name)
    with _lock(name) as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = _complete(client, name)
        if found is not None:
            return found
        try:
            volume = client.volumes.get(name)
        except docker.errors.NotFound:
            volume = None
        if volume is not None:
            if not _is_cache(volume):
                raise ServerError(f"a Docker volume named {name} exists and is not provision's cache",
                                  f"remove it if you do not need it: docker volume rm {name}")
            volume.remove(force=True)  # ours, but its password is lost: make it again
        _remove_older(client, image, image_id)
        password = secrets.token_urlsafe(24)
        volume = client.volumes.create(name=name, driver="local", labels=_labels(image, image_id))
        try:
            _initialise(client, image, name, password, environment, command, timeout)
        except BaseException:
            with contextlib.suppress(Exception):
                volume.remove(force=True)
            raise
        from ..files import atomic_write

        atomic_write(secret, password.encode(), 0o600)
        log.info("docker: cached an initialised data directory of %s in volume %s", image, name)
        return Cache(name, password)


def _initialise(client, image: str, volume: str, password: str, environment: dict[str, str],
                command: list[str], timeout: float) -> None:
    """Run the image's own initialisation into the cache volume, wait for it, stop cleanly."""
    env = {**environment, "MYSQL_ROOT_PASSWORD": password, "MARIADB_ROOT_PASSWORD": password}
    container = client.containers.run(image, command=command, detach=True, environment=env,
                                      labels={OWNED_LABEL: "true", CACHE_LABEL: "init"},
                                      ports={"3306/tcp": ("127.0.0.1", None)},
                                      volumes={volume: {"bind": DATA_DIR, "mode": "rw"}})
    try:
        container.reload()
        port = int(container.ports["3306/tcp"][0]["HostPort"])
        admin = DatabaseURL(user="root", password=password, host="127.0.0.1", port=port)

        def alive() -> str | None:
            container.reload()
            return f"exited with code {container.attrs['State'].get('ExitCode')}" \
                if container.status in ("exited", "dead") else None

        def tail() -> str:
            return container.logs(tail=20).decode("utf-8", "replace")

        # the images' temporary server listens on a socket only: a TCP login means init is over
        wait_until_ready(Server(admin=admin, host="127.0.0.1", port=port, local=True), timeout=timeout,
                         alive=alive, log_tail=tail, what=f"initialising the data directory cache of {image}").close()
        container.stop(timeout=60)  # a clean shutdown: copies start without crash recovery
    finally:
        container.remove(force=True, v=True)


def _remove_older(client, image: str, image_id: str) -> None:
    """Caches of older builds of ``image`` (ours by label); one still mounted somewhere is kept."""
    import docker

    for volume in client.volumes.list(filters={"label": [f"{OWNED_LABEL}=true", f"{CACHE_LABEL}=datadir"]}):
        labels = volume.attrs.get("Labels") or {}
        if labels.get(IMAGE_LABEL) == image and labels.get(IMAGE_ID_LABEL) != image_id:
            try:
                volume.remove()
                _secret_file(volume.name).unlink(missing_ok=True)
                log.info("docker: removed the cache %s of an older %s", volume.name, image)
            except docker.errors.APIError as exc:  # in use
                log.debug("docker: kept cache %s (%s)", volume.name, exc)


def usable(image_attrs: dict) -> bool:
    """The copy runs in front of the image's entrypoint, as root (as the official images start)."""
    config = image_attrs.get("Config") or {}
    return bool(config.get("Entrypoint")) and (config.get("User") or "root") in ("root", "0", "0:0")


def mount(cache: Cache) -> dict:
    return {cache.volume: {"bind": CACHE_MOUNT, "mode": "ro"}}


def container_options(image_attrs: dict, server_args: list[str]) -> dict:
    """The entrypoint and command of a container whose volume starts as the cache: the copy (only
    while the data directory is empty), then the image's server itself, as the image's ``mysql``
    user (``--user``; both servers drop root themselves). The image's entrypoint would find the
    data directory initialised and start that same server, after checking its configuration
    (``--verbose --help``, twice in ours, up to six times in the official images): 0.15-0.2 s of
    every start (bench_docker). An image whose command is not mysqld or mariadbd keeps its
    entrypoint, after the copy. No root password in the environment: the copy has one."""
    config = image_attrs.get("Config") or {}
    server = (config.get("Cmd") or [""])[0]
    if server.rsplit("/", 1)[-1] in SERVERS:
        return {"entrypoint": ["sh", "-c", SEED_SCRIPT, "provision-seed"],
                "command": [server, "--user=mysql", *server_args]}
    return {"entrypoint": ["sh", "-c", SEED_SCRIPT, "provision-seed", *config["Entrypoint"]],
            "command": list(server_args)}


def rotate(server: Server, cache: Cache, *, timeout: float, alive=None, log_tail=None, what: str) -> None:
    """Log in with the cache's root password once the copy's server is up; give every root
    account the project's password (``server.admin.password``)."""
    cached = Server(admin=replace(server.admin, password=cache.password), host=server.host, port=server.port,
                    local=server.local)
    conn = wait_until_ready(cached, timeout=timeout, alive=alive, log_tail=log_tail, what=what)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT User, Host FROM mysql.user WHERE User = 'root'")
            for user, host in cursor.fetchall():
                cursor.execute("ALTER USER %s@%s IDENTIFIED BY %s", (user, host, server.admin.password))
    finally:
        conn.close()
