"""Throwaway servers for test runs: native (a copy of a cached data directory) or docker.

(Not named ephemeral_server.py: a submodule of that name would shadow the
``provision.ephemeral_server`` function once imported.)

Every server lives in a run directory ``<base>/srv-<key>/`` (``<base>`` is
``/dev/shm/provision-<uid>`` when tmpfs is there, else under the temp dir). Its
``owner.json`` (0600) says who owns it (pid + start time), what to kill (the server pid,
the container id) and how an admin logs in. Before the server starts, a watchdog process
is spawned in its own session: it waits on the owner's pidfd and, when the owner dies
(even by ``kill -9``), runs ``reap()`` on the directory. A normal end calls ``reap()``
itself; the next session's ``sweep_servers()`` reaps what both missed (the watchdog
killed too). ``reap()`` only kills a process whose command line names the run directory
and only removes a container that carries our label, so it never touches anything else.

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
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from .errors import ServerError
from .probe import Server, wait_until_ready
from .url import DatabaseURL, parse

log = logging.getLogger(__name__)

LABEL = "provision.ephemeral"  # docker label on every container we start
OWNER_FILE = "owner.json"
DEFAULT_IMAGES = {"mysql": "provision-test/mysql:9.7", "mariadb": "provision-test/mariadb:10.11"}
IMAGE_ENV = {"mysql": "PROVISION_TEST_MYSQL_IMAGE", "mariadb": "PROVISION_TEST_MARIADB_IMAGE"}
# bumped when the option set below changes: the cached data directory is rebuilt
DATADIR_RECIPE = "1"
# A throwaway server: nothing has to survive a crash, so every flush to disk is skipped.
# innodb-stats-persistent=0 also saves a write to mysql.innodb_table_stats per CREATE/DROP
# TABLE (30 tables: 9.5 ms instead of 14.5 ms, see bench/README.md).
# performance_schema, only to count each table's row writes (provision/restore.py finds the
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


# --- where things live ------------------------------------------------------------------
def base_dir() -> Path:
    """The parent of run directories: tmpfs (/dev/shm) when it is there and roomy."""
    uid = os.geteuid()
    shm = Path("/dev/shm")
    with contextlib.suppress(OSError):
        stat = os.statvfs(shm)
        if os.access(shm, os.W_OK) and stat.f_bavail * stat.f_frsize > 1 << 30:
            return _private_dir(shm / f"provision-{uid}")
    return _private_dir(Path(tempfile.gettempdir()) / f"provision-{uid}")


def cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "provision" / "datadirs"


def _private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_uid != os.geteuid():
        raise ServerError(f"{path} belongs to another user", "remove it, or set TMPDIR to a private directory")
    return path


def run_dir(key: str) -> Path:
    return base_dir() / f"srv-{key}"


# --- processes ----------------------------------------------------------------------------
def process_token(pid: int) -> str:
    """Something that changes when a pid is reused: the start time (Linux), else ''."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def process_alive(pid: int, token: str = "") -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state in ("Z", "X"):
            return False
    return not token or process_token(pid) in ("", token)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


# --- the record of a run directory ----------------------------------------------------------
def read_record(directory: Path) -> dict[str, Any]:
    try:
        return json.loads((directory / OWNER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def write_record(directory: Path, record: dict[str, Any]) -> None:
    from .files import atomic_write

    atomic_write(directory / OWNER_FILE, (json.dumps(record, indent=2) + "\n").encode(), 0o600)


def reap(directory: Path) -> list[str]:
    """Kill the server of a run directory, remove its container and the directory. Idempotent.

    The server is found by its recorded pid and, for a start interrupted before the pid was
    recorded, by its command line (``--defaults-file=<directory>/...``); a container by its
    recorded id or its ``provision.run_dir`` label. Nothing that does not name the directory.
    """
    record = read_record(directory)
    done = []
    pids = set(_processes_naming(directory))
    if record.get("server_pid"):
        pids.add(record["server_pid"])
    for pid in sorted(pids):
        if process_alive(pid) and f"{directory}/" in _cmdline(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)  # throwaway: no clean shutdown needed
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)  # our own child (a normal stop): collect it, leave no zombie
            deadline = time.monotonic() + 5
            while process_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.01)  # SIGKILL is delivered asynchronously; the data dir goes next
            done.append(f"killed server pid {pid}")
    if record.get("kind") == "docker":
        done += _remove_containers(directory, record.get("container"))
    watchdog = record.get("watchdog_pid")
    if (watchdog and watchdog != os.getpid() and process_alive(watchdog)
            and str(directory) in _cmdline(watchdog).split()):
        with contextlib.suppress(ProcessLookupError):
            os.kill(watchdog, signal.SIGTERM)  # its work is done
    if directory.exists():
        shutil.rmtree(directory, ignore_errors=True)
        done.append(f"removed {directory}")
    with contextlib.suppress(FileNotFoundError):
        (directory.parent / f"lock-{directory.name[4:]}").unlink()  # the xdist start lock, if any
    return done


def _processes_naming(directory: Path) -> list[int]:
    """Server processes whose command line names ``directory`` (Linux; elsewhere none)."""
    found = []
    needle = f"={directory}/".encode()
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                    cmdline = handle.read()
            except OSError:
                continue
            if needle in cmdline and b"provision.throwaway" not in cmdline:  # not a watchdog
                found.append(int(entry.name))
    return found


def _remove_containers(directory: Path, container_id: str | None) -> list[str]:
    try:
        import docker

        client = docker.from_env(timeout=30)
    except Exception as exc:  # no SDK or no engine: nothing we can do from here
        log.warning("cannot reach the docker engine to remove the container of %s: %s", directory, exc)
        return []
    done = []
    try:
        found = client.containers.list(all=True, filters={"label": f"provision.run_dir={directory}"})
        for cid in sorted({c.id for c in found} | ({container_id} if container_id else set())):
            try:
                container = client.containers.get(cid)
                if (container.labels or {}).get(LABEL) != "1":
                    continue
                container.remove(force=True, v=True)
                done.append(f"removed container {cid[:12]}")
            except Exception as exc:  # docker.errors.NotFound: already gone
                if type(exc).__name__ != "NotFound":
                    log.warning("removing container %s failed: %s", cid[:12], exc)
    finally:
        client.close()
    return done


def sweep_servers() -> list[str]:
    """Reap run directories whose owner is gone (its pytest was killed, watchdog too)."""
    done: list[str] = []
    for directory in sorted(base_dir().glob("srv-*")):
        record = read_record(directory)
        if not record:
            # written first thing after mkdir: no record means a crash in that instant
            with contextlib.suppress(OSError):
                if time.time() - directory.stat().st_mtime > 60:
                    done += reap(directory)
            continue
        if record.get("host") != socket.gethostname():
            continue
        if not process_alive(record.get("owner_pid", 0), record.get("owner_token", "")):
            done += reap(directory)
    for lock in base_dir().glob("lock-*"):  # xdist start locks (see ephemeral.open_server)
        with contextlib.suppress(OSError):
            if not run_dir(lock.name[5:]).exists() and time.time() - lock.stat().st_mtime > 60:
                lock.unlink()
    if done:
        log.info("swept leftovers of killed test runs: %s", "; ".join(done))
    return done


# --- the watchdog ----------------------------------------------------------------------------
def spawn_watchdog(directory: Path, owner_pid: int) -> subprocess.Popen:
    """A process in its own session that reaps ``directory`` once ``owner_pid`` is gone."""
    return subprocess.Popen(
        [sys.executable, "-m", "provision.throwaway", "watch", str(owner_pid), str(directory)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, close_fds=True,
    )


def watch(owner_pid: int, directory: Path, poll: float = 0.5) -> None:
    """Wait until the owner dies (pidfd: at once) or the directory is gone (a normal end)."""
    token = read_record(directory).get("owner_token", "")
    fd = None
    with contextlib.suppress(AttributeError, OSError):
        fd = os.pidfd_open(owner_pid)
    try:
        while directory.exists():
            if fd is not None:
                if select.select([fd], [], [], poll)[0]:
                    break
            else:
                time.sleep(poll)  # sleep-ok: no pidfd on this system, so poll
                if not process_alive(owner_pid, token):
                    break
        else:
            return
        reap(directory)
    finally:
        if fd is not None:
            os.close(fd)


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
        if record.get("server_pid") and not process_alive(record["server_pid"]):
            return None
        admin = parse(record["admin_url"])
        return cls(kind=record["kind"], server=Server(admin=admin, host=admin.host, port=admin.port, local=True),
                   flavor=record.get("flavor", "?"), version=record.get("version", "?"), directory=directory,
                   owned=False, details=record)


def _new_record(kind: str, owner_pid: int) -> dict[str, Any]:
    return {"kind": kind, "host": socket.gethostname(), "owner_pid": owner_pid,
            "owner_token": process_token(owner_pid), "created": time.time()}


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
    from .backends.native import NativeBackend
    from .config import load_settings
    from .state import StateDir

    class ThrowawayNative(NativeBackend):
        """The native backend with a known binary and durability off (appended options win)."""

        def _binary(self, *, required: bool):
            return binary

        def _write_option_file(self, server_binary, datadir=None) -> None:
            super()._write_option_file(server_binary, datadir)
            private_tmp = self.dir / "tmp"  # not /tmp: its cleaners must not take our temp tables
            private_tmp.mkdir(exist_ok=True)
            with open(self.option_file, "a", encoding="utf-8") as handle:
                handle.write("# throwaway server (provision.throwaway)\n")
                handle.write("\n".join([*THROWAWAY_OPTIONS[server_binary.flavor], *extra,
                                        f"tmpdir={private_tmp}"]) + "\n")

    settings = load_settings({"project_dir": directory, "port": port, "timeout": timeout}, environ={})
    return ThrowawayNative(settings, StateDir(directory / "state"))


def find_binary(search_path: str | None = None):
    """The native backend's server search, with ``--version`` answers cached (saves ~50 ms)."""
    from .backends.native import server_candidates

    first = next(server_candidates(search_path), None)
    return _described(first) if first else None


def _described(path: Path):
    from .backends.native import ServerBinary, describe_binary
    from .files import atomic_write

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
    from .backends.native import install_hint

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
        from .ports import free_port

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
    from .ports import free_port

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
        record["server_pid"] = backend._running_pid()
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
        labels={LABEL: "1", "provision.owner": f"{socket.gethostname()}:{read_record(directory)['owner_pid']}",
                "provision.run_dir": str(directory)},
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
        from .probe import server_info

        info = server_info(conn)
    finally:
        conn.close()
    return EphemeralServer(kind="docker", server=server, flavor=info.flavor, version=info.version.split("-")[0],
                           directory=directory, details={"image": image, "container": container._container.id})


def _main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "watch":
        watch(int(argv[1]), Path(argv[2]))
        return 0
    if argv == ["sweep"]:
        for line in sweep_servers():
            print(line)
        return 0
    print("usage: python -m provision.throwaway watch OWNER_PID RUN_DIR | sweep", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
