"""existing: a server that already runs (a CI service, the seed's system MySQL, a shared
or managed server), reached with an admin URL. provision never stops or removes it.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..config import Settings
from ..probe import Server, login, server_info
from ..sql import run
from ..state import StateDir
from ..url import DatabaseURL, parse
from .base import Started

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def admin_url(settings: Settings) -> DatabaseURL:
    """--server-url, or the seed's admin: root with a blank password on --host:--port."""
    if settings.server_url:
        return parse(settings.server_url)
    return DatabaseURL(user="root", password="", host=settings.host, port=settings.port)


def _requires_tls(conn) -> bool:
    with conn.cursor() as cursor:
        try:
            value = run(cursor, "bootstrap", "requires_tls")[0][0]
        except Exception:  # older servers have no such variable: they never require it
            return False
        return bool(int(value or 0))


class ExistingBackend:
    name = "existing"

    def __init__(self, settings: Settings, state: StateDir):
        self.settings = settings
        self.state = state

    def _admin(self) -> DatabaseURL:
        recorded = self.state.read().get("existing", {})
        if not self.settings.server_url and recorded.get("server_url"):
            # a later run without --server-url keeps the server the first run used
            stored = self.state.secret("existing_admin_password") or ""
            query = tuple(tuple(pair) for pair in recorded["server_url"].get("query", ()))
            return DatabaseURL(**{**recorded["server_url"], "password": stored, "query": query})
        return admin_url(self.settings)

    def server(self) -> Server:
        admin = self._admin()
        if "unix_socket" in admin.params:  # the system's server, administered over its socket
            return Server(admin=admin, host=self.settings.host, port=admin.port, local=True)
        # apps reach the server where the admin does (a CI service, a managed host). A loopback
        # server is connected to without TLS (fast), unless it requires TLS (start() finds out)
        requires_tls = self.state.read().get("existing", {}).get("requires_tls", False)
        return Server.from_url(admin, local=admin.host in LOOPBACK and not requires_tls)

    def available(self) -> tuple[bool, str]:
        return True, "uses a server that already runs"

    def start(self) -> Started:
        server = self.server()
        if server.local and not self.settings.explicit.isdisjoint({"namespace", "ttl"}):
            # a shared server on this host (a team's, a CI service): TLS when it offers it, as a
            # remote one; MariaDB refuses a plain login with a bare "access denied" when it requires TLS
            server = replace(server, local=False)
        conn = login(server, "existing server", also=None if self.settings.server_url else
                     "pass the admin URL with --server-url mysql://root:PASSWORD@HOST:PORT/")
        info = server_info(conn)
        requires_tls = not server.local and _requires_tls(conn)
        conn.close()
        admin = server.admin
        self.state.update(existing={"server_url": {"scheme": admin.scheme, "user": admin.user,
                                                   "host": admin.host, "port": admin.port,
                                                   "query": [list(pair) for pair in admin.query]},
                                    "requires_tls": requires_tls})
        server = self.server()
        if admin.password:
            self.state.set_secret("existing_admin_password", admin.password)
        return Started(server, "already running", {"server": info.label})

    def stop(self) -> str:
        admin = self._admin()
        return f"existing server on {admin.host}:{admin.port} left running (provision only stops servers it started)"

    def destroy(self) -> str:
        admin = self._admin()
        owned = self.state.read().get("owned_names")
        if not owned:
            return f"existing server on {admin.host}:{admin.port} left untouched"
        # the system's server: drop the database and user this project made there, nothing else
        conn = self.server().connect()
        try:
            with conn.cursor() as cursor:
                run(cursor, "workflow", "drop_database", database=owned["database"])
                for host in owned["hosts"]:
                    run(cursor, "bootstrap", "drop_user", {"user": owned["user"], "host": host})
        finally:
            conn.close()
        return (f"dropped database {owned['database']} and user {owned['user']} from the server on "
                f"{admin.host}:{admin.port}; the server and its other databases left untouched")

    def status(self) -> dict[str, Any]:
        admin = self._admin()
        status: dict[str, Any] = {"backend": self.name, "host": admin.host, "port": admin.port, "admin": admin.user,
                                  "admin_socket": admin.params.get("unix_socket")}
        try:
            conn = self.server().connect(timeout=3)
            status.update(state="running", server=server_info(conn).label)
            conn.close()
        except Exception as exc:  # status reports, it does not fail
            status.update(state="unreachable", error=str(exc))
        return status

    def client_command(self, kind: str, *, user: str, password: str, interactive: bool = False):
        """Context manager: argv of this machine's client or dump tool for the server (None when
        it is not installed, or is the other flavor's, whose dumps do not load cleanly)."""
        import contextlib

        from ..client_tools import find_tool, local_command, tool_flavor

        admin = self._admin()
        tool = find_tool(kind)
        if tool is None or (kind == "dump" and tool_flavor(tool) != self._flavor()):
            return contextlib.nullcontext(None)
        return local_command(kind, user=user, password=password, host=admin.host, port=admin.port,
                             directory=self.state.ensure())

    def _flavor(self) -> str:
        conn = self.server().connect(timeout=5)
        try:
            return server_info(conn).flavor
        finally:
            conn.close()

    def logs_tail(self, lines: int = 40) -> str:
        return ""  # the server's log belongs to whoever runs it

