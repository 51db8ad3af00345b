"""Throwaway servers for test runs: native (a copy of a cached data directory) or docker.

Every server lives in a run directory (see reaper.py: the owner record, the watchdog and
``reap()``, which also run when the owner is killed).

The native server copies an initialised data directory cached per server binary under
``~/.cache/provision/datadirs/`` (made once with the native backend's own initialise
step), listens on 127.0.0.1 on a free port, and runs with durability off: it is thrown
away, so nothing needs to survive a crash.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib
import json
import logging
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from .. import processes
from ..errors import ServerError
from ..probe import Server, wait_until_ready
from ..url import DatabaseURL, parse
from .reaper import LABEL, OWNER_LABEL, RUN_DIR_LABEL, cache_dir, read_record, reap, run_dir, spawn_watchdog, sweep_servers, write_record

log = logging.getLogger(__name__)

DEFAULT_IMAGES = {"mysql": "provision-test/mysql:9.7", "mariadb": "provision-test/mariadb:10.11"}
IMAGE_ENV = {"mysql": "PROVISION_TEST_MYSQL_IMAGE", "mariadb": "PROVISION_TEST_MARIADB_IMAGE"}
# bumped when the option set below changes: the cached data directory is rebuilt
DATADIR_RECIPE = "1"
# A throwaway server: nothing has to survive a crash, so every flush to disk is skipped.
# innodb-stats-persistent=0 also saves a write to mysql.innodb_table_stats per CREATE/DROP
# TABLE (30 tables: 9.5 ms instead of 14.5 ms, see bench/README.md).
# performance_schema, only to count each table's row writes (provision/testing/restore.py finds the
# tables a test wrote to with them): every other instrument and consumer off, no timers.
# Only for template suites (``count_writes``).
COUNT_WRITES = [
    "performance-schema=1",
    "performance-schema-instrument=%=OFF",
    "performance-schema-instrument=wait/io/table/sql/handler=COUNTED",
    "performance-schema-consumer-events-statements-current=OFF",
    "performance-schema-consumer-events-statements-history=OFF",
    "performance-schema-consumer-events-transactions-current=OFF",
    "performance-schema-consumer-events-waits-current=OFF",
    "performance-schema-consumer-statements-digest=OFF",
    "loose-performance-schema-consumer-events-transactions-history=OFF",
    # room for every table of many copies (xdist workers, 2 copies each, and their templates); the
    # containers grow on demand. A table or handle it had no room for would go uncounted: restore.py
    # reads the lost counters at every check on servers with less room (restore.ROOMY)
    "performance-schema-max-table-instances=100000",
    "performance-schema-max-table-handles=100000",
    # no room for what is not used: the start costs ~15 ms more instead of ~55 ms (measured 5x each)
    "performance-schema-digests-size=0",
    "performance-schema-max-digest-length=0",
    "performance-schema-max-sql-text-length=0",
    "performance-schema-session-connect-attrs-size=0",
    *(f"performance-schema-events-{kind}-history{size}-size=0"
      for kind in ("statements", "waits", "stages") for size in ("", "-long")),
    "loose-performance-schema-events-transactions-history-size=0",
    "loose-performance-schema-events-transactions-history-long-size=0",
    *(f"performance-schema-{what}-size=0" for what in ("accounts", "hosts", "users")),
    *(f"performance-schema-max-{kind}-classes=0"
      for kind in ("memory", "stage", "statement", "cond", "file", "mutex", "rwlock", "socket")),
]
THROWAWAY_OPTIONS = {
    "mariadb": [
        "innodb-flush-log-at-trx-commit=0",
        "innodb-doublewrite=0",
        "innodb-flush-method=nosync",
        "innodb-use-native-aio=0",  # tmpfs has no O_DIRECT
        "innodb-buffer-pool-size=64M",
        "innodb-log-file-size=16M",
        "innodb-stats-persistent=0",
        "sync-binlog=0",
        "performance-schema=0",
    ],
    "mysql": [
        "innodb-flush-log-at-trx-commit=0",
        "innodb-doublewrite=0",
        "innodb-use-native-aio=0",
        "innodb-buffer-pool-size=64M",
        "loose-innodb-redo-log-capacity=16M",
        "innodb-stats-persistent=0",
        "sync-binlog=0",
        "performance-schema=0",
    ],
}
DOCKER_ARGS = ["--skip-log-bin", "--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0",
               "--innodb-stats-persistent=0", "--sync-binlog=0", "--character-set-server=utf8mb4"]


# --- servers -----------------------------------------------------------------------------------
@dataclass
class EphemeralServer:
    """A server for tests. ``kind``: native or docker (ours, thrown away at the end), dev (the
    project's dev server, app login) or url (an admin URL that was given)."""

    kind: str
    server: Server
    flavor: str = "?"
    version: str = "?"
    directory: Path | None = None  # the run directory, for servers we own
    owned: bool = False
    details: dict[str, Any] = field(default_factory=dict)
    _watchdog: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The admin URL (for kind dev: the app's login, which may create <database>_* databases)."""
        return str(self.server.admin)

    def connect(self, **kwargs):
        return self.server.connect(**kwargs)

    def stop(self) -> None:
        if self.owned and self.directory is not None:
            for line in reap(self.directory):
                log.debug("ephemeral server: %s", line)
        if self._watchdog is not None:
            with contextlib.suppress(ProcessLookupError):
                self._watchdog.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._watchdog.wait(5)
            self._watchdog = None

    def __enter__(self) -> "EphemeralServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @classmethod
    def attach(cls, directory: Path) -> "EphemeralServer | None":
        """The server another process of this run started in ``directory``, if it is up."""
        record = read_record(directory)
        if not record.get("admin_url") or not record.get("ready"):
            return None
        if record.get("server_pid") and not processes.alive(record["server_pid"]):
            return None
        admin = parse(record["admin_url"])
        return cls(kind=record["kind"], server=Server.from_url(admin, local=True),
                   flavor=record.get("flavor", "?"), version=record.get("version", "?"), directory=directory,
                   owned=False, details=record)


def _new_record(kind: str, owner_pid: int) -> dict[str, Any]:
    return {"kind": kind, "host": socket.gethostname(), "owner_pid": owner_pid,
            "owner_token": processes.token(owner_pid), "created": time.time()}


def start(kind: str = "native", *, image: str | None = None, owner_pid: int | None = None,
          key: str | None = None, search_path: str | None = None, timeout: float = 120.0,
          count_writes: bool = False) -> EphemeralServer:
    """Start a throwaway server owned by ``owner_pid`` (default: this process). ``count_writes``:
    a native server's performance_schema counts table writes (for restoring template copies)."""
    if kind not in ("native", "docker"):
        raise ServerError(f"unknown ephemeral server backend {kind!r}", "use native or docker")
    owner_pid = owner_pid or os.getpid()
    # the driver's import (~80 ms) overlaps the server's start
    threading.Thread(target=importlib.import_module, args=("pymysql",), daemon=True).start()
    directory = run_dir(key or secrets.token_hex(6))
    directory.mkdir(mode=0o700)
    write_record(directory, _new_record(kind, owner_pid))
    watchdog = spawn_watchdog(directory, owner_pid)
    try:
        if kind == "native":
            server = _start_native(directory, search_path=search_path, timeout=timeout,
                                   extra=COUNT_WRITES if count_writes else ())
        else:
            server = _start_docker(directory, image=image, timeout=timeout)
    except BaseException:
        reap(directory)
        with contextlib.suppress(ProcessLookupError):
            watchdog.terminate()
        watchdog.wait()
        raise
    server._watchdog = watchdog
    server.owned = True
    record = read_record(directory)
    record.update(ready=True, watchdog_pid=watchdog.pid, admin_url=server.url, flavor=server.flavor,
                  version=server.version)
    write_record(directory, record)
    return server


@contextlib.contextmanager
def ephemeral_server(backend: str = "native", image: str | None = None, *, timeout: float = 120.0,
                     search_path: str | None = None, count_writes: bool = False) -> Iterator[EphemeralServer]:
    """A throwaway server for the duration of the block; removed after it, or when this process dies."""
    sweep_servers()
    server = start(backend, image=image, timeout=timeout, search_path=search_path, count_writes=count_writes)
    try:
        yield server
    finally:
        server.stop()


# --- native --------------------------------------------------------------------------------------
def _throwaway_backend(directory: Path, binary, port: int, timeout: float, extra=()):
    from ..backends.native import NativeBackend
    from ..config import load_settings
    from ..state import StateDir

    settings = load_settings({"project_dir": directory, "port": port, "timeout": timeout}, environ={})
    # durability off: the options come after the backend's own, so they win
    return NativeBackend(settings, StateDir(directory / "state"), binary=binary,
                         extra_options=[*THROWAWAY_OPTIONS[binary.flavor], *extra])


def find_binary(search_path: str | None = None):
    """The native backend's server search, with ``--version`` answers cached (saves ~50 ms)."""
    from ..backends.native import server_candidates

    first = next(server_candidates(search_path), None)
    return _described(first) if first else None


def _described(path: Path):
    from ..backends.native import ServerBinary, describe_binary
    from ..files import atomic_write

    stat = path.stat()
    key = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
    known = cache_dir() / "binaries.json"
    try:
        data = json.loads(known.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    if key in data:
        return ServerBinary(path=path, flavor=data[key]["flavor"], version=data[key]["version"])
    binary = describe_binary(path)
    data[key] = {"flavor": binary.flavor, "version": binary.version}
    with contextlib.suppress(OSError):
        known.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write(known, (json.dumps(data, indent=2) + "\n").encode(), 0o600)
    return binary


def _find_binary(search_path: str | None):
    from ..backends.native import install_hint

    binary = find_binary(search_path)
    if binary is None:
        raise ServerError("no mariadbd or mysqld found for an ephemeral native server",
                          install_hint() + "; or use --mysql-server=docker, or an admin URL")
    return binary


def cached_datadir(binary, timeout: float = 120.0) -> Path:
    """An initialised state directory (data + root password) for ``binary``, made once."""
    stat = binary.path.stat()
    digest = hashlib.sha256(
        f"{binary.path}|{stat.st_size}|{stat.st_mtime_ns}|{DATADIR_RECIPE}|{THROWAWAY_OPTIONS}".encode()
    ).hexdigest()[:12]
    root = cache_dir()
    final = root / f"{binary.flavor}-{binary.version}-{digest}"
    if (final / "ready").is_file():
        return final
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(root / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (final / "ready").is_file():
            return final
        from ..ports import free_port

        staging = root / f".build-{secrets.token_hex(4)}"
        try:
            backend = _throwaway_backend(staging, binary, free_port(), timeout)
            backend.start()  # initialise, set the root password (kept 0600 in state/secrets.json)
            backend.stop()  # a clean shutdown: copies start without crash recovery
            for name in ("mysqld.log", "my.cnf"):
                with contextlib.suppress(FileNotFoundError):
                    (staging / "state" / "native" / name).unlink()
            (staging / "ready").write_text(f"{binary.label}\n")
            shutil.rmtree(final, ignore_errors=True)
            staging.rename(final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        log.info("ephemeral: cached an initialised data directory for %s in %s", binary.label, final)
    return final


def _copy_tree(source: Path, target: Path) -> None:
    if shutil.which("cp") and sys.platform.startswith("linux"):
        subprocess.run(["cp", "-a", "--reflink=auto", f"{source}/.", str(target)], check=True)
    else:
        shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)


def _start_native(directory: Path, *, search_path: str | None, timeout: float, extra=()) -> EphemeralServer:
    from ..ports import free_port

    binary = _find_binary(search_path)
    cached = cached_datadir(binary, timeout)
    _copy_tree(cached / "state", directory / "state")
    last: ServerError | None = None
    for _attempt in range(3):  # a free port can be taken by someone else before the server binds it
        backend = _throwaway_backend(directory, binary, free_port(), timeout, extra)
        try:
            started = backend.start()
        except ServerError as exc:
            if "already in use" not in str(exc) and "Address already in use" not in backend.logs_tail():
                raise
            last = exc
            continue
        record = read_record(directory)
        record["server_pid"] = backend.pid()
        write_record(directory, record)
        return EphemeralServer(kind="native", server=started.server, flavor=binary.flavor,
                               version=binary.version, directory=directory,
                               details={"binary": str(binary.path), "log": str(backend.log_file)})
    raise last or ServerError("the ephemeral native server did not start")


# --- docker ---------------------------------------------------------------------------------------
def default_image(flavor: str = "mysql") -> str:
    return os.environ.get(IMAGE_ENV[flavor]) or DEFAULT_IMAGES[flavor]


def _docker_host() -> str:
    """Where published ports are reached: the engine's host for tcp:// engines, else loopback."""
    from urllib.parse import urlsplit

    docker_host = os.environ.get("DOCKER_HOST", "")
    if docker_host.startswith(("tcp://", "http://", "https://")):
        return urlsplit(docker_host).hostname or "127.0.0.1"
    return "127.0.0.1"


def _start_docker(directory: Path, *, image: str | None, timeout: float) -> EphemeralServer:
    try:
        from testcontainers.community.mysql import MySqlContainer
        from testcontainers.core.config import testcontainers_config
    except ModuleNotFoundError:
        raise ServerError("the docker ephemeral server needs testcontainers",
                          "pip install 'provision[docker]' (testcontainers>=4 and docker)") from None
    image = image or default_image("mysql")
    password = secrets.token_urlsafe(18)
    host = _docker_host()
    container = MySqlContainer(
        image, username="root", password=password, dbname="provision_ready",
        labels={LABEL: "true", OWNER_LABEL: f"{socket.gethostname()}:{read_record(directory)['owner_pid']}",
                RUN_DIR_LABEL: str(directory)},
    )
    container.with_command(DOCKER_ARGS)
    container.with_tmpfs_mount("/var/lib/mysql")  # no anonymous volume is left behind
    container.ports["3306"] = (host if host == "127.0.0.1" else "0.0.0.0",)  # a free port on that address
    # our watchdog removes the container when this process dies: Ryuk (which cannot be pulled
    # here) is not needed; set only for this start so a user's own containers keep it
    saved = testcontainers_config._ryuk_disabled
    testcontainers_config.ryuk_disabled = True
    try:
        try:
            container.start()
        finally:
            testcontainers_config._ryuk_disabled = saved
            if container._container is not None:
                record = read_record(directory)
                record["container"] = container._container.id
                write_record(directory, record)
        wrapped = container.get_wrapped_container()
        wrapped.reload()
        port = int(wrapped.ports["3306/tcp"][0]["HostPort"])
    except ServerError:
        raise
    except Exception as exc:
        tail = ""
        with contextlib.suppress(Exception):
            tail = container.get_wrapped_container().logs(tail=20).decode("utf-8", "replace")
        raise ServerError(f"the docker ephemeral server ({image}) did not start: {exc}",
                          ("its log ends with:\n" + tail) if tail else
                          "check that the docker engine runs and the image exists (docker images)") from exc
    admin = DatabaseURL(user="root", password=password, host=host, port=port)
    server = Server(admin=admin, host=host, port=port, local=True)
    conn = wait_until_ready(server, timeout=timeout, what=f"container {image}")
    try:
        from ..probe import server_info

        info = server_info(conn)
    finally:
        conn.close()
    return EphemeralServer(kind="docker", server=server, flavor=info.flavor, version=info.version.split("-")[0],
                           directory=directory, details={"image": image, "container": container._container.id})


