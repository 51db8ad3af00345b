"""Logging in to a server: connections, readiness and flavor detection.

"Ready" means an admin login and a query worked, never that a port opened or a log
line appeared (Docker's proxy accepts TCP long before mysqld listens, and the
official images run a temporary socket-only server first).
"""
from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from typing import Callable

from .errors import ServerError
from .url import DatabaseURL

log = logging.getLogger(__name__)

# PyMySQL / server error numbers we act on
CANT_CONNECT = 2003
LOST_CONNECTION = 2013
ACCESS_DENIED = 1045
ACCESS_DENIED_NO_PASSWORD = 1698  # MariaDB: an account on unix_socket only (Debian's root) over TCP
HOST_NOT_ALLOWED = 1130
UNKNOWN_DATABASE = 1049
_NOT_YET = {CANT_CONNECT, LOST_CONNECTION, 2006, 1040, 1053}  # refused, lost, gone, too many, shutting down


@dataclass(frozen=True)
class Server:
    """Where a server is and how an admin logs in; all a backend hands over."""

    admin: DatabaseURL
    host: str
    port: int
    # our own loopback server: skip the TLS handshake (PyMySQL loads the CA bundle on
    # every TLS connect, ~40 ms); a server that requires TLS still negotiates it
    local: bool = False

    def connect(self, **kwargs):
        return connect(self.admin, tls=not self.local, **kwargs)

    @classmethod
    def from_url(cls, admin: DatabaseURL, *, local: bool = False) -> "Server":
        """The server an admin URL points at (its host and port)."""
        return cls(admin=admin, host=admin.host, port=admin.port, local=local)


@dataclass(frozen=True)
class ServerInfo:
    version: str
    flavor: str  # "mariadb" or "mysql"
    version_tuple: tuple[int, ...]
    client_host: str  # the host this client appears from, as the server sees it
    skip_name_resolve: bool

    @property
    def label(self) -> str:
        return f"{'MariaDB' if self.flavor == 'mariadb' else 'MySQL'} {self.version.split('-')[0]}"


def error_code(exc: BaseException) -> int | None:
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def connect(url: DatabaseURL, *, tls: bool = True, timeout: float = 5.0, autocommit: bool = True, **kwargs):
    """Open a PyMySQL connection for ``url``; driver errors pass through unchanged."""
    import pymysql

    options = url.connect_kwargs()
    options.update(kwargs)
    options.setdefault("charset", "utf8mb4")
    if not tls:
        options["ssl_disabled"] = True
    return pymysql.connect(connect_timeout=timeout, autocommit=autocommit, **options)


def describe_login_error(exc: BaseException, url: DatabaseURL, what: str) -> ServerError:
    """Turn a driver error into a ServerError that says what happened and how to fix it."""
    code = error_code(exc)
    where = f"{url.host}:{url.port}"
    if code == ACCESS_DENIED:
        return ServerError(
            f"{what}: the server on {where} refused the login of {url.user!r} (access denied)",
            "check the user and password in the URL (mysql://USER:PASSWORD@HOST:PORT/); "
            "for the seed's fresh MySQL the admin is root with a blank password",
        )
    if code == HOST_NOT_ALLOWED:
        return ServerError(
            f"{what}: the server on {where} does not let {url.user!r} connect from this host",
            "create the account for the host this machine appears from, or use a local server",
        )
    if code in (CANT_CONNECT, LOST_CONNECTION, 2006):
        return ServerError(
            f"{what}: no MySQL server answered on {where} ({exc.args[-1] if exc.args else exc})",
            "start the server, or check --host/--port (--server-url for an existing server)",
        )
    missing = _DRIVER_NEEDS.get(next((m for m in _DRIVER_NEEDS if f"'{m}' package is required" in str(exc)), ""))
    if missing:  # PyMySQL raises RuntimeError("'pynacl' package is required for ed25519_password auth method")
        plugins, package = missing
        return ServerError(
            f"{what}: {url.user!r} authenticates with {plugins}, and PyMySQL needs the {package} package for it, "
            f"which {sys.executable} cannot import",
            f"{sys.executable} -m pip install {package}   (provision doctor checks the app's own Python too)",
        )
    return ServerError(f"{what}: {exc}", "run with --debug for details")


def login(target: "Server | DatabaseURL", purpose: str, *, hint: str | None = None,
          also: str | None = None, **kwargs):
    """Log in (an open connection) or raise the explained ServerError: what was tried, by whom, and the fix.

    ``purpose`` opens the message ("existing server: the server on ... refused ...").
    ``hint`` replaces the general fix; ``also`` is appended to it. Errors that are not the
    server's or the driver's (error_code None) pass through unchanged.
    """
    try:
        if isinstance(target, Server):
            return target.connect(**kwargs)
        return connect(target, **kwargs)
    except Exception as exc:
        if error_code(exc) is None:
            raise
        error = describe_login_error(exc, target.admin if isinstance(target, Server) else target, purpose)
        if hint is not None:
            error.hint = hint
        if also:
            error.hint = f"{error.hint}; {also}"
        raise error from exc


# the packages PyMySQL's error messages name -> (the auth plugins that need them, what to install)
_DRIVER_NEEDS = {
    "pynacl": ("MariaDB's ed25519", "PyNaCl"),
    "cryptography": ("caching_sha2_password or sha256_password", "cryptography"),
}


def server_info(conn) -> ServerInfo:
    from .sql import run

    with conn.cursor() as cursor:
        version, comment, skip_name_resolve, client_host, _admin = run(cursor, "bootstrap", "server_info")[0]
    text = f"{version} {comment}"
    flavor = "mariadb" if "mariadb" in text.lower() else "mysql"
    numbers = []
    for part in version.split("-")[0].split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        numbers.append(int(digits or 0))
    return ServerInfo(
        version=version,
        flavor=flavor,
        version_tuple=tuple(numbers),
        client_host=client_host,
        skip_name_resolve=bool(int(skip_name_resolve or 0)),
    )


def wait_until_ready(
    server: Server,
    *,
    timeout: float,
    alive: Callable[[], str | None] | None = None,
    log_tail: Callable[[], str] | None = None,
    what: str = "server",
):
    """Log in as admin until it works; return the open connection.

    ``alive`` returns a reason when the server process is gone (stop waiting at once).
    Access denied ends the wait too: a wrong password does not fix itself.
    """
    start = time.monotonic()
    deadline = start + timeout
    # a refused connection costs microseconds: poll every 5 ms while a native server's start
    # (~0.1 s) may end, then back off to 50 ms (a container's init takes seconds; its proxy
    # accepts and closes each attempt). The 5 ms polls cut ~10 ms off `up` after `down`.
    delay = 0.005
    last: BaseException | None = None
    while True:
        try:
            return server.connect(timeout=max(1.0, min(5.0, deadline - time.monotonic())))
        except Exception as exc:  # driver errors; anything else is re-raised below
            if error_code(exc) not in _NOT_YET:
                if error_code(exc) is None and not _is_driver_error(exc):
                    raise
                raise describe_login_error(exc, server.admin, f"{what} did not accept the admin login") from exc
            last = exc
        reason = alive() if alive else None
        if reason:
            raise ServerError(
                f"{what} stopped while starting: {reason}",
                _tail_hint(log_tail),
            )
        if time.monotonic() >= deadline:
            raise ServerError(
                f"{what} did not accept a login on {server.admin.host}:{server.admin.port} "
                f"within {timeout:.0f} s (last error: {last})",
                _tail_hint(log_tail),
            )
        time.sleep(delay)
        if time.monotonic() - start > 0.3:
            delay = min(delay * 1.2, 0.05)


def _is_driver_error(exc: BaseException) -> bool:
    import pymysql

    return isinstance(exc, (pymysql.err.MySQLError, OSError))


def _tail_hint(log_tail: Callable[[], str] | None) -> str:
    tail = log_tail().strip() if log_tail else ""
    if not tail:
        return "run with --debug, and check the server log"
    return "the server log ends with:\n" + "\n".join("    " + line for line in tail.splitlines())
