"""The dev database's commands: up, down, destroy, status, url, logs and the others of the
dev server (registered on ``app``)."""
from __future__ import annotations

import shlex
import sys
from typing import Annotated, Optional

import typer

from .app import (Backend, Collation, Database, Debug, Driver, DryRun, EnvFile, EnvKey, FixCharset, Formula,
                  Framework, GeneratePassword, Host, Image, Install, InstallYes, Json, Namespace, Password, Port,
                  Recreate, ServerUrl, StateDirOpt, TestDatabases, Timeout, Ttl, User, Yes, _emit_json, _run,
                  _settings, _setup_logging, app, confirm)


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
    from .. import api

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
    from ..names import shown_pattern

    found = result.framework
    runner = f"{found['title']} ({', '.join(found['evidence'])})" if found else "none detected"
    names = ", ".join(shown_pattern(p) for p in result.test_grants)
    return f"framework: {runner}; test databases: {names or f'{result.database}_* only'}"


def _up_asking(api, settings):
    """api.up, asking on a terminal before installing and for a root password Homebrew's server needs."""
    import dataclasses

    from ..errors import AdminPasswordRequired

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
    from .. import api

    message = _run(debug, lambda: api.down(_settings(state_dir=state_dir)))
    _emit_json({"result": message}) if json_output else typer.echo(message)


@app.command()
def destroy(state_dir: StateDirOpt = None, yes: Yes = False, json_output: Json = False, debug: Debug = False) -> None:
    """Stop the project's server and delete its data (asks first unless --yes)."""
    _setup_logging(debug, quiet=json_output)
    from .. import api

    if not yes:
        confirm("Delete the project's server and all its data?",
                "destroy deletes the project's database server and its data", "run provision destroy --yes to confirm")
    message = _run(debug, lambda: api.destroy(_settings(state_dir=state_dir)))
    _emit_json({"result": message}) if json_output else typer.echo(message)


@app.command()
def status(state_dir: StateDirOpt = None, env_file: EnvFile = None, json_output: Json = False,
           debug: Debug = False) -> None:
    """Show the backend, server state and whether .env matches."""
    _setup_logging(debug, quiet=json_output)
    from .. import api

    data = _run(debug, lambda: api.status(_settings(state_dir=state_dir, env_file=env_file)))
    if json_output:
        _emit_json(data)
        return
    for key, value in data.items():
        if key == "lease" and value:
            typer.echo(_lease_line(value))
        elif value is not None:
            typer.echo(f"{key}: {value}")


def _lease_line(lease: dict) -> str:
    if lease.get("state") == "renewed":
        return f"lease: {lease['name']} renewed, until {lease['expires']} (UTC)"
    return f"lease: {lease['name']} {lease.get('state')}: {lease.get('hint') or lease.get('error')}"


@app.command()
def url(state_dir: StateDirOpt = None, export: Annotated[bool, typer.Option(
        "--export", help="Print an export line: eval \"$(provision url --export)\".")] = False,
        env_key: EnvKey = None, debug: Debug = False) -> None:
    """Print the DATABASE_URL of the last successful up."""
    _setup_logging(debug)
    from .. import api

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
    from .. import api

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
    from .. import api
    from ..errors import ConfigError

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
