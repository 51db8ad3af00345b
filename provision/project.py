"""The recorded project: what the last ``up`` recorded (backend, port, URL, password), and the
migration workflow on its database: reset, and the shared plumbing of snapshots and the shell.

Everything works on the server the last ``up`` recorded, through the backend's optional
``server()`` (an admin login, nothing started) and ``client_command()`` (the server's own
tools, where the server is). Nothing here asks which backend it is.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import subprocess
from dataclasses import dataclass
from typing import Any, Iterator

from .backends import get_backend
from . import collations
from .bootstrap import prove
from .config import Settings
from .errors import ServerError, StateError
from .probe import Server, login, server_info
from .sql import run
from .state import StateDir
from .url import DatabaseURL
from .config import DRIVERS
from .url import app_url

log = logging.getLogger(__name__)


@dataclass
class Project:
    """The project's recorded setup: which backend, database and user, and how to log in."""

    settings: Settings
    state: StateDir
    recorded: dict[str, Any]
    backend: Any

    @property
    def database(self) -> str:
        return self.recorded["database"]

    @property
    def user(self) -> str:
        return self.recorded["user"]

    def server(self) -> Server:
        return self.backend.server()

    @contextlib.contextmanager
    def admin(self, **kwargs) -> Iterator[Any]:
        """An admin connection to the project's server (ServerError with a hint when it is down)."""
        conn = login(self.server(), f"the project's {self.backend.name} server",
                     hint="start it with provision up (provision doctor says more)", **kwargs)
        try:
            yield conn
        finally:
            conn.close()

    def app_url(self) -> DatabaseURL:
        return current_url(self.settings, self.state)

    def client_command(self, kind: str, *, root: bool = False, interactive: bool = False):
        """Context manager yielding the argv of the server's own ``kind`` tool, or None."""
        if root:
            admin = self.server().admin
            return self.backend.client_command(kind, user=admin.user, password=admin.password,
                                               interactive=interactive)
        url = self.app_url()
        return self.backend.client_command(kind, user=url.user, password=url.password, interactive=interactive)


def open_project(settings: Settings) -> Project:
    state = StateDir(settings.state_path)
    recorded = state.read()
    if not recorded.get("backend"):
        raise StateError.nothing_set_up(state.path)
    return Project(settings, state, recorded, recorded_backend(settings, state, recorded))


def recorded_backend(settings: Settings, state: StateDir, recorded: dict[str, Any] | None = None):
    """The backend of the last ``up``, on the port that ``up`` used (Settings.port_or_recorded);
    None when nothing is recorded."""
    recorded = state.read() if recorded is None else recorded
    if not recorded.get("backend"):
        return None
    settings = dataclasses.replace(settings, port=settings.port_or_recorded(recorded.get("port")))
    return get_backend(recorded["backend"], settings, state)


def current_url(settings: Settings | None = None, state: StateDir | None = None, **overrides: Any) -> DatabaseURL:
    """The URL of the last successful ``up`` (with its password)."""
    if settings is None:
        from .config import load_settings

        settings = load_settings(overrides)
    state = state or StateDir(settings.state_path)
    recorded = state.read()
    if not recorded.get("backend"):
        raise StateError.nothing_set_up(state.path)
    return app_url(driver_scheme=DRIVERS[recorded.get("driver", settings.driver)],
                   user=recorded["user"], password=state.secret("app_password") or "",
                   host=recorded["host"], port=recorded["port"], database=recorded["database"])


def url_scheme(settings: Settings, state: StateDir | None = None) -> str:
    """The scheme of the app's URL: the ``driver`` setting when given (``up`` writes that), else the
    last ``up``'s, else mysql://. Test URLs take it, so the app's test config sees the dev URL's shape."""
    driver = settings.driver
    if "driver" not in settings.explicit:
        driver = (state or StateDir(settings.state_path)).read().get("driver", driver)
    return DRIVERS.get(driver, DRIVERS[settings.driver])


def app_password(settings: Settings, state: StateDir) -> str:
    """--password wins (and is kept for later runs); else a stored or generated one; else empty.
    A namespaced user on a shared server always gets a generated one unless --password says otherwise."""
    if settings.password is not None:
        state.set_secret("app_password", settings.password)
        return settings.password
    stored = state.secret("app_password")
    if stored is not None and not settings.generate_password:
        return stored
    if settings.generate_password or settings.namespace:
        return stored or state.secret("app_password", generate=True) or ""
    return ""


def database_defaults(cursor, database: str) -> tuple[str, str] | None:
    rows = run(cursor, "workflow", "database_defaults", {"database": database})
    return (rows[0][0], rows[0][1]) if rows else None


def reset(settings: Settings) -> dict[str, Any]:
    """Drop and recreate the project's database with the same character set and collation.

    Grants are on the database's name, so they outlive the drop; the app's URL is proven
    to log in afterwards.
    """
    from . import branches

    project = open_project(settings)
    with project.state.lock(), project.admin() as conn:
        branches.repair_pending(project.state.path, project.database, conn)  # an interrupted switch first
        with conn.cursor() as cursor:
            defaults = database_defaults(cursor, project.database)
            if defaults is None or defaults[0] != "utf8mb4":
                info = server_info(conn)
                defaults = ("utf8mb4", collations.choose(cursor, info.flavor, settings.collation, server=info.label))
            tables = run(cursor, "workflow", "tables", {"database": project.database})
            run(cursor, "workflow", "drop_database", database=project.database)
            run(cursor, "workflow", "create_database", database=project.database,
                charset=defaults[0], collation=defaults[1])
        log.info("reset: %s dropped (%d tables) and recreated (%s, %s)", project.database, len(tables), *defaults)
    url = project.app_url()
    proof = prove(str(url), tls=not project.server().local, hosts=tuple(project.recorded.get("hosts", ())))
    # with branch databases, only the live branch's tables were dropped; the parked ones are kept
    registry = branches.Registry(project.state.path).read()
    return {"database": project.database, "dropped_tables": len(tables), "charset": defaults[0],
            "collation": defaults[1], "url": url.redacted(), "proof": proof, "branch": registry["live"],
            "other_branches": sorted(b for b, e in registry["branches"].items() if e.get("database"))}


def shell_command(settings: Settings, *, root: bool = False) -> tuple[Project, Any]:
    """The project and a context manager yielding the client's argv, for ``provision shell``."""
    project = open_project(settings)
    return project, project.client_command("client", root=root, interactive=True)


def run_shell(settings: Settings, *, root: bool = False, database: bool = True) -> int:
    """Run the mysql/mariadb client logged in as the app user (or the admin) on the terminal."""
    project, command = shell_command(settings, root=root)
    with command as argv:
        if argv is None:
            raise ServerError(
                f"no mysql or mariadb client for the {project.backend.name} server was found",
                "install one (apt-get install mariadb-client, brew install mysql-client), "
                "or connect with the URL from provision url",
            )
        if database:
            argv = [*argv, project.database]
        log.debug("shell: %s", " ".join(argv))
        return subprocess.call(argv)
