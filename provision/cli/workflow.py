"""The migration workflow's commands: reset, snapshot, shell, doctor (registered on ``cli.app``)."""
from __future__ import annotations

from typing import Annotated

import typer

from .app import Debug, Json, StateDirOpt, Yes, _emit_json, _run, _settings, _setup_logging, app, confirm
from .app import EnvFile, as_typed

snapshot_app = typer.Typer(help="Save and restore copies of the database (cheap branch switching).",
                           no_args_is_help=True)
app.add_typer(snapshot_app, name="snapshot")

Name = Annotated[str, typer.Argument(help="Snapshot name, e.g. master.")]


@app.command()
def reset(state_dir: StateDirOpt = None, yes: Yes = False, json_output: Json = False, debug: Debug = False) -> None:
    """Drop and recreate the project's database (character set and grants kept); asks first."""
    _setup_logging(debug, quiet=json_output)
    from .. import api

    settings = _run(debug, lambda: _settings(state_dir=state_dir))
    if not yes:
        confirm("Drop every table of the project's database and start empty?",
                 "reset drops every table of the project's database",
                 "run provision reset --yes to confirm (provision snapshot save NAME keeps a copy first)")
    result = _run(debug, lambda: api.reset(settings))
    if json_output:
        _emit_json(result)
        return
    typer.echo(f"{result['database']}: dropped {result['dropped_tables']} table(s), recreated empty "
               f"({result['charset']}, {result['collation']})")
    typer.echo(f"{result['url']} logs in as {result['proof']['current_user']}")
    if result.get("other_branches"):
        typer.echo(f"only {result['branch']}'s tables were dropped; the databases of "
                   f"{', '.join(result['other_branches'])} are kept (provision branch list)")


@snapshot_app.command("save")
def snapshot_save(name: Name, state_dir: StateDirOpt = None, json_output: Json = False, debug: Debug = False) -> None:
    """Dump the database (compressed, with its Alembic revision and git branch) to the state dir."""
    _setup_logging(debug, quiet=json_output)
    from .. import api
    from ..snapshots import _size, revision_text

    result = _run(debug, lambda: api.snapshot_save(name, _settings(state_dir=state_dir)))
    if json_output:
        _emit_json(result)
        return
    revision = result.get("alembic_revision")
    typer.echo(f"snapshot {name} {'replaced' if result['replaced'] else 'saved'}: {result['database']}, "
               f"{len(result['tables'])} table(s), {_size(result['size'])}, alembic "
               f"{revision_text(revision)}, "
               f"git {result.get('git_branch') or '-'}@{result.get('git_commit') or '-'}")


@snapshot_app.command("restore")
def snapshot_restore(name: Name, state_dir: StateDirOpt = None, json_output: Json = False,
                     debug: Debug = False) -> None:
    """Replace the database's tables with the snapshot's (loaded aside first, then swapped in)."""
    _setup_logging(debug, quiet=json_output)
    from .. import api
    from ..snapshots import revision_text

    result = _run(debug, lambda: api.snapshot_restore(name, _settings(state_dir=state_dir)))
    if json_output:
        _emit_json(result)
        return
    revision = result.get("alembic_revision")
    typer.echo(f"restored {name} into {result['database']}: {result['tables']} table(s), alembic "
               f"{revision_text(revision)} (taken {result['taken']} "
               f"on {result.get('git_branch') or '-'})")


@snapshot_app.command("list")
def snapshot_list(state_dir: StateDirOpt = None, json_output: Json = False, debug: Debug = False) -> None:
    """The snapshots, as a table."""
    _setup_logging(debug, quiet=json_output)
    from .. import api
    from ..snapshots import table

    found = _run(debug, lambda: api.snapshot_list(_settings(state_dir=state_dir)))
    _emit_json(found) if json_output else typer.echo(table(found))


@snapshot_app.command("delete")
def snapshot_delete(name: Name, state_dir: StateDirOpt = None, debug: Debug = False) -> None:
    """Delete a snapshot."""
    _setup_logging(debug)
    from .. import api

    typer.echo(_run(debug, lambda: api.snapshot_delete(name, _settings(state_dir=state_dir))))


@app.command()
def shell(state_dir: StateDirOpt = None, root: Annotated[bool, typer.Option(
        "--root", help="Log in as the server's admin instead of the app user.")] = False,
        debug: Debug = False) -> None:
    """Open the mysql/mariadb client, logged in (credentials via a 0600 option file, never argv)."""
    _setup_logging(debug)
    from .. import api

    code = _run(debug, lambda: api.shell(_settings(state_dir=state_dir), root=root))
    raise typer.Exit(code)


_MARK = {"ok": "ok", "warn": "WARN", "error": "ERROR", "skip": "skip"}


@app.command()
def doctor(state_dir: StateDirOpt = None, env_file: EnvFile = None, kill_blockers: Annotated[bool, typer.Option(
        "--kill-blockers", help="End the sessions that block a waiting migration (asks first).")] = False,
        yes: Yes = False, json_output: Json = False, debug: Debug = False) -> None:
    """Check the server, the URL, the Alembic migrations and the sessions; say what is wrong and the fix.

    Exits 1 when a check found an error.
    """
    _setup_logging(debug, quiet=json_output)
    from .. import api

    settings = _run(debug, lambda: _settings(state_dir=state_dir, env_file=env_file))
    report = _run(debug, lambda: api.doctor(settings))
    killed = []
    blockers = report.blockers()
    if kill_blockers and blockers:
        listing = ", ".join(f"{b['id']} ({b['user']}@{b['host']})" for b in blockers)
        if not yes:
            confirm(f"End session(s) {listing}? Their open transactions are rolled back.",
                     f"--kill-blockers would end session(s) {listing}",
                     "run provision doctor --kill-blockers --yes to confirm")
        killed = _run(debug, lambda: api.kill_blockers([b["id"] for b in blockers], settings))
    if json_output:
        _emit_json({**report.to_dict(), "killed": [b["id"] for b in killed]})
    else:
        for finding in report.findings:
            typer.echo(f"{_MARK[finding.status]:<6}{finding.check:<12} {finding.finding}")
            if finding.fix and finding.status in ("warn", "error"):
                typer.echo(f"{'':<18} fix: {as_typed(finding.fix)}")
        for blocker in killed:
            typer.echo(f"killed session {blocker['id']} ({blocker['user']}@{blocker['host']})")
        if kill_blockers and not blockers:
            typer.echo("no blocking session to end")
    if any(f.status == "error" and not (killed and f.check == "locks") for f in report.findings):
        raise typer.Exit(1)
