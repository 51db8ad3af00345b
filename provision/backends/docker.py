# Over 500 lines: one backend's whole lifecycle (container, volume, labels, image checks, the tools run
# inside the container); the data-directory cache already lives apart, in docker_cache.py.
"""docker: one MySQL or MariaDB container per project, its data in a named volume.

The container and the volume are named after the project (``provision-<dir>-<hash of
the state dir>``) and labelled ``dev.provision.owned=true`` and
``dev.provision.state=<state dir>``; anything with our name but not our labels is left
alone (a clear error instead). The volume's ``dev.provision.image`` label records the
image that initialised it: another image is refused unless ``--recreate``, because a
data directory cannot be downgraded.

The port is published on 127.0.0.1 only. The root password is generated into the 0600
secrets file and reaches the container through its environment (the contract of the
official mysql/mariadb images), never its command line. Readiness is a real admin login
(see provision.probe): the images first run a socket-only temporary server, and Docker's
port forwarder accepts TCP before mysqld listens.

The docker SDK is imported inside the functions that use it; the CLI is never called.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from .. import progress
from . import docker_early
from ..config import Settings
from ..errors import ServerError
from ..ports import is_listening, port_holder
from ..probe import ACCESS_DENIED, Server, error_code, wait_until_ready
from ..sql import run
from ..state import StateDir
from ..url import DatabaseURL
from .base import Started

log = logging.getLogger(__name__)

DEFAULT_IMAGE = "mysql:8.4"
OWNED_LABEL = "dev.provision.owned"
STATE_LABEL = "dev.provision.state"
PROJECT_LABEL = "dev.provision.project"
IMAGE_LABEL = "dev.provision.image"  # on the volume: the image that initialised it
FLAVOR_LABEL = "dev.provision.flavor"
DATA_DIR = "/var/lib/mysql"  # the VOLUME of the official mysql, mariadb and percona images
SERVER_PORT = "3306/tcp"
PING_TIMEOUT = 2.0  # available(): `auto` must decide quickly
API_TIMEOUT = 120.0
STOP_TIMEOUT = 60  # seconds mysqld gets for a clean shutdown before SIGKILL
# arguments for the server (the images' entrypoints pass arguments starting with '-' to
# mysqld/mariadbd); `loose-` makes an option that one flavor lacks harmless
SERVER_ARGS = (
    "--character-set-server=utf8mb4",
    "--skip-name-resolve",  # clients come from the bridge gateway: no reverse DNS on login
    "--skip-log-bin",
    # a development server: an OS crash may lose the last second of commits
    "--innodb-flush-log-at-trx-commit=2",
    # the first start stops a temporary server: no buffer pool dump to write, none to read
    "--innodb-buffer-pool-dump-at-shutdown=OFF",
    "--innodb-buffer-pool-load-at-startup=OFF",
)
# MySQL's X protocol listens on 33060 by default; nobody publishes it (MariaDB has no such option).
# GTIDs off: there is no binary log to replicate, and with gtid_mode=ON MySQL's mysqldump writes
# SET @@SESSION.SQL_LOG_BIN / @@GLOBAL.GTID_PURGED, which the app user may not load (Django's
# --parallel clone pipes such a dump into mysql and would get empty clones; README, Test suites).
MYSQL_ARGS = ("--loose-mysqlx=OFF", "--gtid-mode=OFF")
_ARCH_ALIASES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i386": "386", "i686": "386"}


def sdk_hint() -> str:
    return ("it is a dependency of provision: reinstall provision, or pip install 'docker>=7.0'; "
            "or use --backend native")


def engine_hint() -> str:
    if sys.platform == "darwin":
        start = "start Docker Desktop (open -a Docker), or colima start"
    elif Path("/run/systemd/system").is_dir():
        start = "start it: sudo systemctl start docker"
    else:
        start = "start it: sudo dockerd (or this repository's docker/start-dockerd.sh)"
    return f"{start}; or use --backend native (a server installed on this machine)"


def resource_names(settings: Settings) -> tuple[str, str]:
    """(container, volume) names: the project directory's name and a hash of the state dir."""
    digest = hashlib.sha256(str(settings.state_path.resolve()).encode()).hexdigest()[:12]
    slug = re.sub(r"[^a-z0-9]+", "-", settings.project_dir.name.lower()).strip("-")[:30] or "project"
    name = f"provision-{slug}-{digest}"
    return name, f"{name}-data"


def normalize_image(image: str) -> str:
    """'mysql' -> 'mysql:latest', 'docker.io/library/mysql:8.4' -> 'mysql:8.4'."""
    name = image.strip()
    for prefix in ("docker.io/library/", "index.docker.io/library/", "docker.io/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    last = name.rsplit("/", 1)[-1]
    if "@" not in name and ":" not in last:
        name += ":latest"
    return name


def image_flavor(attrs: dict[str, Any], name: str = "") -> str:
    """'mariadb' or 'mysql' (Oracle, Percona), from the image's environment and labels."""
    env = {item.split("=", 1)[0] for item in (attrs.get("Config") or {}).get("Env") or []}
    labels = (attrs.get("Config") or {}).get("Labels") or {}
    if "MARIADB_VERSION" in env or labels.get("provision.flavor") == "mariadb":
        return "mariadb"
    if env & {"MYSQL_VERSION", "MYSQL_MAJOR", "PS_VERSION"} or labels.get("provision.flavor") == "mysql":
        return "mysql"
    text = " ".join([name, *labels.values()]).lower()
    return "mariadb" if "mariadb" in text else "mysql"


def arch_warning(image: str, image_attrs: dict[str, Any], engine_arch: str) -> str | None:
    """A warning when the image is built for another CPU than the engine runs on."""
    image_arch = _ARCH_ALIASES.get(image_attrs.get("Architecture") or "", image_attrs.get("Architecture"))
    host_arch = _ARCH_ALIASES.get(engine_arch, engine_arch)
    if not image_arch or not host_arch or image_arch == host_arch:
        return None
    return (f"image {image} is built for linux/{image_arch} but the Docker engine runs on linux/{host_arch}: "
            "it runs under emulation (slow) or not at all; prefer an image for "
            f"linux/{host_arch} (docker pull --platform linux/{host_arch} {image})")


def _is_ours(labels: dict[str, str], state_id: str) -> bool:
    return labels.get(OWNED_LABEL) == "true" and labels.get(STATE_LABEL) == state_id


class DockerBackend:
    name = "docker"

    def __init__(self, settings: Settings, state: StateDir):
        self.settings = settings
        self.state = state
        self.state_id = str(settings.state_path.resolve())
        self.container_name, self.volume_name = resource_names(settings)
        self._client_cache = None

    # --- Backend protocol ------------------------------------------------------------
    def available(self) -> tuple[bool, str]:
        try:
            client = self._client(timeout=PING_TIMEOUT)
        except ServerError as exc:
            return False, exc.message
        version = client.api.api_version  # fetched while connecting: no second request
        client.close()
        return True, f"the Docker engine answers (API {version})"

    # called once the start only waits for the engine or the server (docker_early: the CLI imports then)
    before_waiting: Callable[[], None] | None = None

    def start(self) -> Started:
        early = docker_early.take(self.settings)
        if early is not None:  # this command started it before its imports, with these settings
            log.debug("docker: the start began ahead of the CLI's imports")
            if early.error is not None:
                raise early.error
            return early.started
        return self.start_now()

    def start_now(self) -> Started:
        running = self._recorded_container_answers()
        if running is not None:
            return running
        client = self._client()
        container, volume = self._find_container(client), self._find_volume(client)
        made_with = _labels(volume).get(IMAGE_LABEL)
        image = normalize_image(self.settings.image or made_with or _labels(container).get(IMAGE_LABEL)
                                or DEFAULT_IMAGE)
        action = None
        if made_with and made_with != image:
            self._refuse_other_image(made_with, image)  # unless --recreate
            log.info("docker: --recreate: removing %s and its volume (made with %s)", self.container_name, made_with)
            self._remove(container, volume)
            container = volume = None
            action = f"recreated from scratch with {image} (--recreate)"
        elif container is not None and (why := self._outdated(container, image)):
            log.info("docker: replacing container %s (%s); the data volume is kept", self.container_name, why)
            container.remove(force=True)
            container = None
            action = f"recreated for {why}, data kept"

        if container is None or container.status not in ("running", "paused"):
            self._check_port_free()  # before anything is created
        fresh = volume is None
        seeded = None  # the data directory cache the new volume was copied from
        image_attrs = None
        try:
            if container is None:
                image_attrs = self._image(client, image)
                if volume is None:
                    volume = client.volumes.create(name=self.volume_name, driver="local",
                                                   labels=self._our_labels(image))
                    seeded = self._seed(client, image, image_attrs)
                container = self._create(client, image, image_attrs, seeded)
                action = action or ("initialized" if fresh else "recreated on the kept data volume")
            if self.before_waiting is not None:
                self.before_waiting()
            if container.status == "paused":
                container.unpause()
                action = action or "unpaused"
            elif container.status != "running":
                self._start(container)
                action = action or "started"
            if seeded is not None:
                self._rotate(container, seeded)  # its login is the readiness proof
            else:
                self._wait(container)
        except BaseException:
            if fresh:
                # a first start that failed leaves a half-made data directory: remove what we made
                # (the error already carries the log tail) so the next up starts clean
                self._remove(container, volume, quietly=True)
            raise
        action = action or "already running"
        if seeded is not None:
            log.info("docker: the new volume is a copy of the data directory cache %s", seeded.volume)
        elif fresh and image_attrs is not None and self.settings.docker_cache:
            from . import docker_cache

            if docker_cache.usable(image_attrs):
                docker_cache.build_in_background(image)  # for the next project: this one is up
        self.state.update(docker={"container": self.container_name, "volume": self.volume_name, "image": image,
                                  **({"seeded_from": seeded.volume} if seeded is not None else {}),
                                  "flavor": _labels(container).get(FLAVOR_LABEL, "mysql"),
                                  "port": self._port(), "hostname": container.attrs["Config"]["Hostname"]})
        log.info("docker: %s %s on 127.0.0.1:%s (container %s, volume %s)", image, action, self._port(),
                 self.container_name, self.volume_name)
        return Started(self.server(), action, self._details(image))

    def _details(self, image: str) -> dict[str, Any]:
        return {"container": self.container_name, "volume": self.volume_name, "image": image}

    def _recorded_container_answers(self) -> Started | None:
        """The warm path, without the engine (the SDK import alone costs ~150 ms): the container
        the last start recorded is running when our generated root password logs in on its
        port and the server names itself with that container's hostname. Anything else
        (another image or port asked for, no answer, another server) takes the full path."""
        recorded = self.state.read().get("docker") or {}
        wanted = normalize_image(self.settings.image) if self.settings.image else recorded.get("image")
        if (self.settings.recreate or not recorded.get("hostname") or recorded.get("port") != self._port()
                or wanted != recorded.get("image") or not self.state.secret("docker_root_password")):
            return None
        try:
            conn = self.server().connect(timeout=2)
        except Exception as exc:  # not up, or not ours: the engine decides below
            log.debug("docker: the recorded container does not answer (%s); asking the engine", exc)
            return None
        try:
            with conn.cursor() as cursor:
                (hostname,), = run(cursor, "docker", "hostname")
        finally:
            conn.close()
        if hostname != recorded["hostname"]:
            log.debug("docker: the server on port %s is %s, not the recorded %s; asking the engine",
                      self._port(), hostname, recorded["hostname"])
            return None
        return Started(self.server(), "already running", self._details(recorded["image"]))

    def _refuse_other_image(self, made_with: str, image: str) -> None:
        if self.settings.recreate:
            return
        raise ServerError(
            f"the data volume {self.volume_name} was initialised by {made_with}, not {image}; "
            "a data directory cannot be downgraded and provision does not guess about upgrades",
            f"keep the data: provision up --image {made_with}; or start over with an empty server "
            f"(the data is lost): provision up --image {image} --recreate",
        )

    def _outdated(self, container, image: str) -> str | None:
        """Why the container must be replaced (its image or port is not the wanted one), or None."""
        had = _labels(container).get(IMAGE_LABEL)
        if had != image:
            return f"image {had} -> {image}"
        port = self._bound_port(container)
        if port != self._port():
            return f"port {port} -> {self._port()}"
        return None

    def stop(self) -> str:
        client = self._client()
        container = self._find_container(client)
        if container is None:
            return f"no container {self.container_name}: nothing to stop"
        if container.status not in ("running", "paused", "restarting"):
            return f"container {self.container_name} is not running ({container.status}); data kept in volume " \
                   f"{self.volume_name}"
        container.stop(timeout=STOP_TIMEOUT)
        return f"container {self.container_name} stopped; data kept in volume {self.volume_name}"

    def destroy(self) -> str:
        """Remove the containers and volumes labelled as this project's; nothing else, whatever its name."""
        import docker

        client = self._client()
        wanted = {"label": [f"{OWNED_LABEL}=true", f"{STATE_LABEL}={self.state_id}"]}
        removed = []
        for container in client.containers.list(all=True, filters=wanted):
            container.remove(force=True)
            removed.append(f"container {container.name}")
        for volume in client.volumes.list(filters=wanted):
            volume.remove(force=True)
            removed.append(f"volume {volume.name}")
        message = "removed " + " and ".join(removed) if removed else "no container or volume of this project"
        for kind, collection, name in (("container", client.containers, self.container_name),
                                       ("volume", client.volumes, self.volume_name)):
            try:
                collection.get(name)
            except docker.errors.NotFound:
                continue
            message += f"; the {kind} {name} is not this project's and was left alone"
        return message

    def status(self) -> dict[str, Any]:
        recorded = self.state.read().get("docker", {})
        status: dict[str, Any] = {"backend": self.name, "container": self.container_name,
                                  "volume": self.volume_name, "image": recorded.get("image")}
        try:
            client = self._client(timeout=10)
            container = self._find_container(client)
            volume = self._find_volume(client)
        except ServerError as exc:
            return {**status, "state": "unknown", "error": exc.message}
        if container is None:
            status.update(state="absent" if volume is None else "absent (volume kept)", health=None)
            return status
        port = self._bound_port(container)
        status.update(state=container.status, image=_labels(container).get(IMAGE_LABEL), port=port,
                      started_at=container.attrs.get("State", {}).get("StartedAt"))
        if container.status == "running":
            try:
                conn = self.server(port).connect(timeout=3)
                conn.close()
                status["health"] = "accepts the admin login"
            except Exception as exc:  # status reports, it does not fail
                status["health"] = f"does not accept logins yet ({exc})"
        return status

    def logs_tail(self, lines: int = 40) -> str:
        """The container's log tail; empty when there is none (used inside error messages)."""
        try:
            container = self._find_container(self._client(timeout=10))
            if container is None:
                return ""
            return container.logs(tail=lines).decode("utf-8", "replace")
        except Exception:  # an error message must not fail while asking for the log
            return ""

    def follow_logs(self, lines: int = 40) -> Iterator[str]:
        """The log tail, then new lines as the server writes them (until the container stops)."""
        container = self._find_container(self._client())
        if container is None:
            raise ServerError(f"no container {self.container_name}", "run provision up first")
        for chunk in container.logs(stream=True, follow=True, tail=lines):
            yield chunk.decode("utf-8", "replace")

    # --- how an admin logs in ------------------------------------------------------
    def _port(self) -> int:
        """The port the project's container was set up on, unless a port was asked for explicitly."""
        return self.settings.port_or_recorded(self.state.read().get("docker", {}).get("port"))

    def server(self, port: int | None = None) -> Server:
        password = self.state.secret("docker_root_password") or ""
        port = port or self._port()
        admin = DatabaseURL(user="root", password=password, host="127.0.0.1", port=port)
        # the published port is on loopback: skip the TLS handshake (PyMySQL then uses the
        # server's RSA key for caching_sha2_password on a cold cache: PyMySQL[rsa])
        return Server(admin=admin, host="127.0.0.1", port=port, local=True)

    # --- the server's own tools (snapshots, shell) -------------------------------------
    def client_command(self, kind: str, *, user: str, password: str, interactive: bool = False):
        """Context manager: for "client", argv of this machine's mariadb/mysql logged in as ``user``
        on the published port (the app user's host is '%', so TCP logs in), through a 0600 option
        file; None when no client is installed. "dump" is always None: snapshots dump inside the
        container (``dump_stream``), or write the SQL themselves."""
        import contextlib

        from ..client_tools import local_command

        if kind != "client":
            return contextlib.nullcontext(None)
        return local_command("client", user=user, password=password, host="127.0.0.1", port=self._port(),
                             directory=self.state.ensure())

    def dump_stream(self, database: str, options: tuple[str, ...], *, user: str,
                    password: str) -> tuple[str, Iterator[bytes]] | None:
        """The container's own mariadb-dump/mysqldump dumping ``database``: (what dumps, the SQL as
        it is written). None when the container has no dump tool (or is not running).

        The tool runs inside the container (Docker exec), logged in over its socket; the password
        reaches it through the exec's environment (MYSQL_PWD), never argv. Iterating raises a
        ServerError with the tool's last error lines when it fails."""
        import docker

        client = self._client()
        container = self._find_container(client)
        if container is None or container.status != "running":
            return None
        tool = self._dump_tool(container)
        if tool is None:
            return None
        name = tool.rsplit("/", 1)[-1]
        what = f"{name} inside container {self.container_name}"
        if name == "mysqldump" and _labels(container).get(FLAVOR_LABEL) != "mariadb":
            # MySQL's: no SET @@GLOBAL.GTID_PURGED in the dump (a restore must not touch the server's GTIDs)
            options = (*options, "--set-gtid-purged=OFF")
        try:
            exec_id = client.api.exec_create(container.id, [tool, f"--user={user}", *options, database],
                                             environment={"MYSQL_PWD": password}, stdout=True, stderr=True,
                                             stdin=False)["Id"]
        except docker.errors.APIError as exc:
            raise ServerError(f"Docker could not run {what}: {getattr(exc, 'explanation', None) or exc}",
                              "run with --debug; provision doctor") from None
        return what, self._exec_output(client, exec_id, what)

    def _dump_tool(self, container) -> str | None:
        """The path of the container's dump tool, the flavor's own name first; None when it has none."""
        import docker

        flavor = _labels(container).get(FLAVOR_LABEL, "mysql")
        names = ("mariadb-dump", "mysqldump") if flavor == "mariadb" else ("mysqldump", "mariadb-dump")
        try:
            code, out = container.exec_run(["sh", "-c", 'for t in "$@"; do command -v "$t" && exit 0; done; exit 1',
                                            "sh", *names], stdout=True, stderr=False)
        except docker.errors.APIError as exc:  # no sh in the image: no tools either
            log.debug("docker: cannot look for a dump tool in %s (%s)", self.container_name, exc)
            return None
        path = out.decode("utf-8", "replace").strip().splitlines()[-1:] if code == 0 and out else []
        if not path:
            log.info("docker: container %s has no %s", self.container_name, " or ".join(names))
            return None
        return path[0]

    @staticmethod
    def _exec_output(client, exec_id: str, what: str) -> Iterator[bytes]:
        errors = bytearray()
        for out, err in client.api.exec_start(exec_id, stream=True, demux=True):
            if err:
                errors += err
                del errors[:-8192]  # only the end is shown
            if out:
                yield out
        deadline = time.monotonic() + 10
        while (info := client.api.exec_inspect(exec_id))["Running"] and time.monotonic() < deadline:
            time.sleep(0.05)  # the output ended: the exit code follows within moments
        code = info.get("ExitCode")
        if code != 0:
            tail = errors.decode("utf-8", "replace").strip().splitlines()[-5:]
            raise ServerError(f"{what} failed (exit {code}): " + (" / ".join(tail) or "no error message"),
                              "no snapshot was written; run with --debug, and provision doctor")

    # --- the engine ----------------------------------------------------------------
    def _client(self, timeout: float = API_TIMEOUT):
        """A connected client; raises a ServerError with a hint when the engine does not answer."""
        if self._client_cache is not None:
            return self._client_cache
        try:
            import docker
        except ModuleNotFoundError:
            raise ServerError("the docker backend needs the Docker SDK for Python, which is not installed",
                              sdk_hint()) from None
        try:
            client = _connect(docker, timeout)  # asks the engine its API version: it answers, or this raises
        except docker.errors.DockerException as exc:
            raise _engine_error(exc) from None
        if timeout == API_TIMEOUT:
            self._client_cache = client  # a short-timeout client (available()) is not kept
        return client

    def _find_container(self, client):
        import docker

        try:
            container = client.containers.get(self.container_name)
        except docker.errors.NotFound:
            return None
        if not _is_ours(_labels(container), self.state_id):
            raise self._clash("container", _labels(container), f"docker rm -f {self.container_name}")
        return container

    def _find_volume(self, client):
        import docker

        try:
            volume = client.volumes.get(self.volume_name)
        except docker.errors.NotFound:
            return None
        if not _is_ours(_labels(volume), self.state_id):
            raise self._clash("volume", _labels(volume),
                              f"docker volume rm {self.volume_name} (its data is lost)")
        return volume

    def _clash(self, kind: str, labels: dict | None, remove: str) -> ServerError:
        owner = (labels or {}).get(STATE_LABEL)
        whose = f"it belongs to the provision state in {owner}" if owner else "provision did not make it"
        return ServerError(
            f"a Docker {kind} named {self.container_name if kind == 'container' else self.volume_name} "
            f"already exists and is not this project's ({whose}); provision leaves it alone",
            f"if you do not need it, remove it yourself: {remove}; or give this project another "
            "--state-dir (the names derive from it)",
        )

    def _our_labels(self, image: str, flavor: str | None = None) -> dict[str, str]:
        labels = {OWNED_LABEL: "true", STATE_LABEL: self.state_id,
                  PROJECT_LABEL: str(self.settings.project_dir), IMAGE_LABEL: image}
        if flavor:
            labels[FLAVOR_LABEL] = flavor
        return labels

    def _image(self, client, image: str) -> dict[str, Any]:
        """The image's attributes; pulled when missing; a warning when its CPU is not the engine's."""
        import docker

        try:
            attrs = client.images.get(image).attrs
        except docker.errors.ImageNotFound:
            try:
                with progress.step(log, f"docker: pulling {image}"):
                    for text, completed, total in pull_progress(client.api.pull(image, stream=True, decode=True)):
                        progress.update(log, text, completed=completed, total=total)
                attrs = client.images.get(image).attrs
            except docker.errors.DockerException as exc:
                reason = getattr(exc, "explanation", None) or str(exc)
                raise ServerError(
                    f"image {image} is not on this machine and could not be pulled ({reason})",
                    f"pull it where a registry is reachable (docker pull {image}), or build it locally "
                    f"(docker build -t {image} .; this repository's docker/build-image.sh builds "
                    "provision-test/mysql:9.7 and provision-test/mariadb:10.11 from Debian packages), "
                    "or choose an image you have with --image (docker images lists them)",
                ) from None
        warning = arch_warning(image, attrs, client.version().get("Arch", ""))
        if warning:
            log.warning("warning: %s", warning)
        return attrs

    def _create(self, client, image: str, image_attrs: dict[str, Any], cache=None):
        """The project's container; with ``cache``, its first start copies the cache into the
        empty volume before the image's entrypoint runs (docker_cache.py)."""
        import docker

        from . import docker_cache

        password = self.state.secret("docker_root_password", generate=True)
        flavor = image_flavor(image_attrs, image)
        arguments = build_arguments(image_attrs, image)
        # from the cache: its own entrypoint and command, and no password (the copy has one)
        how = docker_cache.container_options(image_attrs, arguments) if cache else \
            {"command": arguments, "environment": self._environment(password)}
        try:
            return client.containers.create(
                image,
                name=self.container_name,
                detach=True,
                labels=self._our_labels(image, flavor),
                ports={SERVER_PORT: ("127.0.0.1", self._port())},
                volumes={self.volume_name: {"bind": DATA_DIR, "mode": "rw"},
                         **(docker_cache.mount(cache) if cache else {})},
                **how,
            )
        except docker.errors.APIError as exc:
            raise ServerError(
                f"Docker could not create container {self.container_name} from {image}: "
                f"{getattr(exc, 'explanation', None) or exc}",
                "is it a MySQL or MariaDB server image (it needs an entrypoint and a command)? "
                "choose another with --image",
            ) from None

    def _seed(self, client, image: str, image_attrs: dict[str, Any]):
        """The image's data directory cache for the new volume (docker_cache.py); None when there is
        none yet or it cannot be used (the image's own initialisation then runs)."""
        import docker

        from . import docker_cache

        if not self.settings.docker_cache or not docker_cache.usable(image_attrs):
            return None
        try:
            return docker_cache.ready(client, image, image_attrs)
        except (ServerError, docker.errors.DockerException) as exc:  # the image's own init still works
            log.warning("docker: not using a data directory cache (%s); initialising",
                        getattr(exc, "message", None) or exc)
            return None

    def _rotate(self, container, cache) -> None:
        from . import docker_cache

        def alive() -> str | None:
            container.reload()
            if container.status in ("exited", "dead"):
                return f"container {self.container_name} exited with code {container.attrs['State'].get('ExitCode')}"
            return None

        try:
            with progress.step(log, f"docker: waiting for the server in {self.container_name} on 127.0.0.1:"
                                    f"{self._port()}"):
                docker_cache.rotate(self.server(), cache, timeout=self.settings.timeout, alive=alive,
                                    log_tail=self.logs_tail, what=f"the server in container {self.container_name}")
        except ServerError as exc:  # the new volume is removed: the image's own initialisation is one setting away
            exc.hint = (f"{exc.hint}\nits data directory was a copy of the cache {cache.volume}; without the "
                        "cache, the image initialises it: PROVISION_DOCKER_CACHE=0 provision up")
            raise

    @staticmethod
    def _environment(password: str) -> dict[str, str]:
        return {
            # both spellings: the official mariadb image prefers MARIADB_*, mysql reads MYSQL_*
            "MYSQL_ROOT_PASSWORD": password,
            "MARIADB_ROOT_PASSWORD": password,
            # no named time zone tables: loading them took 2.4 s of MySQL 9.7's 9.5 s first start
            # (bench/README.md); offsets such as '+00:00' work without them
            "MYSQL_INITDB_SKIP_TZINFO": "1",
            "MARIADB_INITDB_SKIP_TZINFO": "1",
        }

    def _start(self, container) -> None:
        import docker

        try:
            container.start()
        except docker.errors.APIError as exc:
            text = str(getattr(exc, "explanation", "") or exc)
            if "port is already allocated" in text or "address already in use" in text:
                raise self._port_taken() from None
            raise ServerError(f"Docker could not start container {self.container_name}: {text}",
                              "run with --debug; docker logs " + self.container_name) from None

    def _wait(self, container) -> None:
        def alive() -> str | None:
            container.reload()
            state = container.attrs.get("State", {})
            if container.status in ("exited", "dead"):
                return f"container {self.container_name} exited with code {state.get('ExitCode')}"
            return None

        try:
            with progress.step(log, f"docker: waiting for the server in {self.container_name} on 127.0.0.1:"
                                    f"{self._port()}"):
                conn = wait_until_ready(self.server(), timeout=self.settings.timeout, alive=alive,
                                        log_tail=self.logs_tail,
                                        what=f"the server in container {self.container_name}")
        except ServerError as exc:
            if error_code(exc.__cause__) == ACCESS_DENIED:
                exc.hint = (f"the data volume {self.volume_name} was initialised with another root password "
                            f"than the one in {self.state.secrets_file} (was the state directory removed?); "
                            f"start over with provision destroy --yes (the data is lost)")
            raise
        conn.close()

    def _remove(self, container, volume, *, quietly: bool = False) -> None:
        import docker

        for thing in (container, volume):
            if thing is None:
                continue
            try:
                thing.remove(force=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.DockerException:
                if not quietly:
                    raise
                log.warning("docker: could not remove %s", getattr(thing, "name", thing))

    def _bound_port(self, container) -> int | None:
        bindings = (container.attrs.get("HostConfig") or {}).get("PortBindings") or {}
        for binding in bindings.get(SERVER_PORT) or []:
            if binding.get("HostPort"):
                return int(binding["HostPort"])
        return None

    def _check_port_free(self) -> None:
        if is_listening("127.0.0.1", self._port()):
            raise self._port_taken()

    def _port_taken(self) -> ServerError:
        return ServerError.port_taken(self._port(), port_holder(self._port()) or "another process")


def build_arguments(image_attrs: dict[str, Any], image: str) -> list[str]:
    """The server's arguments for a container of ``image``."""
    flavor = image_flavor(image_attrs, image)
    return [*SERVER_ARGS, *(MYSQL_ARGS if flavor == "mysql" else ())]


def _labels(thing) -> dict[str, str]:
    """The labels of a volume (attrs.Labels) or a container (attrs.Config.Labels); {} for None."""
    if thing is None:
        return {}
    attrs = thing.attrs
    labels = attrs["Labels"] if "Labels" in attrs else (attrs.get("Config") or {}).get("Labels")
    return labels or {}


def _connect(docker, timeout: float):
    """A client for DOCKER_HOST, else the current `docker context` (Docker Desktop, colima), else the default."""
    if not os.environ.get("DOCKER_HOST"):
        try:
            from docker.context import ContextAPI

            context = ContextAPI.get_current_context()
            if context is not None and context.name != "default" and context.Host:
                return docker.DockerClient(base_url=context.Host, timeout=timeout,
                                           tls=context.TLSConfig or False)
        except Exception as exc:  # a broken context file: fall back to the default socket
            log.debug("docker: ignoring the current docker context (%s)", exc)
    return docker.from_env(timeout=timeout)


def _engine_error(exc: BaseException) -> ServerError:
    text = str(exc)
    where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    if "PermissionError" in text or "Permission denied" in text:
        who = os.environ.get("USER") or "your user"
        return ServerError(
            f"permission denied on the Docker engine's socket ({where})",
            f"let {who} use Docker: sudo usermod -aG docker {who}, then log in again (or use rootless "
            "Docker and set DOCKER_HOST); or use --backend native (a server installed on this machine)",
        )
    reason = text.split("(", 1)[-1].rstrip(")") if "Error while fetching server API version" in text else text
    if not shutil.which("docker") and not shutil.which("dockerd") and sys.platform != "darwin" \
            and not os.environ.get("DOCKER_HOST"):
        hint = "install Docker (https://docs.docker.com/engine/install/), then start it; or use --backend native"
    else:
        hint = engine_hint()
    return ServerError(f"the Docker engine is not running or not reachable at {where} ({reason})", hint)


def pull_progress(events) -> Iterator[tuple[str, int | None, int | None]]:
    """(text, bytes done, bytes in all) from the engine's pull stream: the layers' download
    progress summed over the layers seen so far. An ``error`` event raises, as the SDK does."""
    import docker

    layers: dict[str, tuple[int, int]] = {}
    for event in events:
        if "error" in event:
            raise docker.errors.APIError(event["error"])
        layer, status = event.get("id"), event.get("status", "")
        detail = event.get("progressDetail") or {}
        if layer and status == "Downloading" and detail.get("total"):
            layers[layer] = (detail.get("current", 0), detail["total"])
        elif layer and status in ("Download complete", "Pull complete", "Already exists") and layer in layers:
            layers[layer] = (layers[layer][1], layers[layer][1])
        done = sum(current for current, _ in layers.values())
        total = sum(size for _, size in layers.values())
        text = f"{len(layers)} layer(s), {done / 1e6:.1f} of {total / 1e6:.1f} MB" if total else status
        yield text, (done if total else None), (total or None)


def _main(argv: list[str]) -> int:
    """``build IMAGE``: make the cache (the detached process of docker_cache.build_in_background;
    here, not in docker_cache, so that docker_cache never imports this module)."""
    if len(argv) != 2 or argv[0] != "build":
        print("usage: python -m provision.backends.docker build IMAGE", file=sys.stderr)
        return 2
    import docker

    from .docker_cache import ensure

    client = docker.from_env(timeout=120)
    attrs = client.images.get(argv[1]).attrs
    ensure(client, argv[1], attrs, environment=DockerBackend._environment(""),
           command=build_arguments(attrs, argv[1]), timeout=300)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
