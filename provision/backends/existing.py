"""existing: a server that already runs (a CI service, the seed's system MySQL, a shared
or managed server), reached with an admin URL. provision never stops or removes it.
"""
from __future__ import annotations

from typing import Any

from ..config import Settings
from ..probe import Server, describe_login_error, error_code, server_info
from ..state import StateDir
from ..url import DatabaseURL, parse
from .base import Started

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def admin_url(settings: Settings) -> DatabaseURL:
    """--server-url, or the seed's admin: root with a blank password on --host:--port."""
    if settings.server_url:
        return parse(settings.server_url)
    return DatabaseURL(user="root", password="", host=settings.host, port=settings.port)


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
            return DatabaseURL(**{**recorded["server_url"], "password": stored, "query": ()})
        return admin_url(self.settings)

    def server(self) -> Server:
        admin = self._admin()
        # apps reach the server where the admin does (a CI service, a managed host)
        return Server(admin=admin, host=admin.host, port=admin.port, local=admin.host in LOOPBACK)

    def available(self) -> tuple[bool, str]:
        return True, "uses a server that already runs"

    def start(self) -> Started:
        server = self.server()
        try:
            conn = server.connect()
        except Exception as exc:
            if error_code(exc) is None:
                raise
            hint_url = "pass the admin URL with --server-url mysql://root:PASSWORD@HOST:PORT/"
            error = describe_login_error(exc, server.admin, "existing server")
            if not self.settings.server_url:
                error.hint = f"{error.hint}; {hint_url}"
            raise error from exc
        info = server_info(conn)
        conn.close()
        admin = server.admin
        self.state.update(existing={"server_url": {"scheme": admin.scheme, "user": admin.user,
                                                   "host": admin.host, "port": admin.port}})
        if admin.password:
            self.state.set_secret("existing_admin_password", admin.password)
        return Started(server, "already running", {"server": info.label})

    def stop(self) -> str:
        admin = self._admin()
        return f"existing server on {admin.host}:{admin.port} left running (provision only stops servers it started)"

    def destroy(self) -> str:
        admin = self._admin()
        return f"existing server on {admin.host}:{admin.port} left untouched"

    def status(self) -> dict[str, Any]:
        admin = self._admin()
        status: dict[str, Any] = {"backend": self.name, "host": admin.host, "port": admin.port, "admin": admin.user}
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

