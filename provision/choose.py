"""``--backend auto``: pick a backend, and say which and why.

Order: the last run's backend (its state wins); a server already answering on the
port that accepts the admin login (the seed's system MySQL, root with a blank password,
or the distribution's server, whose root logs in over its Unix socket); then what can
start a server here. On Linux native comes before docker (no daemon, no image to pull); on
macOS docker, brew, then native, as a Mac user would expect.

When the default port is held by a server this process may not administer (another
project's provision server, a system server without a socket login for this user) or by
something that is not MySQL, the project's own server gets a port of its own, derived from
its path (provision/project_port.py), instead of failing: the second and every later project
on a machine works with its defaults. An explicit ``--port`` is never moved.
"""
from __future__ import annotations

import dataclasses
import os
import pwd
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import project_port
from .backends import get_backend
from .backends.existing import admin_url
from .backends.native import install_hint
from .config import Settings
from .errors import ServerError
from .ports import holder_pid, is_listening, listening_unix_sockets, port_holder, unix_sockets_of
from .probe import ACCESS_DENIED, ACCESS_DENIED_NO_PASSWORD, connect, error_code
from .sql import run
from .state import StateDir
from .url import DatabaseURL

# where distributions put their server's socket (Debian/Ubuntu/Arch, Fedora/RHEL, macOS and others)
SYSTEM_SOCKETS = ("/run/mysqld/mysqld.sock", "/var/run/mysqld/mysqld.sock", "/var/lib/mysql/mysql.sock",
                  "/tmp/mysql.sock")
MAX_SOCKETS = 12  # sockets tried at most (a machine with many projects has one per running server)
MOVABLE = ("native", "docker")  # backends that start a server of their own on settings.port


@dataclass(frozen=True)
class Choice:
    backend: str
    reason: str
    overrides: dict[str, Any] = field(default_factory=dict)  # the port or admin URL the choice implies
    from_state: bool = False  # the last run's choice, repeated
    # the database and user are new on a shared (system) server: this project owns them, and
    # its destroy drops them
    owns_app_names: bool = False

    def apply(self, settings: Settings) -> Settings:
        return dataclasses.replace(settings, **self.overrides) if self.overrides else settings


def start_order() -> tuple[str, ...]:
    return ("docker", "brew", "native") if sys.platform == "darwin" else ("native", "docker")


def choose_backend(settings: Settings, state: StateDir) -> tuple[str, str]:
    choice = choose(settings, state)
    return choice.backend, choice.reason


def choose(settings: Settings, state: StateDir, *, reserve: bool = True) -> Choice:
    """``reserve=False``: only say what ``up`` would choose (a project port is not claimed)."""
    if settings.backend != "auto":
        return _own_port_if_taken(Choice(settings.backend, "chosen with --backend"), settings, state, reserve)
    recorded = state.read().get("backend")
    if recorded:
        return Choice(recorded, f"the last run used it; state in {state.path}", from_state=True)
    if settings.server_url:
        return Choice("existing", "--server-url was given")
    answering = _answering_server(settings)
    if isinstance(answering, Choice):
        return answering
    reasons = []
    for name in start_order():
        try:
            ok, why = get_backend(name, settings, state).available()
        except ModuleNotFoundError:  # a backend this installation does not have
            continue
        if ok:
            if answering is None:
                return _own_port_if_taken(Choice(name, f"no server on {settings.host}:{settings.port}; {why}"),
                                          settings, state, reserve)
            return _own_port_if_taken(Choice(name, why), settings, state, reserve, taken_by=answering)
        reasons.append(f"{name}: {why}")
    raise ServerError(
        f"no MySQL server answers on {settings.host}:{settings.port} and none can be started here ("
        + "; ".join(reasons) + ")",
        install_hint() + ", then run provision up again",
    )


def _answering_server(settings: Settings) -> Choice | str | None:
    """A Choice of the server on the port; None when nothing listens; else why it is not used
    (the project then runs its own server on a port of its own). An explicit --port that is
    held by a server provision cannot log in to is an error: it is never moved."""
    if not is_listening(settings.host, settings.port):
        return None
    where = f"{settings.host}:{settings.port}"
    admin = admin_url(settings)
    try:
        # read_timeout: something that accepts TCP but never greets must not hang us
        connect(admin, timeout=3, read_timeout=3).close()
        return Choice("existing", f"a server already answers on {where} and accepts {admin.user}'s login")
    except Exception as exc:
        code = error_code(exc)
        if code is None:
            raise
        denied = code in (ACCESS_DENIED, ACCESS_DENIED_NO_PASSWORD)
    pid = holder_pid(settings.port)
    taken = False
    if denied:
        other_project = _provision_project_of(pid)
        if other_project is None and settings.use_system_server:
            socket_admin, taken = _socket_admin(settings, pid)
            if socket_admin is not None and not taken:
                return Choice("existing", f"the system's server answers on {where}; the project's database and "
                              f"user are made there, administered over its socket "
                              f"{socket_admin.params['unix_socket']} as {socket_admin.user} (unix_socket login)",
                              {"server_url": str(socket_admin)}, owns_app_names=True)
        whose = (f"provision's server of {other_project}" if other_project else
                 f"the system's server, which already has a database {settings.database} or a user "
                 f"{settings.user} that this project did not make" if taken else
                 "a MySQL server that refuses root with a blank password")
    else:
        whose = "a process that is not a MySQL server provision can log in to"
    holder = port_holder(settings.port) or "a process"
    why = f"{where} is held by {holder}, {whose}"
    if "port" in settings.explicit:
        if denied:
            raise ServerError(
                f"a MySQL server answers on {where} but refused root with a blank password ({why})",
                f"pass its admin login: provision up --server-url mysql://root:PASSWORD@{where}/ ; "
                "or drop --port: the project's own server then gets a port of its own",
            )
        raise ServerError(
            f"port {settings.port} on {settings.host} is held by {holder}, which is not a MySQL server "
            "provision can log in to",
            "stop it, or drop --port: the project's own server then gets a port of its own",
        )
    return why


def _own_port_if_taken(choice: Choice, settings: Settings, state: StateDir, reserve: bool,
                       taken_by: str | None = None) -> Choice:
    """A backend that starts its own server on a default port that is taken: a port of the project's."""
    if (choice.backend not in MOVABLE or "port" in settings.explicit
            or state.read().get(choice.backend, {}).get("port")
            or not is_listening(settings.host, settings.port)):
        return choice
    port = project_port.claim(state.path, settings.host, reserve=reserve)
    taken_by = taken_by or f"{settings.host}:{settings.port} is held by {port_holder(settings.port) or 'a process'}"
    return Choice(choice.backend, f"{taken_by}: the project's own server listens on {port} instead (a port "
                  f"derived from the project's path, kept for later runs); {choice.reason}", {"port": port})


def _provision_project_of(pid: int | None) -> str | None:
    """The project folder whose provision native server is ``pid``, else None."""
    if pid is None:
        return None
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    for arg in args:
        text = arg.decode("utf-8", "replace")
        if text.startswith("--defaults-file="):
            option_file = Path(text.split("=", 1)[1])
            try:
                if option_file.read_text().startswith("# written by provision"):
                    return str(option_file.parent.parent.parent)  # <project>/.devdb/native/my.cnf
            except OSError:
                return None
    return None


def _socket_admin(settings: Settings, pid: int | None) -> tuple[DatabaseURL | None, bool]:
    """An admin login to the system server over its Unix socket, when this process has one:
    root when running as root, else this user's own unix_socket account. No password, no sudo:
    provision never becomes root behind the user's back. Also: whether the app's database or
    user already exist there (another project's, or made by hand), so not this project's."""
    user = pwd.getpwuid(os.geteuid()).pw_name  # the name unix_socket checks (not $USER, which sudo keeps)
    # the port's own process's sockets when this user may see them (root); else the usual places,
    # then any listening socket with a server's socket name (the port check below tells them apart)
    sockets = ((unix_sockets_of(pid) if pid else []) + [s for s in SYSTEM_SOCKETS if os.path.exists(s)]
               + listening_unix_sockets(("mysqld.sock", "mysql.sock")))
    for path in list(dict.fromkeys(sockets))[:MAX_SOCKETS]:
        url = DatabaseURL(user=user, host="localhost", port=settings.port, query=(("unix_socket", path),))
        try:
            conn = connect(url, timeout=3, read_timeout=5)
        except Exception as exc:
            if error_code(exc) is None:
                raise
            continue
        try:
            with conn.cursor() as cursor:
                if run(cursor, "choose", "server_port")[0][0] == settings.port:
                    names = run(cursor, "choose", "app_names_taken",
                                {"database": settings.database, "user": settings.user})[0]
                    return url, any(names)
        finally:
            conn.close()
    return None, False

