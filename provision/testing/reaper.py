"""Crash-safe cleanup of test servers: run directories, their owner records, the watchdog.

Every server lives in a run directory ``<base>/srv-<key>/`` (``<base>`` is
``/dev/shm/provision-<uid>`` when tmpfs is there, else under the temp dir). Its
``owner.json`` (0600) says who owns it (pid + start time), what to kill (the server pid,
the container id) and how an admin logs in. Before the server starts, a watchdog process
is spawned in its own session: it waits on the owner's pidfd and, when the owner dies
(even by ``kill -9``), runs ``reap()`` on the directory. A normal end calls ``reap()``
itself; the next session's ``sweep_servers()`` reaps what both missed (the watchdog
killed too). ``reap()`` only kills a process whose command line names the run directory
and only removes a container that carries our label, so it never touches anything else.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .. import processes
from ..errors import ServerError

log = logging.getLogger(__name__)

# docker labels, in the docker backend's vocabulary (dev.provision.*): every container we start
# carries LABEL=true and the run directory it belongs to
LABEL = "dev.provision.ephemeral"
RUN_DIR_LABEL = "dev.provision.run_dir"
OWNER_LABEL = "dev.provision.owner"
# what containers started before the rename carry; still recognised as ours on read
OLD_LABELS = {LABEL: ("provision.ephemeral", "1"), RUN_DIR_LABEL: ("provision.run_dir", None)}


def is_ours(labels: dict[str, str] | None) -> bool:
    """A container one of our test runs started (new or old labels)."""
    labels = labels or {}
    old_key, old_value = OLD_LABELS[LABEL]
    return labels.get(LABEL) == "true" or labels.get(old_key) == old_value
OWNER_FILE = "owner.json"


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


# --- the record of a run directory ----------------------------------------------------------
def read_record(directory: Path) -> dict[str, Any]:
    try:
        return json.loads((directory / OWNER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def write_record(directory: Path, record: dict[str, Any]) -> None:
    from ..files import atomic_write

    atomic_write(directory / OWNER_FILE, (json.dumps(record, indent=2) + "\n").encode(), 0o600)


def reap(directory: Path) -> list[str]:
    """Kill the server of a run directory, remove its container and the directory. Idempotent.

    The server is found by its recorded pid and, for a start interrupted before the pid was
    recorded, by its command line (``--defaults-file=<directory>/...``); a container by its
    recorded id or its run-directory label. Nothing that does not name the directory.
    """
    record = read_record(directory)
    done = []
    pids = set(_processes_naming(directory))
    if record.get("server_pid"):
        pids.add(record["server_pid"])
    for pid in sorted(pids):
        if processes.alive(pid) and f"{directory}/" in processes.cmdline(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)  # throwaway: no clean shutdown needed
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)  # our own child (a normal stop): collect it, leave no zombie
            # SIGKILL is delivered asynchronously; the data dir goes next
            processes.wait_until(lambda: not processes.alive(pid), 5, first=0.01, longest=0.01)
            done.append(f"killed server pid {pid}")
    if record.get("kind") == "docker":
        done += _remove_containers(directory, record.get("container"))
    watchdog = record.get("watchdog_pid")
    if (watchdog and watchdog != os.getpid() and processes.alive(watchdog)
            and str(directory) in processes.cmdline(watchdog).split()):
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
            if needle in cmdline and b"provision.testing.reaper" not in cmdline:  # not a watchdog
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
        found = {c.id for key in (RUN_DIR_LABEL, OLD_LABELS[RUN_DIR_LABEL][0])
                 for c in client.containers.list(all=True, sparse=True, filters={"label": f"{key}={directory}"})}
        for cid in sorted(found | ({container_id} if container_id else set())):
            try:
                container = client.containers.get(cid)
                if not is_ours(container.labels):
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
        if not processes.alive(record.get("owner_pid", 0), record.get("owner_token", "")):
            done += reap(directory)
    for lock in base_dir().glob("lock-*"):  # xdist start locks (see choose.open_server)
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
        [sys.executable, "-m", "provision.testing.reaper", "watch", str(owner_pid), str(directory)],
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
                if not processes.alive(owner_pid, token):
                    break
        else:
            return
        reap(directory)
    finally:
        if fd is not None:
            os.close(fd)



def _main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "watch":
        watch(int(argv[1]), Path(argv[2]))
        return 0
    if argv == ["sweep"]:
        for line in sweep_servers():
            print(line)
        return 0
    print("usage: python -m provision.testing.reaper watch OWNER_PID RUN_DIR | sweep", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
