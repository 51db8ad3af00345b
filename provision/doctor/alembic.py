"""The doctor's Alembic check: the app's migration scripts against ``alembic_version``."""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, Iterator

from .alembic_scripts import Graph, Migrations, find_migrations, load_graph
from ..config import Settings
from ..sql import run
from .findings import ERROR, OK, SKIP, WARN, Context, Finding


def check_migrations(ctx: Context) -> Iterator[Finding]:
    yield from alembic_findings(ctx.settings.project_dir, ctx.conn(), ctx.database, ctx.settings)


def alembic_findings(project_dir: Path, conn, database: str | None, settings: Settings | None = None
                     ) -> Iterator[Finding]:
    migrations = find_migrations(project_dir)
    if migrations is None:
        yield Finding("alembic", SKIP, f"no Alembic migrations in {project_dir} (no alembic.ini with "
                      "script_location, no migrations/versions/)")
        return
    graph = load_graph(migrations)
    where = f"{migrations.root} (from {migrations.source})"
    for problem in graph.problems:
        yield Finding("migrations", ERROR, problem, "fix or remove that script; git log -- "
                      f"{migrations.version_dirs[0]} shows where it came from")
    if not graph.scripts:
        yield Finding("alembic", SKIP, f"{where} has no migration scripts yet", migrations.autogenerate())
        return
    heads = graph.heads
    if len(heads) > 1:
        described = ", ".join(_describe_rev(graph, h) for h in heads)
        merge = (migrations.cmd("merge", "-m", "merge heads", *heads) if migrations.command != "alembic"
                 else migrations.cmd("merge", "-m", "merge heads", "heads"))
        yield Finding("migrations", ERROR, f"{len(heads)} heads in {where}: {described} (two branches each added a "
                      "migration; upgrade stops with 'Multiple head revisions')", merge, {"heads": heads})
    else:
        yield Finding("migrations", OK, f"{len(graph.scripts)} migrations in {where}, head {heads[0]}",
                      details={"heads": heads, "count": len(graph.scripts)})
    if conn is None or not database:
        return
    yield _database_vs_scripts(conn, database, graph, migrations, settings)


def _describe_rev(graph: Graph, rev: str) -> str:
    script = graph.scripts.get(rev)
    return f"{rev} ({script.message})" if script and script.message else rev


def _database_vs_scripts(conn, database: str, graph: Graph, migrations: Migrations,
                         settings: Settings | None) -> Finding:
    from ..snapshots import alembic_revisions

    with conn.cursor() as cursor:
        tables = {name.lower() for name, kind in run(cursor, "workflow", "tables", {"database": database})
                  if kind == "BASE TABLE"}
        recorded = alembic_revisions(cursor, database)
        columns = set(run(cursor, "diagnostics", "columns", {"database": database}))
    tables.discard("alembic_version")
    heads = graph.heads
    head_text = heads[0] if len(heads) == 1 else "heads"
    tracks_tables = any(s.creates for s in graph.scripts.values())
    matches = graph.matching_revisions(tables, columns) if tracks_tables else []
    looks_like = matches[-1] if matches else None
    details: dict[str, Any] = {"database_revision": recorded, "heads": heads, "tables": sorted(tables),
                               "looks_like": looks_like}
    upgrade = migrations.upgrade()

    if not recorded:
        pending = graph.pending([])
        if not tables:
            return Finding("alembic", WARN, f"{database} is empty and no migration was applied: "
                           f"{len(pending)} migration(s) to apply", upgrade, details)
        stamp_to = looks_like or head_text
        if looks_like in (None, "base"):
            stamp_to = head_text
        then = f" && {upgrade}" if stamp_to not in heads and stamp_to != "heads" else ""
        what = ("it matches the tables of revision " + _describe_rev(graph, stamp_to)) if looks_like else (
            "check that they match the newest migration first")
        no_table = "alembic_version is empty" if recorded == [] else "there is no alembic_version table"
        return Finding("alembic", ERROR, f"{database} has {len(tables)} tables ({_names(tables)}) but {no_table}: "
                       "upgrade would run every migration again and fail ('Table ... already exists'); "
                       f"{what}", migrations.cmd("stamp", stamp_to) + then, details)

    unknown = [rev for rev in recorded if graph.resolve(rev) is None]
    if unknown:
        fix = _unknown_revision_fix(unknown, graph, migrations, settings)
        return Finding("alembic", ERROR, f"{database} is at revision {', '.join(unknown)}, which the migrations of "
                       "this branch do not know (switched branch? a migration that exists only on another branch "
                       "was applied)", fix, details)
    current = [graph.resolve(rev) for rev in recorded]
    pending = graph.pending(current)
    details["pending"] = pending
    expected = graph.expected_tables(current)
    consistent = not tracks_tables or (expected == tables and graph.expected_columns(current) <= columns)
    if not consistent:
        missing = sorted(expected - tables)
        extra = sorted(tables - expected)
        difference = "; ".join(part for part in (f"missing {_names(missing)}" if missing else "",
                                                 f"not expected yet {_names(extra)}" if extra else "") if part)
        if looks_like is not None:
            target = looks_like if looks_like == "base" else _describe_rev(graph, looks_like)
            after = graph.pending([] if looks_like == "base" else [looks_like])
            then = f" && {upgrade}" if after else ""
            error = ("'Table ... doesn't exist'" if missing else "'Table ... already exists'")
            return Finding("alembic", ERROR,
                           f"alembic_version says {', '.join(current)} but the tables ({difference}) look like "
                           f"revision {target}: upgrade would run the wrong migrations and fail ({error})",
                           migrations.cmd("stamp", looks_like) + then, details)
        return Finding("alembic", WARN,
                       f"{database} is at {', '.join(current)} but its tables differ from what the migrations "
                       f"up to it create ({difference}); upgrade may fail",
                       f"rebuild it from the migrations: provision reset --yes && {upgrade}", details)
    if pending:
        return Finding("alembic", WARN,
                       f"{len(pending)} migration(s) not applied ({', '.join(pending[:5])}): {database} is at "
                       f"{', '.join(current)}, the head is {', '.join(heads)}; until then "
                       f"'{migrations.autogenerate()}' stops with 'Target database is not up to date'",
                       upgrade, details)
    return Finding("alembic", OK, f"{database} is up to date at {', '.join(current)}", details=details)


def _names(names) -> str:
    names = sorted(names)
    return ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")


def _unknown_revision_fix(unknown: list[str], graph: Graph, migrations: Migrations, settings: Settings | None) -> str:
    fixes = []
    if settings is not None:
        from .. import branches as branch_databases
        from ..snapshots import list_snapshots

        live = branch_databases.Registry(settings.state_path).read()["live"]
        checked_out = branch_databases.current_branch(settings.project_dir)
        if live and checked_out and live != checked_out:
            fixes.append(f"provision branch switch   (the database holds {live}'s tables; git is on {checked_out})")

        for snap in list_snapshots(settings):
            revision = snap.get("alembic_revision")
            if revision is not None and all(graph.resolve(r) for r in revision):
                fixes.append(f"provision snapshot restore {snap['name']}   (taken at "
                             f"{','.join(revision) or 'no revision'} on {snap.get('git_branch') or '?'})")
                break
    branches = _branches_with(migrations.root, unknown[0])
    if branches:
        fixes.append(f"git checkout {branches[0]} && {migrations.cmd('downgrade', '-1')}   (undo it where it "
                     "is known), then come back")
    fixes.append(f"provision reset --yes && {migrations.upgrade()}   (rebuild; the data is lost)")
    return "  or  ".join(fixes)


def _branches_with(folder: Path, revision: str) -> list[str]:
    """Local branches whose tree mentions ``revision`` (a migration file defines it there)."""
    try:
        refs = subprocess.run(["git", "-C", str(folder), "for-each-ref", "--format=%(refname:short)", "refs/heads"],
                              capture_output=True, text=True, timeout=10)
        if refs.returncode != 0:
            return []
        found = []
        for branch in refs.stdout.split():
            hit = subprocess.run(["git", "-C", str(folder), "grep", "-l", "-F", revision, branch, "--", "."],
                                 capture_output=True, text=True, timeout=10)
            if hit.returncode == 0 and hit.stdout.strip():
                found.append(branch)
        return found
    except (OSError, subprocess.SubprocessError):
        return []


