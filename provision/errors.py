"""Errors with a hint: what happened, why, and how to fix it.

The CLI renders these as ``error: ...`` / ``hint: ...`` on stderr and exits with
``exit_code``; anything else is a bug and gets a traceback only with ``--debug``.

Exit codes: 1 other, 2 bad input (ConfigError, InitError), 3 server (ServerError), 4 bootstrap,
5 .env file, 6 state directory, 7 snapshot, 8 test-database template; 130 interrupted.
"""
from __future__ import annotations


class ProvisionError(Exception):
    exit_code = 1

    def __init__(self, message: str, hint: str = "", exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\nhint: {self.hint}"

    # Texts several kinds of error share, written once (pytest-postgresql style: what was
    # checked, then the fix). Called on the caller's own class (``BranchError.no_database``),
    # so each keeps its kind and exit code.

    @classmethod
    def no_database(cls, database: str) -> "ProvisionError":
        """The project's database is not on the server (snapshot save, branch switch)."""
        return cls(f"database {database} does not exist", "run provision up to create it")

    @classmethod
    def tables_locked(cls, database: str, undone: str) -> "ProvisionError":
        """RENAME TABLE hit a lock wait timeout; ``undone`` says what was not done ("switched", "restored")."""
        return cls(f"another session holds a lock on {database}'s tables; nothing was {undone}",
                   "provision doctor names the session (provision doctor --kill-blockers ends it)")

    @classmethod
    def no_snapshot(cls, folder) -> "ProvisionError":
        """No snapshot folder of that name (restore, delete): where it looked, then the fix."""
        return cls(f"no snapshot named {folder.name} (looked in {folder.parent})",
                   "provision snapshot list shows the snapshots there are")

    @classmethod
    def unknown_driver(cls, driver: str) -> "ProvisionError":
        """A driver name that is not one of DRIVERS (settings, provision init)."""
        return cls(f"unknown driver {driver!r}",
                   "use --driver mysql (mysql://, as in the seed) or --driver pymysql (mysql+pymysql://)")


class ConfigError(ProvisionError):
    """Bad settings: an invalid name, option or file."""

    exit_code = 2

    @classmethod
    def unknown_framework(cls, name: str, known) -> "ConfigError":
        return cls(f"unknown framework {name!r}", "choose one of: " + ", ".join(known))


class ServerError(ProvisionError):
    """A server could not be found, started, reached or logged into."""

    exit_code = 3

    @classmethod
    def port_taken(cls, port: int, holder: str) -> "ServerError":
        """Our own server's port is held by someone else (docker, native): who, then the ways out."""
        return cls(
            f"port {port} on 127.0.0.1 is already in use by {holder}",
            f"stop it, or choose another port: provision up --port {port + 1}; if it is a MySQL server "
            f"you want to use, pass --backend existing --server-url mysql://root:PASSWORD@127.0.0.1:{port}/",
        )


    @classmethod
    def registry_denied(cls, admin, exc: BaseException) -> "ServerError":
        """A lease needs the registry schema, and this admin may not create or write it."""
        who = admin.decode() if isinstance(admin, bytes) else admin
        said = exc.args[-1] if getattr(exc, "args", None) else exc
        return cls(f"a lease needs the registry (the `provision` schema), and {who!r} may not create or write "
                   f"it: {said}; nothing was made",
                   f"have the server's admin run: GRANT ALL PRIVILEGES ON `provision`.* TO {who!r}@'%' (the "
                   "README's 'a team's shared server' lists every grant), or leave out --ttl / --mysql-ttl")


class BootstrapError(ProvisionError):
    """Converging the database, user or grants failed."""

    exit_code = 4


class EnvFileError(ProvisionError):
    """The .env file could not be read or written."""

    exit_code = 5


class StateError(ProvisionError):
    """The state directory is unusable or inconsistent."""

    exit_code = 6

    @classmethod
    def nothing_set_up(cls, state_path, what: str = "database") -> "StateError":
        """The text every command that needs a previous ``up`` gives: where it looked, then the fix."""
        return cls(f"no {what} is set up yet (no state in {state_path})", "run provision up (or make dev-db) first")


class SnapshotError(ProvisionError):
    """A snapshot could not be saved or restored (the database is left as it was)."""

    exit_code = 7


class TemplateError(ProvisionError):
    """A test-database template could not be built or copied."""

    exit_code = 8


class AdminPasswordRequired(ServerError):
    """The server refused the password-less admin login (root has a password).

    Carries the admin URL to retry with a password (``url``, password empty) and the
    backend that asked, so the CLI can prompt on a terminal and retry; never guessed.
    """

    def __init__(self, message: str, hint: str, *, url, backend: str):
        super().__init__(message, hint)
        self.url = url
        self.backend = backend


class InitError(ProvisionError):
    """``provision init`` cannot adopt the app as it is (a file it cannot read, parse or write)."""

    exit_code = 2
