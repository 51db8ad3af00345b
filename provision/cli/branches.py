"""``provision branch ...`` and ``provision hooks ...`` (registered on ``cli.app``)."""
from __future__ import annotations

from typing import Annotated, Optional

import typer

from .app import Debug, Json, StateDirOpt, Yes, _emit_json, _run, _settings, _setup_logging, app, confirm

branch_app = typer.Typer(help="Per-branch databases: each git branch keeps its own dev database.",
                         no_args_is_help=True)
hooks_app = typer.Typer(help="The git post-checkout hook that switches branch databases.", no_args_is_help=True)
app.add_typer(branch_app, name="branch")
app.add_typer(hooks_app, name="hooks")

BranchName = Annotated[Optional[str], typer.Argument(help="Branch name [git's current branch].")]


@branch_app.command("list")
def branch_list(state_dir: StateDirOpt = None, json_output: Json = False, debug: Debug = False) -> None:
    """The branches that have a database: revision, tables, size, last used, which one is live."""
    _setup_logging(debug, quiet=json_output)
    from .. import api

    rows = _run(debug, lambda: api.branch_list(_settings(state_dir=state_dir)))
    _emit_json(rows) if json_output else typer.echo(table(rows))


def table(rows: list[dict]) -> str:
    from ..branches import _size
    from ..snapshots import revision_text

    if not rows:
        return "no branch databases yet (provision hooks install, then git checkout)"
    header = ("", "BRANCH", "ALEMBIC", "TABLES", "SIZE", "LAST USED", "DATABASE")
    lines = [header]
    for row in rows:
        revision = row["revision"]
        note = " (orphan)" if row["orphan"] else ("" if row["in_git"] else " (gone from git)")
        lines.append(("*" if row["live"] else "", row["branch"] + note,
                      revision_text(revision), str(row["tables"]),
                      _size(row["size"]), (row["last_used"] or "-").replace("T", " ").replace("+00:00", "Z"),
                      row["database"] if row["exists"] else f"{row['database']} (missing)"))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines)


@branch_app.command("switch")
def branch_switch(branch: BranchName = None, state_dir: StateDirOpt = None, debug: Debug = False) -> None:
    """Make a branch's database the live one (what the hook does; also finishes an interrupted switch)."""
    _setup_logging(debug)
    from .. import api

    for line in _run(debug, lambda: api.branch_switch(branch, _settings(state_dir=state_dir))):
        typer.echo(line)


@branch_app.command("prune")
def branch_prune(state_dir: StateDirOpt = None, yes: Yes = False, debug: Debug = False) -> None:
    """Drop the databases of branches git no longer has (asks first unless --yes)."""
    _setup_logging(debug)
    from .. import api
    from ..branches import _size, prunable

    settings = _run(debug, lambda: _settings(state_dir=state_dir))
    doomed = prunable(_run(debug, lambda: api.branch_list(settings)))
    if not doomed:
        typer.echo("nothing to prune: every parked database belongs to a branch git has")
        return
    listing = ", ".join(f"{r['branch']} ({_size(r['size'])})" for r in doomed)
    if not yes:
        confirm(f"Drop the databases of {listing}?", f"prune would drop the databases of {listing}",
                "run provision branch prune --yes to confirm")
    for name in _run(debug, lambda: api.branch_drop([r["database"] for r in doomed], settings)):
        typer.echo(f"dropped {name}")


@branch_app.command("adopt")
def branch_adopt(branch: BranchName = None, state_dir: StateDirOpt = None, debug: Debug = False) -> None:
    """Record that the database's tables are this branch's (once, when provision starts tracking)."""
    _setup_logging(debug)
    from .. import api

    typer.echo(_run(debug, lambda: api.branch_adopt(branch, _settings(state_dir=state_dir))))


@branch_app.command("forget")
def branch_forget(branch: Annotated[str, typer.Argument(help="Branch name.")], state_dir: StateDirOpt = None,
                  debug: Debug = False) -> None:
    """Forget a branch's database (it is left on the server; provision branch prune drops it)."""
    _setup_logging(debug)
    from .. import api

    typer.echo(_run(debug, lambda: api.branch_forget(branch, _settings(state_dir=state_dir))))


@branch_app.command("hook", hidden=True)
def branch_hook(previous: str, new: str, flag: str) -> None:
    """What the post-checkout hook runs: warns, never fails."""
    _setup_logging(False)
    from .. import api

    for line in api.branch_hook(previous, new, flag):
        typer.echo(f"provision: {line}", err=True)


@hooks_app.command("install")
def hooks_install(state_dir: StateDirOpt = None, debug: Debug = False) -> None:
    """Install the post-checkout hook (an existing one is kept and runs first)."""
    _setup_logging(debug)
    from .. import api

    for line in _run(debug, lambda: api.hooks_install(_settings(state_dir=state_dir))):
        typer.echo(line)


@hooks_app.command("uninstall")
def hooks_uninstall(state_dir: StateDirOpt = None, debug: Debug = False) -> None:
    """Remove provision's hook and put back the one that was there before."""
    _setup_logging(debug)
    from .. import api

    typer.echo(_run(debug, lambda: api.hooks_uninstall(_settings(state_dir=state_dir))))
