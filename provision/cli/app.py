"""The ``provision`` app: the typer ``app``, the options the commands share, and ``_run``, the
one exit path for expected errors. The commands live in up.py, workflow.py and init.py.

Expected failures are ProvisionError: ``error:``/``hint:`` on stderr and the error's
exit code, no traceback unless --debug. Progress goes to stderr through logging, the
result to stdout (JSON with --json).
"""
from __future__ import annotations

import json
import logging
import os
import re
import shlex
import shutil
import sys
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from ..errors import ProvisionError

app = typer.Typer(
    name="provision",
    help="A local MySQL/MariaDB dev database in one command: server, database, user, grants, .env.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# --- options shared by the commands (each also PROVISION_<NAME> and [tool.provision]) ---
Backend = Annotated[Optional[str], typer.Option("--backend", help="auto, native, existing, docker or brew.")]
Host = Annotated[Optional[str], typer.Option("--host", help="Host the app connects to [127.0.0.1].")]
Port = Annotated[Optional[int], typer.Option("--port", help="Server port [3306].")]
Database = Annotated[Optional[str], typer.Option("--database", help="App database [ohdevel].")]
User = Annotated[Optional[str], typer.Option("--user", help="App user [ohdev].")]
Password = Annotated[Optional[str], typer.Option("--password", help="App user's password [empty, as in the seed].")]
GeneratePassword = Annotated[Optional[bool], typer.Option(
    "--generate-password", help="Generate a password for the app user, kept in the 0600 secrets file.")]
EnvFile = Annotated[Optional[Path], typer.Option("--env-file", help="The .env file to write [./.env].")]
EnvKey = Annotated[Optional[str], typer.Option("--env-key", help="Key to write [DATABASE_URL].")]
Driver = Annotated[Optional[str], typer.Option("--driver", help="mysql (mysql://) or pymysql (mysql+pymysql://).")]
ServerUrl = Annotated[Optional[str], typer.Option(
    "--server-url", help="Admin URL of a server that already runs (existing backend).")]
Namespace = Annotated[Optional[str], typer.Option(
    "--namespace", help="A database and user of your own on a shared server: NAME (lowercase letters, digits) "
    "or auto (the CI job's id, else your OS user and a host id).")]
Ttl = Annotated[Optional[str], typer.Option(
    "--ttl", help="Lease the database and user on the server (30s, 10m, 1h, 7d): reaped after it unless "
    "renewed by up or status.")]
StateDirOpt = Annotated[Optional[Path], typer.Option("--state-dir", help="Where provision keeps state [./.devdb].")]
Collation = Annotated[Optional[str], typer.Option("--collation", help="utf8mb4 collation for the database.")]
FixCharset = Annotated[Optional[bool], typer.Option(
    "--fix-charset", help="Change an existing database's default character set to utf8mb4.")]
Image = Annotated[Optional[str], typer.Option("--image", help="Docker image [mysql:8.4].")]
Recreate = Annotated[Optional[bool], typer.Option(
    "--recreate", help="docker: recreate the container and volume when the image changed (data lost).")]
Timeout = Annotated[Optional[float], typer.Option("--timeout", help="Seconds to wait for the server [60].")]
Framework = Annotated[Optional[str], typer.Option(
    "--framework", help="The app's test runner, whose test databases the user may make: auto (detect it), "
    "django, rails, laravel, sqlalchemy, flask-migrate, alembic or none [auto].")]
TestDatabases = Annotated[Optional[str], typer.Option(
    "--test-databases", help="More test-database names the user may make, comma-separated, added to the "
    "runner's: {database}, {n} (a number), {token} (any part), e.g. e2e_{database}_{n}.")]
Json = Annotated[bool, typer.Option("--json", help="Print a machine-readable result on stdout.")]
Debug = Annotated[bool, typer.Option("--debug", help="Verbose logs and tracebacks.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
Install = Annotated[Optional[bool], typer.Option(
    "--install", help="Install MySQL/MariaDB (brew, apt-get or dnf) when no server can be found; asks first.")]
InstallYes = Annotated[Optional[bool], typer.Option("--yes", "-y", help="With --install: install without asking.")]
DryRun = Annotated[Optional[bool], typer.Option(
    "--dry-run", help="Print the backend up would choose and the install command; change nothing.")]
Formula = Annotated[Optional[str], typer.Option(
    "--formula", help="brew: the Homebrew formula (mysql, mysql@8.4, mysql@8.0, mariadb); default: the first "
    "installed.")]


def _setup_logging(debug: bool, quiet: bool = False) -> None:
    if not debug and not quiet and sys.stderr.isatty():
        handler: logging.Handler = _TerminalProgress()
    else:
        handler = logging.StreamHandler(sys.stderr)
        if not debug:  # line-based: a step's start and end lines, not every update
            handler.addFilter(lambda record: getattr(record, "progress", None) != "update")
    handler.setFormatter(logging.Formatter("provision: %(message)s" if not debug
                                           else "provision %(name)s %(levelname)s: %(message)s"))
    root = logging.getLogger("provision")
    previous, root.handlers[:] = list(root.handlers), [handler]
    root.setLevel(logging.DEBUG if debug else (logging.WARNING if quiet else logging.INFO))
    root.propagate = False
    for old in previous:  # what a head start logged before this (backends/docker_early.py)
        if hasattr(old, "hand_over"):
            old.hand_over(handler, root.level)


class _TerminalProgress(logging.Handler):
    """On a terminal: each slow step (provision/progress.py) as a rich spinner, with a bar when
    its total is known and its latest output line; other records printed above it."""

    def __init__(self) -> None:
        super().__init__()
        from rich.console import Console
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.console = Console(stderr=True, highlight=False)
        self.bars = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=20),
                             TextColumn("{task.fields[detail]}", markup=False), TimeElapsedColumn(),
                             console=self.console, transient=True)
        self.tasks: dict[str, Any] = {}

    def emit(self, record: logging.LogRecord) -> None:
        kind = getattr(record, "progress", None)
        if kind == "start":
            if not self.tasks:
                self.bars.start()
            self.tasks[record.step] = self.bars.add_task(record.step, total=None, detail="")
        elif kind == "update" and self.tasks:
            task = list(self.tasks.values())[-1]
            detail = record.getMessage()
            detail = detail if len(detail) <= 60 else detail[:57] + "..."
            self.bars.update(task, detail=detail, completed=record.completed or 0, total=record.total)
        elif kind == "end":
            task = self.tasks.pop(record.step, None)
            if task is not None:
                self.bars.remove_task(task)
            if not self.tasks:
                self.bars.stop()
            self.console.print(self.format(record), markup=False)
        elif kind is None:
            self.console.print(self.format(record), markup=False)


def _run(debug: bool, action: Callable[[], Any]) -> Any:
    """Call the API; turn expected errors into error/hint lines and an exit code."""
    try:
        return action()
    except ProvisionError as exc:
        if debug:
            raise
        typer.echo(f"error: {as_typed(exc.message)}", err=True)
        if exc.hint:
            typer.echo(f"hint: {as_typed(exc.hint)}", err=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        typer.echo("error: interrupted", err=True)
        raise typer.Exit(130) from None
    except Exception as exc:
        if debug or not _is_driver_error(exc):
            raise
        typer.echo(f"error: the server said: {exc}", err=True)
        typer.echo("hint: run again with --debug for the full trace", err=True)
        raise typer.Exit(3) from None


_COMMAND = re.compile(r"(?<![\w./'-])provision (?=(?:up|down|destroy|status|url|logs|reset|snapshot|shell|doctor)\b)")


def as_typed(text: str) -> str:
    """The library's hints say `provision up ...`; make each one work exactly as typed here:
    `make dev-db YES=1` under make, `.venv/bin/provision` when provision is not on PATH."""
    if os.environ.get("MAKELEVEL"):  # run by make dev-db: its one-word yes
        text = text.replace("provision up --install --yes", "make dev-db YES=1")
    prefix = command_prefix()
    return text if prefix == "provision" else _COMMAND.sub(prefix + " ", text)


def command_prefix() -> str:
    """How to type this command from the current directory."""
    script = Path(sys.argv[0]).absolute()
    found = shutil.which("provision")
    if found and Path(found).resolve() == script.resolve():
        return "provision"
    if script.name == "__main__.py":  # python -m provision
        return f"{_typed_path(Path(sys.executable))} -m provision"
    return _typed_path(script)


def _typed_path(path: Path) -> str:
    relative = os.path.relpath(path)
    return shlex.quote(relative if not relative.startswith("..") and "/" in relative else str(path))


def confirm(question: str, refusal: str, hint: str) -> None:
    """Ask on a terminal (no: exit 1); without one, refuse with ``error:``/``hint:`` (how to confirm), exit 2."""
    if not sys.stdin.isatty():
        typer.echo(f"error: {refusal}", err=True)
        typer.echo(f"hint: {hint}", err=True)
        raise typer.Exit(2)
    typer.confirm(question, abort=True)


def _is_driver_error(exc: Exception) -> bool:
    if "pymysql" not in sys.modules:
        return False
    import pymysql

    return isinstance(exc, pymysql.err.MySQLError)


def _settings(**options: Any):
    from ..config import load_settings

    return load_settings({key: value for key, value in options.items() if value is not None})


def _emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))
