"""The ``provision`` command: parse options, call the API, render the result.

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

from .errors import ProvisionError

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
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else (logging.WARNING if quiet else logging.INFO))
    root.propagate = False


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


def _is_driver_error(exc: Exception) -> bool:
    if "pymysql" not in sys.modules:
        return False
    import pymysql

    return isinstance(exc, pymysql.err.MySQLError)


def _settings(**options: Any):
    from .config import load_settings

    return load_settings({key: value for key, value in options.items() if value is not None})


def _emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


@app.command()
def up(
    backend: Backend = None, host: Host = None, port: Port = None, database: Database = None, user: User = None,
    password: Password = None, generate_password: GeneratePassword = None, env_file: EnvFile = None,
    env_key: EnvKey = None, driver: Driver = None, server_url: ServerUrl = None, state_dir: StateDirOpt = None,
    namespace: Namespace = None, ttl: Ttl = None, collation: Collation = None, fix_charset: FixCharset = None, image: Image = None, recreate: Recreate = None,
    timeout: Timeout = None, formula: Formula = None, install: Install = None, yes: InstallYes = None,
    dry_run: DryRun = None, framework: Framework = None, test_databases: TestDatabases = None,
    json_output: Json = False, debug: Debug = False,
) -> None:
    """Start or find a server, converge database/user/grants, prove the URL, write .env."""
    _setup_logging(debug, quiet=json_output)
    from . import api

    def action():
        settings = _settings(backend=backend, host=host, port=port, database=database, user=user,
                             password=password, generate_password=generate_password, env_file=env_file,
                             env_key=env_key, driver=driver, server_url=server_url, state_dir=state_dir,
                             namespace=namespace, ttl=ttl, collation=collation, fix_charset=fix_charset,
                             image=image, recreate=recreate, timeout=timeout, formula=formula, install=install,
                             yes=yes, dry_run=dry_run, framework=framework, test_databases=test_databases)
        return api.dry_run(settings) if settings.dry_run else _up_asking(api, settings)

    result = _run(debug, action)
    if isinstance(result, dict):  # --dry-run
        _emit_json(result) if json_output else _echo_dry_run(result)
        return
    if json_output:
        _emit_json(result.to_dict())
        return
    if result.installed:
        typer.echo(f"installed: {result.installed}")
    typer.echo(f"backend: {result.backend} ({result.reason})")
    typer.echo(f"server: {result.server} on {result.host}:{result.port} ({result.server_action})")
    typer.echo(_framework_line(result))
    for change in result.changes:
        typer.echo(f"  {change}")
    typer.echo(f"{result.env_file}: {result.env_action} {result.env_key}={result.url.redacted()}")
    if result.lease:
        typer.echo(f"lease: {result.lease['name']} until {result.lease['expires']} (UTC; renewed by up and status)")
    typer.echo("already up: nothing changed" if not result.changed else
               f"ready: logged in as {result.proof['current_user']} ({result.proof['charset']})")


def _framework_line(result) -> str:
    from .names import shown_pattern

    found = result.framework
    runner = f"{found['title']} ({', '.join(found['evidence'])})" if found else "none detected"
    names = ", ".join(shown_pattern(p) for p in result.test_grants)
    return f"framework: {runner}; test databases: {names or f'{result.database}_* only'}"


def _up_asking(api, settings):
    """api.up, asking on a terminal before installing and for a root password Homebrew's server needs."""
    import dataclasses

    from .errors import AdminPasswordRequired

    tty = sys.stdin.isatty()

    def confirm(command: str) -> bool:
        return typer.confirm(f"No MySQL/MariaDB server here. Install one with: {command} ?", err=True)

    if tty and not settings.install:
        # on a terminal, a machine without a server is offered one (asked before anything runs)
        settings = dataclasses.replace(settings, install=True)
    try:
        return api.up(settings, confirm=confirm if tty else None)
    except AdminPasswordRequired as exc:
        if not tty:
            raise
        typer.echo(exc.message, err=True)
        password = typer.prompt(f"Password of {exc.url.user} (kept in {settings.state_path}, mode 0600)",
                                hide_input=True, err=True)
        admin = dataclasses.replace(exc.url, password=password)
        retry = dataclasses.replace(settings, server_url=str(admin), backend=exc.backend)
        return api.up(retry, confirm=confirm)


def _echo_dry_run(result: dict) -> None:
    typer.echo(f"backend: {result['backend'] or 'none'} ({result['reason']})")
    install = result["install"]
    if install["command"] is None:
        typer.echo(f"install: nothing here can install a server ({install['reason']})")
    elif install["needed"]:
        typer.echo(f"install: {install['command']}   (needed: {install['reason']}; runs with --install)")
    else:
        typer.echo(f"install: {install['command']}   (not needed: {install['reason']})")
    typer.echo("dry run: nothing was installed, started or written")


@app.command()
def down(state_dir: StateDirOpt = None, json_output: Json = False, debug: Debug = False) -> None:
    """Stop the project's server; data is kept. An existing server is never stopped."""
    _setup_logging(debug, quiet=json_output)
    from . import api

    message = _run(debug, lambda: api.down(_settings(state_dir=state_dir)))
    _emit_json({"result": message}) if json_output else typer.echo(message)


@app.command()
def destroy(state_dir: StateDirOpt = None, yes: Yes = False, json_output: Json = False, debug: Debug = False) -> None:
    """Stop the project's server and delete its data (asks first unless --yes)."""
    _setup_logging(debug, quiet=json_output)
    from . import api

    if not yes:
        if not sys.stdin.isatty():
            typer.echo("error: destroy deletes the project's database server and its data", err=True)
            typer.echo("hint: run provision destroy --yes to confirm", err=True)
            raise typer.Exit(2)
        typer.confirm("Delete the project's server and all its data?", abort=True)
    message = _run(debug, lambda: api.destroy(_settings(state_dir=state_dir)))
    _emit_json({"result": message}) if json_output else typer.echo(message)


@app.command()
def status(state_dir: StateDirOpt = None, env_file: EnvFile = None, json_output: Json = False,
           debug: Debug = False) -> None:
    """Show the backend, server state and whether .env matches."""
    _setup_logging(debug, quiet=json_output)
    from . import api

    data = _run(debug, lambda: api.status(_settings(state_dir=state_dir, env_file=env_file)))
    if json_output:
        _emit_json(data)
        return
    for key, value in data.items():
        if value is not None:
            typer.echo(f"{key}: {value}")


@app.command()
def url(state_dir: StateDirOpt = None, export: Annotated[bool, typer.Option(
        "--export", help="Print an export line: eval \"$(provision url --export)\".")] = False,
        env_key: EnvKey = None, debug: Debug = False) -> None:
    """Print the DATABASE_URL of the last successful up."""
    _setup_logging(debug)
    from . import api

    settings = _run(debug, lambda: _settings(state_dir=state_dir, env_key=env_key))
    text = str(_run(debug, lambda: api.current_url(settings)))
    typer.echo(f"export {settings.env_key}={shlex.quote(text)}" if export else text)


@app.command()
def logs(state_dir: StateDirOpt = None,
         follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines (Ctrl-C ends).")] = False,
         lines: Annotated[int, typer.Option("--lines", "-n", help="How many of the last lines to show.")] = 40,
         debug: Debug = False) -> None:
    """Show the server's log (docker: the container's; native: its error log)."""
    _setup_logging(debug)
    from . import api

    def action() -> None:
        try:
            for text in api.server_log(_settings(state_dir=state_dir), lines=lines, follow=follow):
                sys.stdout.write(text)
                sys.stdout.flush()
        except KeyboardInterrupt:
            if not follow:
                raise  # Ctrl-C is how -f ends; anywhere else it is an interruption

    _run(debug, action)


@app.command()
def reap(server_url: Annotated[Optional[str], typer.Option(
            "--server-url", help="Admin URL of the shared server [PROVISION_SERVER_URL].")] = None,
         dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be dropped; drop nothing.")] = False,
         purpose: Annotated[Optional[str], typer.Option(
             "--purpose", help="Only leases of this purpose: dev or test [both].")] = None,
         json_output: Json = False, debug: Debug = False) -> None:
    """Drop the databases and users of expired leases on a shared server, and nothing else."""
    _setup_logging(debug, quiet=True)
    from . import api
    from .errors import ConfigError

    def action():
        url = _settings(server_url=server_url).server_url
        if not url:
            raise ConfigError("reap needs the shared server's admin URL",
                              "pass --server-url mysql://ADMIN:PASSWORD@HOST:PORT/ (or PROVISION_SERVER_URL)")
        if purpose not in (None, "dev", "test"):
            raise ConfigError(f"unknown purpose {purpose!r}", "use --purpose dev or --purpose test")
        return api.reap(url, dry_run=dry_run, purpose=purpose)

    reaped = _run(debug, action)
    if json_output:
        _emit_json({"dry_run": dry_run, "reaped": reaped})
        return
    verb = "would drop" if dry_run else "dropped"
    for lease in reaped:
        what = ", ".join([f"database {name}" for name in lease["databases"]]
                         + [f"user {user}" for user in lease["users"]]) or "nothing left"
        typer.echo(f"{lease['purpose']} lease {lease['name']} of {lease['owner']}@{lease['host']} "
                   f"(expired {lease['expired']}): {verb} {what}")
    typer.echo(f"{len(reaped)} expired lease(s)" + (" (dry run: nothing dropped)" if dry_run else ""))


# More commands live in their own modules and register themselves on ``app``.
from . import cli_workflow  # noqa: E402,F401  (reset, snapshot, shell, doctor)
from . import cli_init  # noqa: E402,F401  (init)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
