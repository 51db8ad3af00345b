"""native: mysqld or mariadbd as a detached process with a project-local data directory.

Everything lives under ``<state dir>/native/``: the data directory, an option file
passed with ``--defaults-file`` (so /etc/mysql and ~/.my.cnf are never read), the
pid file and the error log. The socket goes there too unless the path is too long
for a Unix socket; then it goes to a private directory under the temp dir.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from .. import progress
from .. import processes
from . import native_early
from ..config import Settings
from ..errors import ServerError
from ..files import tail_file
from ..ports import is_listening, port_holder
from ..probe import Server, wait_until_ready
from ..sql import run
from ..state import StateDir
from ..url import DatabaseURL
from .base import Started

log = logging.getLogger(__name__)

SERVER_NAMES = ("mariadbd", "mysqld")
# where servers live when PATH does not say: Debian/Fedora, Homebrew (both prefixes)
FALLBACK_DIRS = (
    "/usr/sbin",
    "/usr/local/sbin",
    "/usr/libexec",
    "/opt/homebrew/bin",
    "/opt/homebrew/sbin",
    "/usr/local/bin",
    *(f"{prefix}/opt/{formula}/bin"
      for prefix in ("/opt/homebrew", "/usr/local")
      for formula in ("mysql", "mysql@8.4", "mysql@8.0", "mariadb")),
)
SOCKET_PATH_MAX = 100  # sun_path is 108 bytes on Linux, 104 on macOS
STOP_TIMEOUT = 60.0


@dataclass(frozen=True)
class ServerBinary:
    path: Path
    flavor: str  # "mariadb" or "mysql"
    version: str

    @property
    def label(self) -> str:
        return f"{'MariaDB' if self.flavor == 'mariadb' else 'MySQL'} {self.version} ({self.path})"


def search_dirs(search_path: str | None = None) -> list[str]:
    if search_path is not None:
        return [d for d in search_path.split(os.pathsep) if d]
    return [d for d in os.environ.get("PATH", "").split(os.pathsep) if d] + list(FALLBACK_DIRS)


def server_candidates(search_path: str | None = None) -> Iterator[Path]:
    """Every executable mariadbd or mysqld in PATH, then in the usual system and Homebrew places."""
    for directory in search_dirs(search_path):
        for name in SERVER_NAMES:
            candidate = Path(directory) / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                yield candidate


def find_server_binary(search_path: str | None = None) -> ServerBinary | None:
    """The first server binary found, described (flavor and version)."""
    first = next(server_candidates(search_path), None)
    return describe_binary(first) if first else None


def describe_binary(path: Path) -> ServerBinary:
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise ServerError(f"cannot run {path} --version: {exc}", "check the server installation") from None
    flavor = "mariadb" if "mariadb" in out.lower() else "mysql"
    version = next((word for word in out.split() if word[:1].isdigit() and "." in word), "?")
    return ServerBinary(path=path, flavor=flavor, version=version.split("-")[0])


def install_hint() -> str:
    or_let_us = " (or let provision do it: provision up --install --yes)"
    if sys.platform == "darwin":
        return "install a server: brew install mysql" + or_let_us
    if shutil.which("apt-get"):
        sudo = "" if os.geteuid() == 0 else "sudo "
        return f"install a server: {sudo}apt-get install -y mariadb-server" + or_let_us
    if shutil.which("dnf"):
        return "install a server: sudo dnf install -y mariadb-server" + or_let_us
    return "install MySQL or MariaDB so that mysqld or mariadbd is on PATH"


class NativeBackend:
    name = "native"

    def __init__(self, settings: Settings, state: StateDir, *, binary: ServerBinary | None = None,
                 extra_options: Sequence[str] = ()):
        """``binary``: use this server binary (no search); ``extra_options``: option-file lines
        appended after provision's own (they win): the test servers turn durability off with them."""
        self.settings = settings
        self.state = state
        self.given_binary = binary
        self.extra_options = list(extra_options)
        # what the run that made this server recorded (binary, version, port): read once
        self.recorded: dict[str, Any] = state.read().get("native", {})
        self.dir = state.path / "native"
        self.datadir = self.dir / "data"
        self.option_file = self.dir / "my.cnf"
        self.pid_file = self.dir / "mysqld.pid"
        self.log_file = self.dir / "mysqld.log"
        self.socket = _socket_path(self.dir)

    # --- Backend protocol ------------------------------------------------------------
    def available(self) -> tuple[bool, str]:
        binary = self._binary(required=False)
        if binary is None:
            return False, "no mysqld or mariadbd found in PATH, /usr/sbin or Homebrew"
        return True, f"found {binary.label}"

    def start(self) -> Started:
        self.state.ensure()
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        early = native_early.take(self.option_file)
        if early is not None:  # this command started the recorded server before its imports
            started = self._adopt(early)
            if started is not None:
                return started
        pid = self.pid()
        if pid is not None:
            self._check_port_matches()
            connect_ok = wait_until_ready(self.server(), timeout=self.settings.timeout, what="native server",
                                          log_tail=self.logs_tail)
            connect_ok.close()
            return Started(self.server(), "already running", self._details())
        action = "started"
        if self._clear_stale_files():
            action = "recovered after a crash"
        binary = self._binary(required=True)
        self._check_port_free()
        if not (self.datadir / "mysql").is_dir():
            self._initialize(binary)
            action = "initialized"
        self._write_option_file(binary)
        process = native_early.spawn(binary.path, self.option_file, self.log_file, self.dir)
        return self._started(binary, process, action)

    def _started(self, binary: ServerBinary, process: subprocess.Popen, action: str) -> Started:
        """Wait for the spawned server; record what started it."""
        with progress.step(log, f"native: starting {binary.label.split(' (')[0]} on 127.0.0.1:{self._port()}"):
            conn = self._wait(process, first_start=action == "initialized")
        conn.close()
        self.recorded = {"binary": str(binary.path), "flavor": binary.flavor, "version": binary.version,
                         "binary_mtime": binary.path.stat().st_mtime_ns, "port": self._port()}
        self.state.update(native=self.recorded)
        log.debug("native: %s %s on 127.0.0.1:%s (data: %s)", binary.label, action, self._port(), self.datadir)
        return Started(self.server(), action, self._details())

    def _adopt(self, early: native_early.Early) -> Started | None:
        """The server started early, if it is the one this start would make; else it is stopped (None)."""
        binary = self._binary(required=True)
        if early.binary == str(binary.path) and early.options == self._option_text(binary):
            log.debug("native: the server started ahead of the CLI's imports (pid %s)", early.process.pid)
            return self._started(binary, early.process, "started")
        log.info("native: the settings changed since the last up; restarting the server with them")
        native_early.stop(early)
        return None

    def stop(self) -> str:
        pid = self.pid()
        if pid is None:
            self._clear_stale_files()
            return "native server is not running"
        os.kill(pid, signal.SIGTERM)  # mysqld shuts down cleanly on SIGTERM
        if not processes.wait_until(lambda: not processes.alive(pid), STOP_TIMEOUT, longest=0.2):
            raise ServerError(
                f"native server (pid {pid}) did not stop within {STOP_TIMEOUT:.0f} s",
                f"look at {self.log_file}; kill -9 {pid} as a last resort (InnoDB recovers on the next up)",
            )
        with contextlib.suppress(FileNotFoundError):
            self.pid_file.unlink()
        return f"native server stopped (pid {pid}); data kept in {self.datadir}"

    def destroy(self) -> str:
        message = self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.socket.parent != self.dir:
            shutil.rmtree(self.socket.parent, ignore_errors=True)
        return f"{message}; removed {self.dir}"

    def status(self) -> dict[str, Any]:
        pid = self.pid()
        recorded = self.recorded
        return {
            "backend": self.name,
            "state": "running" if pid else ("stopped" if (self.datadir / "mysql").is_dir() else "absent"),
            "pid": pid,
            "port": recorded.get("port", self.settings.port),
            "server": f"{recorded.get('flavor', '?')} {recorded.get('version', '?')}",
            "binary": recorded.get("binary"),
            "datadir": str(self.datadir),
            "socket": str(self.socket),
            "log": str(self.log_file),
            # left by a server that is gone (kill -9, reboot); the next up removes them
            "stale_files": [] if pid else [str(p) for p in (self.pid_file, self.socket) if p.exists()],
        }

    def logs_tail(self, lines: int = 40) -> str:
        return tail_file(self.log_file, lines)

    def follow_logs(self, lines: int = 40) -> Iterator[str]:
        """The log tail, then what the server appends (like tail -f; runs until interrupted)."""
        tail = self.logs_tail(lines)
        if tail:
            yield tail + "\n"
        try:
            handle = open(self.log_file, "rb")
        except OSError:
            raise ServerError(f"no server log at {self.log_file}", "run provision up first") from None
        with handle:
            handle.seek(0, os.SEEK_END)
            while True:
                chunk = handle.read()
                if chunk:
                    yield chunk.decode("utf-8", "replace")
                else:
                    time.sleep(0.25)  # polling a file; no inotify dependency

    # --- optional: the server's own tools (snapshots, shell) ----------------------------
    def client_command(self, kind: str, *, user: str, password: str, interactive: bool = False):
        """Context manager: argv of mariadb/mysql ("client") or mariadb-dump/mysqldump ("dump")
        next to the server binary, logged in as ``user`` through a 0600 option file."""
        from ..client_tools import local_command

        binary = self.recorded.get("binary")
        return local_command(kind, user=user, password=password, host="127.0.0.1", port=self._port(),
                             directory=self.dir, near=Path(binary).parent if binary else None)

    # --- how an admin logs in ------------------------------------------------------
    def server(self) -> Server:
        password = self.state.secret("native_root_password") or ""
        admin = DatabaseURL(user="root", password=password, host="127.0.0.1", port=self._port())
        return Server(admin=admin, host="127.0.0.1", port=self._port(), local=True)

    def _port(self) -> int:
        """The port the project's server was set up on, unless a port was asked for explicitly."""
        return self.settings.port_or_recorded(self.recorded.get("port"))

    def _details(self) -> dict[str, Any]:
        return {"datadir": str(self.datadir), "socket": str(self.socket), "log": str(self.log_file)}

    # --- the steps -------------------------------------------------------------------
    def _binary(self, *, required: bool) -> ServerBinary | None:
        if self.given_binary is not None:
            return self.given_binary
        recorded = self.recorded
        path = Path(recorded["binary"]) if recorded.get("binary") else None
        if path and path.is_file():
            # the binary that made this data directory; `--version` only when it changed (saves ~50 ms)
            if recorded.get("binary_mtime") == path.stat().st_mtime_ns and recorded.get("version"):
                return ServerBinary(path=path, flavor=recorded["flavor"], version=recorded["version"])
            return describe_binary(path)
        binary = find_server_binary(self.settings.server_search_path)
        if binary is None and required:
            raise ServerError(
                "no MySQL or MariaDB server binary (mysqld, mariadbd) was found in "
                + ", ".join(search_dirs(self.settings.server_search_path)[:6]) + ", ...",
                install_hint() + "; or use --backend existing --server-url mysql://root:@HOST:PORT/",
            )
        return binary

    def _initialize(self, binary: ServerBinary) -> None:
        """Initialise into a side directory and rename it: a failed run leaves nothing half-made."""
        staging = self.dir / "data.init"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(mode=0o700)
        (self.dir / "tmp").mkdir(mode=0o700, exist_ok=True)
        self._write_option_file(binary, datadir=staging)
        if binary.flavor == "mariadb":
            installer = _find_installer(binary)
            command = [str(installer), f"--defaults-file={self.option_file}",
                       "--auth-root-authentication-method=normal", "--skip-test-db",
                       f"--basedir={_basedir(binary, installer)}"]
        else:
            command = [str(binary.path), f"--defaults-file={self.option_file}", "--initialize-insecure"]
        with progress.step(log, f"native: initialising the data directory ({Path(command[0]).name})"):
            result = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            output = (result.stdout + result.stderr).strip().splitlines()[-15:]
            raise ServerError(
                f"initialising the data directory with {Path(command[0]).name} failed (exit {result.returncode})",
                "its output ends with:\n" + "\n".join("    " + line for line in output)
                + f"\n(and the log {self.log_file})",
            )
        staging.rename(self.datadir)
        # the root password is chosen (and stored 0600) before the server ever runs
        self.state.secret("native_root_password", generate=True)

    def _write_option_file(self, binary: ServerBinary, datadir: Path | None = None) -> None:
        self.option_file.write_text(self._option_text(binary, datadir), encoding="utf-8")

    def _option_text(self, binary: ServerBinary, datadir: Path | None = None) -> str:
        lines = [
            "# written by provision; the server reads only this file (--defaults-file)",
            "[mysqld]",
            f"datadir={datadir or self.datadir}",
            f"port={self._port()}",
            "bind-address=127.0.0.1",
            f"socket={self.socket}",
            f"pid-file={self.pid_file}",
            f"log-error={self.log_file}",
            # a private tmpdir: every server start deletes the #sql* files in its tmpdir, which
            # in a shared /tmp are other servers' temporary tables
            f"tmpdir={self.dir / 'tmp'}",
            "character-set-server=utf8mb4",
            "skip-name-resolve",
            "skip-log-bin",
            # MySQL's X protocol listens on 33060 on every interface by default
            "loose-mysqlx=OFF",
            # no binary log, so no GTIDs: MySQL's mysqldump then writes no SET @@GLOBAL.GTID_PURGED
            # that the app user could not load (Django's --parallel clone); MariaDB has no gtid-mode
            "loose-gtid-mode=OFF",
            # a development server: an OS crash may lose the last second of commits
            "innodb-flush-log-at-trx-commit=2",
            "innodb-buffer-pool-size=128M",
        ]
        if os.geteuid() == 0:
            lines.append("user=root")  # both servers refuse to run as root without it
        if self.extra_options:
            lines += ["# the caller's options (last: they win)", *self.extra_options]
        return "\n".join(lines) + "\n"

    def _wait(self, process: subprocess.Popen, *, first_start: bool):
        def alive() -> str | None:
            code = process.poll()
            return None if code is None else f"the server process exited with code {code}"

        server = self.server()
        if first_start:
            # the fresh data directory has root@localhost with no password: set the
            # stored one over the socket and add root@127.0.0.1 for TCP logins
            socket_admin = Server(
                admin=DatabaseURL(user="root", host="localhost", port=self._port(),
                                  query=(("unix_socket", str(self.socket)),)),
                host="127.0.0.1", port=self._port(), local=True,
            )
            conn = wait_until_ready(socket_admin, timeout=self.settings.timeout, alive=alive,
                                    log_tail=self.logs_tail, what="native server")
            params = {"password": server.admin.password}
            with conn.cursor() as cursor:
                for (host,) in run(cursor, "native", "other_root_hosts"):
                    run(cursor, "bootstrap", "drop_user", {"user": "root", "host": host})
                for name in ("create_tcp_root", "set_tcp_root_password", "grant_tcp_root", "set_root_password"):
                    run(cursor, "native", name, params)
            conn.close()
        return wait_until_ready(server, timeout=self.settings.timeout, alive=alive,
                                log_tail=self.logs_tail, what="native server")

    def pid(self) -> int | None:
        """The pid of our server, if the pid file names a live process running our option file."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        if not processes.alive(pid):
            return None
        if str(self.option_file) not in processes.cmdline(pid):
            return None  # the pid was reused by another process
        return pid

    def _clear_stale_files(self) -> bool:
        """After a crash (kill -9, reboot) pid and socket files remain; InnoDB recovers the data."""
        stale = False
        for path in (self.pid_file, self.socket, Path(str(self.socket) + ".lock")):
            if path.exists() or path.is_symlink():
                path.unlink()
                stale = True
        if stale:
            log.info("native: removed a stale pid/socket file left by a server that is gone")
        return stale

    def _check_port_free(self) -> None:
        if is_listening("127.0.0.1", self._port()):
            raise ServerError.port_taken(self._port(), port_holder(self._port()) or "another process")

    def _check_port_matches(self) -> None:
        recorded = self.recorded.get("port")
        if recorded and recorded != self._port():  # only when --port asked for another one
            raise ServerError(
                f"the native server of this project runs on port {recorded}, not {self._port()}",
                f"run provision down, then provision up --port {self._port()} (or drop --port)",
            )


def _socket_path(directory: Path) -> Path:
    candidate = directory / "mysqld.sock"
    if len(str(candidate)) <= SOCKET_PATH_MAX:
        return candidate
    digest = hashlib.sha256(str(directory).encode()).hexdigest()[:12]
    private = Path(tempfile.gettempdir()) / f"provision-{os.geteuid()}-{digest}"
    private.mkdir(mode=0o700, exist_ok=True)
    return private / "mysqld.sock"


def _find_installer(binary: ServerBinary) -> Path:
    names = ("mariadb-install-db", "mysql_install_db")
    dirs = [binary.path.parent, binary.path.parent.parent / "bin", binary.path.parent.parent / "scripts",
            *map(Path, search_dirs())]
    for directory in dirs:
        for name in names:
            if (directory / name).is_file():
                return directory / name
    raise ServerError(
        f"{binary.path} was found but not mariadb-install-db, which initialises its data directory",
        install_hint(),
    )


def _basedir(binary: ServerBinary, installer: Path) -> Path:
    # Debian: /usr/sbin/mariadbd + /usr/bin/mariadb-install-db -> /usr; Homebrew: <prefix>/bin/...
    return installer.parent.parent
