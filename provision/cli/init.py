"""``provision init``: the app adopts provision (``make dev-db`` and its settings); registered on ``cli.app``."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .app import Debug, _run, _setup_logging, app


@app.command()
def init(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the changes as a unified diff; write nothing.")]
    = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Write without asking.")] = False,
    source: Annotated[Optional[str], typer.Option(
        "--source", help="Where the app installs provision from: a git URL (git+https://...@REV), a path to a "
        "checkout, or a requirement. Default: where this provision was installed from.")] = None,
    database: Annotated[Optional[str], typer.Option("--database", help="The app's database \\[from its files, "
                                                    "else ohdevel].")] = None,
    user: Annotated[Optional[str], typer.Option("--user", help="The app's user \\[from its files, else ohdev].")]
    = None,
    driver: Annotated[Optional[str], typer.Option("--driver", help="mysql (mysql://) or pymysql "
                                                  "(mysql+pymysql://) \\[from the app's files].")] = None,
    project_dir: Annotated[Path, typer.Option("--project-dir", help="The app's checkout.")] = Path("."),
    debug: Debug = False,
) -> None:
    """Add `make dev-db` to this app: Makefile targets, the dev dependency, \\[tool.provision], .env.example,
    .gitignore. Only what is missing; a second run changes nothing."""
    _setup_logging(debug)
    from .. import adopt

    plan = _run(debug, lambda: adopt.plan(project_dir, source=source, database=database, user=user, driver=driver))
    for line in plan.findings:
        typer.echo(f"provision: {line}", err=True)
    for line in plan.warnings:
        typer.echo(f"warning: {line}", err=True)
    pending = plan.pending
    if not pending:
        typer.echo("already adopted: nothing to change")
        return
    typer.echo(plan.diff(), nl=False)
    if dry_run:
        typer.echo(f"dry run: {len(pending)} file(s) would change; nothing was written", err=True)
        return
    if not yes:
        if not sys.stdin.isatty():
            typer.echo("error: provision init needs a confirmation and there is no terminal to ask", err=True)
            typer.echo("hint: read the diff above, then run provision init --yes", err=True)
            raise typer.Exit(2)
        if not typer.confirm(f"write these changes to {len(pending)} file(s)?", default=False):
            typer.echo("nothing was written", err=True)
            raise typer.Exit(1)
    written = _run(debug, lambda: adopt.apply(plan))
    for change in written:
        typer.echo(f"{'created' if change.old is None else 'updated'} {change.relative}: {change.summary}")
    for step in plan.next_steps:
        typer.echo(f"next: {step}")
