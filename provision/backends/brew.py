# Over 500 lines: Homebrew's service, formulae, socket logins and the root-password prompt are one
# lifecycle; splitting them would only move private helpers apart.
"""brew: Homebrew's MySQL or MariaDB service on a Mac (the seed's ``brew install mysql``).

Homebrew keeps one server per machine. Its data lives in ``<prefix>/var/mysql``, its
options come from ``<prefix>/etc/my.cnf`` (plus /etc/my.cnf and ~/.my.cnf), it listens
on 127.0.0.1:3306 and on the socket /tmp/mysql.sock, and root logs in over that socket
with a blank password (the seed's ``mysql -u root``).

- Homebrew is ``brew`` on PATH, else /opt/homebrew/bin/brew (Apple Silicon) or
  /usr/local/bin/brew (Intel); ``brew --prefix`` says where it keeps things.
- The formula is ``--formula``, else the first of mysql, mysql@8.4, mysql@8.0, mariadb that
  ``brew list --versions`` reports installed.
- Where the server listens comes from the formula's own server binary:
  ``<prefix>/opt/<formula>/bin/mysqld --print-defaults`` prints the options it reads from
  every option file; no ``port``/``socket`` there means the compiled defaults, 3306 and
  /tmp/mysql.sock. provision never edits Homebrew's my.cnf (every project on the Mac
  shares it): when the server's port is not ``--port`` it stops and says what to change.
- ``start`` first logs in over the socket: a server that already answers (started with
  ``brew services`` or by hand with ``mysql.server start``, as the seed does) is used as
  it is. Otherwise ``brew services start <formula>``, then wait for a real login.
- The admin is root over the socket with a blank password; for the mariadb formula,
  whose installer gives root and the installing macOS user unix_socket logins, that user
  next. A root with a password comes from ``--server-url`` (kept in the 0600 secrets
  file for later runs) or from a prompt on a terminal (the CLI handles
  ``AdminPasswordRequired``); it is never guessed.
- ``down`` runs ``brew services stop`` only when provision started the service; a server
  that was running before is left running, like the existing backend's.
"""
from __future__ import annotations

import getpass
import json
import logging
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .. import processes
from ..config import Settings
from ..errors import AdminPasswordRequired, ConfigError, ServerError
from ..files import tail_file
from ..ports import is_listening, port_holder
from ..probe import ACCESS_DENIED, Server, describe_login_error, error_code, wait_until_ready
from ..sql import run
from ..state import StateDir
from ..url import DatabaseURL, parse
from .base import Started

log = logging.getLogger(__name__)

FORMULAE = ("mysql", "mysql@8.4", "mysql@8.0", "mariadb")
BREW_PLACES = ("/opt/homebrew/bin/brew", "/usr/local/bin/brew")
DEFAULT_PORT = 3306
DEFAULT_SOCKET = "/tmp/mysql.sock"  # MYSQL_UNIX_ADDR of both formulae on macOS
SERVER_NAMES = ("mysqld", "mariadbd")
BREW_TIMEOUT = 600.0  # brew may auto-update first
STOP_TIMEOUT = 60.0
_FORMULA = re.compile(r"[a-z0-9][a-z0-9@._+-]{0,63}")
# a socket that is missing or refuses: the server is not running
_NOT_RUNNING = {2002, 2003, 2006, 2013}


def find_brew() -> Path | None:
    """``brew`` on PATH, else the standard Apple Silicon and Intel places."""
    found = shutil.which("brew")
    if found:
        return Path(found)
    for place in BREW_PLACES:
        if os.access(place, os.X_OK):
            return Path(place)
    return None


def validate_formula(name: str) -> str:
    if not _FORMULA.fullmatch(name or ""):
        raise ConfigError(f"invalid Homebrew formula name {name!r}",
                          "use a formula name such as " + ", ".join(FORMULAE))
    return name


def no_brew_error() -> ServerError:
    return ServerError(
        "Homebrew (brew) was not found on PATH, in /opt/homebrew/bin or in /usr/local/bin",
        "install Homebrew (https://brew.sh), or use another backend: --backend docker or --backend native",
    )


def server_options(print_defaults_output: str) -> dict[str, str]:
    """The options in ``mysqld --print-defaults`` output, names normalised; the last one wins."""
    lines = [line for line in print_defaults_output.splitlines() if line.strip()]
    if lines and "would have been started" in lines[0]:
        lines = lines[1:]
    options: dict[str, str] = {}
    for token in re.split(r"\s+(?=--)", " ".join(lines).strip()):
        if not token.startswith("--"):
            continue
        name, _, value = token[2:].partition("=")
        name = name.strip().replace("_", "-")
        if name.startswith("loose-"):
            name = name[len("loose-"):]
        options[name] = value.strip()
    return options


@dataclass(frozen=True)
class Formula:
    """An installed formula and where its server listens."""

    brew: Path
    prefix: Path
    name: str
    version: str
    port: int
    socket: str
    log_error: str | None
    config_source: str  # where port and socket came from, for messages

    @property
    def opt(self) -> Path:
        return self.prefix / "opt" / self.name

    @property
    def datadir(self) -> Path:
        return self.prefix / "var" / "mysql"  # the service runs mysqld_safe --datadir=<prefix>/var/mysql

    @property
    def config_file(self) -> Path:
        return self.prefix / "etc" / "my.cnf"

    @property
    def label(self) -> str:
        return f"Homebrew {self.name} {self.version}".rstrip()


class BrewBackend:
    name = "brew"

    def __init__(self, settings: Settings, state: StateDir):
        self.settings = settings
        self.state = state
        self._formula: Formula | None = None

    # --- Backend protocol ------------------------------------------------------------
    def available(self) -> tuple[bool, str]:
        if find_brew() is None:
            return False, "Homebrew (brew) is not installed"
        try:
            formula = self.formula()
        except ServerError as exc:
            return False, exc.message
        return True, f"found {formula.label} in {formula.prefix}"

    def start(self) -> Started:
        self.state.ensure()
        formula = self.formula()
        self._check_configured_port(formula)
        admins = self._admin_candidates(formula)
        recorded = self._recorded()
        started_by_provision = bool(recorded.get("started_by_provision"))
        found = self._try_login(formula, admins)
        if found is not None:
            conn, admin = found
            action = "already running"
        else:
            service = self.service_info(formula)
            if service.get("running"):
                action = "already running"  # the service is up and still opening its socket
            else:
                self._check_port_free(formula)
                self._brew(formula.brew, "services", "start", formula.name, what="starting the service")
                started_by_provision = True
                action = "started"
            conn, admin = self._wait_for_login(formula, admins)
        try:
            self._check_listening(conn, formula)
        finally:
            conn.close()
        self._record(formula, admin, started_by_provision)
        log.info("brew: %s %s on 127.0.0.1:%s (socket %s)", formula.label, action, self.settings.port,
                 formula.socket)
        return Started(self._server(admin), action, self._details(formula))

    def stop(self) -> str:
        recorded = self._recorded()
        name = recorded.get("formula") or self.settings.formula or "mysql"
        if not recorded.get("started_by_provision"):
            return (f"Homebrew's {name} was already running before provision used it: left running "
                    f"(stop it yourself with brew services stop {name})")
        formula = self.formula()
        if not self.service_info(formula).get("running"):
            return f"Homebrew's {formula.name} service is not running"
        self._brew(formula.brew, "services", "stop", formula.name, what="stopping the service")
        if not processes.wait_until(lambda: not is_listening("127.0.0.1", formula.port), STOP_TIMEOUT, first=0.05):
            return f"brew services stop {formula.name} ran, but the server still listens on port {formula.port}"
        return f"Homebrew's {formula.name} stopped (brew services stop {formula.name}); data kept in {formula.datadir}"

    def destroy(self) -> str:
        message = self.stop()
        datadir = self._recorded().get("datadir", "<prefix>/var/mysql")
        return (f"{message}; Homebrew's data directory {datadir} is shared by every project on this Mac "
                "and was left as it is (drop the app's database yourself if you want it gone)")

    def status(self) -> dict[str, Any]:
        recorded = self._recorded()
        status: dict[str, Any] = {"backend": self.name, "formula": recorded.get("formula"),
                                  "port": self.settings.port, "socket": recorded.get("socket")}
        try:
            formula = self.formula()
        except ServerError as exc:
            return {**status, "state": "absent", "error": exc.message}
        service = self.service_info(formula)
        answering = self._try_login(formula, self._admin_candidates(formula), quiet=True)
        if answering is not None:
            answering[0].close()
        if service.get("running"):
            state = "running"
        elif answering is not None:
            state = "running (not a brew service: started by hand, e.g. mysql.server start)"
        else:
            state = "stopped"
        return {**status, "state": state, "server": formula.label, "service": service.get("status"),
                "pid": service.get("pid"), "port": formula.port, "socket": formula.socket,
                "prefix": str(formula.prefix), "datadir": str(formula.datadir),
                "config": str(formula.config_file), "log": str(self._log_path(formula) or ""),
                "started_by_provision": bool(recorded.get("started_by_provision"))}

    def logs_tail(self, lines: int = 40) -> str:
        path = self._log_path(self._formula) if self._formula else None
        if path is None:
            recorded = self._recorded().get("log")
            path = Path(recorded) if recorded else None
        if path is None:
            return ""
        return tail_file(path, lines)

    # --- optional protocol ---------------------------------------------------------------
    def server(self) -> Server:
        """How an admin logs in, from what the last ``up`` recorded (nothing is started)."""
        recorded = self._recorded()
        if self.settings.server_url or recorded.get("admin"):
            return self._server(self._admin_candidates(None)[0])
        socket = recorded.get("socket") or DEFAULT_SOCKET
        return self._server(_socket_admin(recorded.get("admin_user") or "root", socket, self.settings.port))

    def client_command(self, kind: str, *, user: str, password: str, interactive: bool = False):
        """Context manager: argv of the formula's own client or dump tool, logged in as ``user``."""
        from ..client_tools import local_command

        recorded = self._recorded()
        near = Path(recorded["prefix"]) / "opt" / recorded["formula"] / "bin" if recorded.get("formula") else None
        return local_command(kind, user=user, password=password, host="127.0.0.1", port=self.settings.port,
                             directory=self.state.ensure(), near=near)

    # --- Homebrew ------------------------------------------------------------------------
    def formula(self) -> Formula:
        """The installed formula this project uses, and where its server listens."""
        if self._formula is None:
            self._formula = self._find_formula()
        return self._formula

    def service_info(self, formula: Formula) -> dict[str, Any]:
        """``brew services info <formula> --json``: running, loaded, pid, status, ..."""
        out = self._brew(formula.brew, "services", "info", formula.name, "--json", what="asking for the service")
        try:
            data = json.loads(out)
        except ValueError:
            raise ServerError(f"brew services info {formula.name} --json printed no JSON: {out[:200]!r}",
                              "run it yourself to see what is wrong with Homebrew's services") from None
        entry = data[0] if isinstance(data, list) and data else data
        return entry if isinstance(entry, dict) else {}

    def _find_formula(self) -> Formula:
        brew = find_brew()
        if brew is None:
            raise no_brew_error()
        prefix = Path(self._brew(brew, "--prefix", what="finding Homebrew's prefix").strip())
        wanted = self.settings.formula or self._recorded().get("formula")
        candidates = (validate_formula(wanted),) if wanted else FORMULAE
        listed = self._brew(brew, "list", "--versions", *candidates, check=False, what="listing formulae")
        versions = {}
        for line in listed.splitlines():
            name, _, version = line.strip().partition(" ")
            versions[name] = version.split()[-1] if version.split() else ""
        name = next((candidate for candidate in candidates if candidate in versions), None)
        if name is None:
            which = f"no formula {wanted}" if wanted else "none of the formulae " + ", ".join(FORMULAE)
            raise ServerError(
                f"Homebrew in {prefix} has {which} installed",
                f"install it: brew install {wanted or 'mysql'} (or let provision: provision up --install), "
                "then run provision up again" + ("" if wanted else "; --formula picks one"),
            )
        port, socket, log_error, source = self._listening(prefix / "opt" / name)
        return Formula(brew=brew, prefix=prefix, name=name, version=versions[name], port=port, socket=socket,
                       log_error=log_error, config_source=source)

    def _listening(self, opt: Path) -> tuple[int, str, str | None, str]:
        """Port, socket and log from the formula's server: ``mysqld --print-defaults``."""
        binary = next((opt / "bin" / n for n in SERVER_NAMES if (opt / "bin" / n).is_file()), None)
        options: dict[str, str] = {}
        source = "the compiled defaults"
        if binary is None:
            log.warning("brew: no mysqld or mariadbd in %s; assuming port %s and socket %s",
                        opt / "bin", DEFAULT_PORT, DEFAULT_SOCKET)
        else:
            try:
                result = subprocess.run([str(binary), "--print-defaults"], capture_output=True, text=True,
                                        timeout=30, stdin=subprocess.DEVNULL)
            except (OSError, subprocess.SubprocessError) as exc:
                raise ServerError(f"cannot run {binary} --print-defaults: {exc}",
                                  "check the formula: brew reinstall <formula>") from None
            options = server_options(result.stdout)
            source = f"{binary.name} --print-defaults (my.cnf)"
        try:
            port = int(options.get("port") or DEFAULT_PORT)
        except ValueError:
            raise ServerError(f"the server's option files set port={options['port']!r}",
                              f"fix the port line in {opt.parent.parent / 'etc' / 'my.cnf'}") from None
        return port, options.get("socket") or DEFAULT_SOCKET, options.get("log-error") or None, source

    def _brew(self, brew: Path, *args: str, what: str, check: bool = True) -> str:
        command = [str(brew), *args]
        log.debug("brew: running %s", " ".join(command))
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=BREW_TIMEOUT,
                                    stdin=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError) as exc:
            raise ServerError(f"{what}: cannot run {' '.join(command)}: {exc}",
                              "check the Homebrew installation (brew doctor)") from None
        if check and result.returncode != 0:
            output = (result.stderr or result.stdout).strip().splitlines()[-10:]
            raise ServerError(
                f"{what}: {' '.join(['brew', *args])} failed (exit {result.returncode})",
                "its output ends with:\n" + "\n".join("    " + line for line in output)
                + ("\n" + self.logs_tail(15) if args[:2] == ("services", "start") else ""),
            )
        return result.stdout

    # --- logging in ----------------------------------------------------------------------
    def _admin_candidates(self, formula: Formula | None) -> list[DatabaseURL]:
        recorded = self._recorded()
        if self.settings.server_url:
            return [parse(self.settings.server_url)]
        if recorded.get("admin"):
            password = self.state.secret("brew_admin_password") or ""
            admin = recorded["admin"]
            return [DatabaseURL(**{**admin, "password": password,
                                   "query": tuple(tuple(pair) for pair in admin.get("query", ()))})]
        socket = formula.socket if formula else recorded.get("socket") or DEFAULT_SOCKET
        users = ["root"]
        name = formula.name if formula else recorded.get("formula", "")
        os_user = _os_user()
        if name.startswith("mariadb") and os_user and os_user != "root":
            users.append(os_user)  # mariadb-install-db --user=$USER: a unix_socket admin
        first = recorded.get("admin_user")
        if first in users:
            users.remove(first)
            users.insert(0, first)
        return [_socket_admin(user, socket, self.settings.port) for user in users]

    def _server(self, admin: DatabaseURL) -> Server:
        return Server(admin=admin, host="127.0.0.1", port=self.settings.port, local=True)

    def _try_login(self, formula: Formula, admins: list[DatabaseURL], *, quiet: bool = False):
        """(connection, admin) for the first admin the server accepts; None when nothing answers."""
        for admin in admins:
            try:
                return self._server(admin).connect(timeout=3), admin
            except Exception as exc:
                code = error_code(exc)
                if code == ACCESS_DENIED:
                    continue
                if code in _NOT_RUNNING:
                    return None
                if code is None and not isinstance(exc, OSError) and not _is_driver_error(exc):
                    raise
                if quiet:
                    return None
                raise describe_login_error(exc, admin, f"Homebrew's {formula.name}") from exc
        if quiet:
            return None
        raise self._admin_refused(formula, admins)

    def _wait_for_login(self, formula: Formula, admins: list[DatabaseURL]):
        try:
            conn = wait_until_ready(self._server(admins[0]), timeout=self.settings.timeout,
                                    alive=self._service_alive(formula), log_tail=self.logs_tail,
                                    what=f"Homebrew's {formula.name}")
            return conn, admins[0]
        except ServerError as exc:
            if error_code(exc.__cause__) != ACCESS_DENIED:
                raise
        found = self._try_login(formula, admins)
        if found is None:
            raise ServerError(f"Homebrew's {formula.name} stopped answering while provision logged in",
                              "run provision up again; check the log with provision status")
        return found

    def _admin_refused(self, formula: Formula, admins: list[DatabaseURL]) -> ServerError:
        where = f"127.0.0.1:{self.settings.port}"
        if self.settings.server_url or self._recorded().get("admin"):
            given = "--server-url" if self.settings.server_url else "the admin password stored by an earlier run"
            return ServerError(
                f"Homebrew's {formula.name} refused the admin login of {admins[0].user!r} from {given}",
                f"pass the right one: provision up --server-url mysql://root:PASSWORD@{where}/",
            )
        tried = ", ".join(f"{admin.user} (no password)" for admin in admins)
        return AdminPasswordRequired(
            f"Homebrew's {formula.name} refused the password-less admin login over {formula.socket} "
            f"(tried {tried}); root has a password",
            f"pass it: provision up --server-url mysql://root:PASSWORD@{where}/ "
            "(provision asks for it when run on a terminal; it is never guessed)",
            url=DatabaseURL(user="root", password="", host="127.0.0.1", port=self.settings.port),
            backend=self.name,
        )

    def _service_alive(self, formula: Formula) -> Callable[[], str | None]:
        """Stop waiting when brew says the service failed (asked at most every 2 s: brew is slow)."""
        last = [time.monotonic()]

        def alive() -> str | None:
            if time.monotonic() - last[0] < 2.0:
                return None
            last[0] = time.monotonic()
            info = self.service_info(formula)
            if info.get("status") == "error":
                return f"brew services reports {formula.name} failed (exit code {info.get('exit_code')})"
            if not info.get("running") and not info.get("loaded"):
                return f"the {formula.name} service is not loaded (brew services info {formula.name})"
            return None

        return alive

    # --- checks --------------------------------------------------------------------------
    def _check_configured_port(self, formula: Formula) -> None:
        if formula.port == self.settings.port:
            return
        raise ServerError(
            f"Homebrew's {formula.name} is configured for port {formula.port} ({formula.config_source}), "
            f"not port {self.settings.port}",
            f"use its port: provision up --port {formula.port}; or set 'port = {self.settings.port}' under "
            f"[mysqld] in {formula.config_file} and run brew services restart {formula.name} "
            "(provision does not edit Homebrew's my.cnf: every project on this Mac shares it)",
        )

    def _check_port_free(self, formula: Formula) -> None:
        if not is_listening("127.0.0.1", formula.port):
            return
        holder = port_holder(formula.port) or "another process"
        raise ServerError(
            f"port {formula.port} is held by {holder}, and Homebrew's {formula.name} (socket {formula.socket}) "
            "is not running",
            f"stop what holds the port, or give Homebrew's server another port in {formula.config_file} "
            f"and pass it with --port",
        )

    def _check_listening(self, conn, formula: Formula) -> None:
        with conn.cursor() as cursor:
            port, socket = run(cursor, "brew", "listening")[0]
        if int(port) != self.settings.port:
            raise ServerError(
                f"the server behind {socket} listens on port {port}, not {self.settings.port}",
                f"use its port: provision up --port {port}; or fix the port in {formula.config_file} and "
                f"run brew services restart {formula.name}",
            )

    # --- state ---------------------------------------------------------------------------
    def _recorded(self) -> dict[str, Any]:
        return self.state.read().get("brew", {})

    def _record(self, formula: Formula, admin: DatabaseURL, started_by_provision: bool) -> None:
        entry: dict[str, Any] = {
            "formula": formula.name, "prefix": str(formula.prefix), "version": formula.version,
            "port": self.settings.port, "socket": formula.socket, "datadir": str(formula.datadir),
            "log": str(self._log_path(formula) or ""), "started_by_provision": started_by_provision,
        }
        if self.settings.server_url or self._recorded().get("admin"):
            # from --server-url: kept (password in the 0600 secrets file) for the runs without it
            entry["admin"] = {"scheme": admin.scheme, "user": admin.user, "host": admin.host, "port": admin.port,
                              "query": [list(pair) for pair in admin.query]}
            self.state.set_secret("brew_admin_password", admin.password)
        else:
            entry["admin_user"] = admin.user
        self.state.update(brew=entry)

    def _details(self, formula: Formula) -> dict[str, Any]:
        return {"formula": formula.name, "prefix": str(formula.prefix), "socket": formula.socket,
                "config": str(formula.config_file), "log": str(self._log_path(formula) or "")}

    def _log_path(self, formula: Formula | None) -> Path | None:
        """The error log: log-error from my.cnf, else mysqld_safe's <datadir>/<host>.err."""
        if formula is None:
            return None
        if formula.log_error:
            path = Path(formula.log_error)
            return path if path.is_absolute() else formula.datadir / path
        try:
            logs = sorted(formula.datadir.glob("*.err"), key=lambda p: p.stat().st_mtime)
        except OSError:
            return None
        return logs[-1] if logs else None


def _socket_admin(user: str, socket: str, port: int) -> DatabaseURL:
    return DatabaseURL(user=user, password="", host="localhost", port=port, query=(("unix_socket", socket),))


def _os_user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


def _is_driver_error(exc: BaseException) -> bool:
    import pymysql

    return isinstance(exc, pymysql.err.MySQLError)
