"""Snapshots of the project's database: ``save``, ``restore``, ``list``, ``delete``.

A snapshot is ``<state dir>/snapshots/<name>/`` holding ``dump.sql.gz`` and ``meta.json``
(server flavor and version, character set, Alembic revision, git branch and commit, tables,
size, time). The dump is taken where the server is, with the server's own dump tool: the
backend's ``dump_stream()`` when it has one (docker: inside the container), else its
``client_command("dump")`` (next to the server binary for native); where there is none,
provision writes it itself (SHOW CREATE TABLE and INSERTs with driver-escaped values).
Restore loads with the backend's ``client_command("client")`` (for docker: this machine's
client on the published port), else with provision's own statement splitter.

Restore never leaves a half-restored database: the dump is loaded into a scratch database
``<db>_restore_<random>``, checked, and only then swapped in with one RENAME TABLE.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import gzip
import json
import logging
import re
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from . import branches, schema_objects
from .config import Settings
from .errors import ConfigError, ServerError, SnapshotError, StateError
from .files import atomic_write
from .probe import error_code, server_info
from .sql import render, run
from .project import Project, database_defaults, open_project
from .sqldump import python_dump, split_statements, stored_programs

log = logging.getLogger(__name__)

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
DUMP_FILE = "dump.sql.gz"
META_FILE = "meta.json"
DUMP_OPTIONS = ("--single-transaction", "--quick", "--hex-blob", "--triggers", "--routines",
                "--events", "--no-tablespaces", "--default-character-set=utf8mb4")
QUERY_WAS_EMPTY = 1065
LOCK_WAIT_TIMEOUT = 1205


def validate_name(name: str) -> str:
    if not _NAME.fullmatch(name or ""):
        raise ConfigError(f"invalid snapshot name {name!r}",
                          "use letters, digits, '.', '_' and '-' (for a branch feature/x: feature-x)")
    return name


def snapshots_dir(settings: Settings) -> Path:
    return settings.state_path / "snapshots"


# --- save ------------------------------------------------------------------------------
def save(settings: Settings, name: str) -> dict[str, Any]:
    validate_name(name)
    project = open_project(settings)
    root = snapshots_dir(settings)
    with project.state.lock():
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        work = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
        try:
            with project.admin() as conn:
                branches.repair_pending(project.state.path, project.database, conn)
                meta = _describe(conn, project)
            dump = work / DUMP_FILE
            streamed = _streamed_dump(project, dump)
            if streamed is not None:
                meta["format"] = f"{streamed} (the server's dump tool)"
            else:
                with project.client_command("dump", root=True) as argv:
                    if argv is not None:
                        _tool_dump(argv, project.database, dump)
                        meta["format"] = f"{Path(argv[0]).name} (the server's dump tool)"
                    else:
                        with project.admin(database=project.database) as conn:
                            meta["rows"] = python_dump(conn, project.database, dump)
                        meta["format"] = "provision (SQL written by provision; no dump tool for this server)"
            meta["size"] = dump.stat().st_size
            atomic_write(work / META_FILE, (json.dumps(meta, indent=2) + "\n").encode(), 0o600)
            target = root / name
            replaced = target.exists()
            if replaced:
                old = root / f".{name}.old-{secrets.token_hex(4)}"
                target.rename(old)
                shutil.rmtree(old)
            work.rename(target)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    log.info("snapshot %s: %s, %d tables, %s", name, project.database, len(meta["tables"]), _size(meta["size"]))
    return {"name": name, "path": str(root / name), "replaced": replaced, **meta}


def _describe(conn, project: Project) -> dict[str, Any]:
    info = server_info(conn)
    with conn.cursor() as cursor:
        defaults = database_defaults(cursor, project.database)
        if defaults is None:
            raise SnapshotError.no_database(project.database)
        tables = run(cursor, "workflow", "tables", {"database": project.database})
        revision = alembic_revisions(cursor, project.database)
        programs = stored_programs(cursor, project.database)
    return {
        "database": project.database,
        "flavor": info.flavor,
        "server": info.label,
        "version": info.version,
        "charset": defaults[0],
        "collation": defaults[1],
        "alembic_revision": revision,
        "tables": {table: kind for table, kind in tables},
        "programs": sorted([kind, name] for kind, name, *_ in programs if kind != "trigger"),
        **_git(project.settings.project_dir),
        "branch_database": branches.Registry(project.state.path).read()["live"],  # whose tables these were
        "taken": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def revision_text(revision: list[str] | None) -> str:
    """An Alembic revision as the CLI shows it: ``-`` (no alembic_version), ``(empty)``, or ``a,b``."""
    return "-" if revision is None else (",".join(revision) or "(empty)")


def alembic_revisions(cursor, database: str) -> list[str] | None:
    """The revisions in ``alembic_version``; None when there is no such table."""
    if not run(cursor, "workflow", "has_alembic_version", {"database": database}):
        return None
    return [row[0] for row in run(cursor, "workflow", "alembic_version", database=database)]


def _git(project_dir: Path) -> dict[str, str | None]:
    def git(*args: str) -> str | None:
        try:
            result = subprocess.run(["git", "-C", str(project_dir), *args], capture_output=True, text=True,
                                    timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return result.stdout.strip() or None if result.returncode == 0 else None

    return {"git_branch": git("rev-parse", "--abbrev-ref", "HEAD"), "git_commit": git("rev-parse", "--short", "HEAD")}


def _streamed_dump(project: Project, dump: Path) -> str | None:
    """Dump with the backend's ``dump_stream`` (docker: the tool inside the container); what dumped,
    or None when the backend has no such tool."""
    make = getattr(project.backend, "dump_stream", None)
    if make is None:
        return None
    admin = project.server().admin
    found = make(project.database, DUMP_OPTIONS, user=admin.user, password=admin.password)
    if found is None:
        return None
    what, chunks = found
    try:
        with gzip.open(dump, "wb", compresslevel=6) as out:
            for chunk in chunks:
                out.write(chunk)
    except ServerError as exc:
        raise SnapshotError(exc.message, exc.hint) from exc
    return what


def _tool_dump(argv: list[str], database: str, dump: Path) -> None:
    with tempfile.TemporaryFile() as errors, gzip.open(dump, "wb", compresslevel=6) as out:
        process = subprocess.Popen([*argv, *DUMP_OPTIONS, database], stdout=subprocess.PIPE, stderr=errors,
                                   stdin=subprocess.DEVNULL)
        assert process.stdout is not None
        shutil.copyfileobj(process.stdout, out, 1024 * 1024)
        code = process.wait()
        if code != 0:
            errors.seek(0)
            tail = errors.read().decode("utf-8", "replace").strip().splitlines()[-5:]
            raise SnapshotError(f"{Path(argv[0]).name} failed (exit {code}): " + " / ".join(tail),
                                "no snapshot was written; run with --debug, and provision doctor")


# --- restore ---------------------------------------------------------------------------
def restore(settings: Settings, name: str) -> dict[str, Any]:
    validate_name(name)
    project = open_project(settings)
    folder = snapshots_dir(settings) / name
    meta = read_meta(folder)
    database = project.database
    scratch = f"{database[:40]}_restore_{secrets.token_hex(4)}"
    with project.state.lock(), project.admin() as conn:
        info = server_info(conn)
        if info.flavor != meta.get("flavor"):
            log.warning("snapshot %s was taken on %s; restoring on %s", name, meta.get("server"), info.label)
        branches.repair_pending(project.state.path, database, conn)
        live = branches.Registry(project.state.path).read()["live"]
        if live and meta.get("branch_database") and meta["branch_database"] != live:
            log.warning("snapshot %s holds %s's database; restoring it into %s's (the live branch; the other "
                        "branches' databases are not touched)", name, meta["branch_database"], live)
        with conn.cursor() as cursor:
            run(cursor, "workflow", "create_database", database=scratch,
                charset=meta.get("charset", "utf8mb4"), collation=meta["collation"])
        try:
            _load(project, folder / DUMP_FILE, scratch)
            _verify(conn, scratch, meta)
            moved = _swap(conn, database, scratch)
            with conn.cursor() as cursor:
                run(cursor, "workflow", "alter_database", database=database,
                    charset=meta.get("charset", "utf8mb4"), collation=meta["collation"])
        finally:
            with conn.cursor() as cursor:
                run(cursor, "workflow", "drop_database", database=scratch)
    log.info("restored snapshot %s into %s (%d tables)", name, database, moved)
    return {"name": name, "database": database, "tables": moved, "alembic_revision": meta.get("alembic_revision"),
            "taken": meta.get("taken"), "git_branch": meta.get("git_branch")}


def read_meta(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SnapshotError.no_snapshot(folder) from None
    except (OSError, ValueError) as exc:
        raise SnapshotError(f"snapshot {folder.name} is unreadable: {exc}",
                            f"delete it: provision snapshot delete {folder.name}") from None


def _load(project: Project, dump: Path, scratch: str) -> None:
    with project.client_command("client", root=True) as argv:
        if argv is not None:
            _tool_load(argv, dump, scratch)
            return
    with project.admin(database=scratch) as conn, gzip.open(dump, "rt", encoding="utf-8") as text:
        with conn.cursor() as cursor:
            for statement in split_statements(text):
                try:
                    cursor.execute(statement)
                except Exception as exc:
                    if error_code(exc) == QUERY_WAS_EMPTY:
                        continue  # only comments (a version-gated /*M!...*/ line)
                    raise SnapshotError(f"loading the snapshot failed: {exc}",
                                        "the database was left as it was") from exc


def _tool_load(argv: list[str], dump: Path, scratch: str) -> None:
    with tempfile.TemporaryFile() as errors, gzip.open(dump, "rb") as source:
        process = subprocess.Popen([*argv, "--default-character-set=utf8mb4", scratch], stdin=subprocess.PIPE,
                                   stdout=subprocess.DEVNULL, stderr=errors)
        assert process.stdin is not None
        try:
            shutil.copyfileobj(source, process.stdin, 1024 * 1024)
        except BrokenPipeError:
            pass  # the client stopped reading: its exit code and stderr say why
        finally:
            with contextlib.suppress(BrokenPipeError):
                process.stdin.close()
        code = process.wait()
        if code != 0:
            errors.seek(0)
            tail = errors.read().decode("utf-8", "replace").strip().splitlines()[-5:]
            raise SnapshotError(f"loading the snapshot with {Path(argv[0]).name} failed (exit {code}): "
                                + " / ".join(tail), "the database was left as it was")


def _verify(conn, scratch: str, meta: dict[str, Any]) -> None:
    with conn.cursor() as cursor:
        loaded = {table: kind for table, kind in run(cursor, "workflow", "tables", {"database": scratch})}
        expected = meta.get("tables", {})
        if loaded != expected:
            missing = sorted(set(expected) - set(loaded))
            extra = sorted(set(loaded) - set(expected))
            raise SnapshotError(f"the restored copy does not match the snapshot (missing: {missing or '-'}, "
                                f"unexpected: {extra or '-'})", "the database was left as it was")
        if "programs" in meta:  # snapshots since routines and events are kept
            programs = sorted([kind, name] for kind, name, *_ in stored_programs(cursor, scratch) if kind != "trigger")
            if programs != meta["programs"]:
                raise SnapshotError(f"the restored copy has the routines and events {programs}, the snapshot "
                                    f"{meta['programs']}", "the database was left as it was")
        for table, rows in (meta.get("rows") or {}).items():
            found = run(cursor, "workflow", "count_rows", database=scratch, table=table)[0][0]
            if found != rows:
                raise SnapshotError(f"the restored copy of {table} has {found} rows, the snapshot {rows}",
                                    "the database was left as it was")


def _swap(conn, database: str, scratch: str) -> int:
    """Put the scratch database's tables in place of ``database``'s in one RENAME TABLE.

    Views and triggers cannot move between databases: they are kept as definitions,
    dropped, and created again on the side that wins (the old ones if the rename fails).
    """
    old = f"{database[:40]}_old_{secrets.token_hex(4)}"
    with conn.cursor() as cursor:
        run(cursor, "workflow", "lock_wait_timeout", {"seconds": 30})
        new_objects = _detach(cursor, scratch)
        old_objects = _detach(cursor, database)
        current = [t for t, kind in run(cursor, "workflow", "tables", {"database": database}) if kind == "BASE TABLE"]
        incoming = [t for t, kind in run(cursor, "workflow", "tables", {"database": scratch}) if kind == "BASE TABLE"]
        run(cursor, "workflow", "create_database", database=old, charset="utf8mb4", collation="utf8mb4_general_ci")
        try:
            pairs = [render("workflow", "rename_pair", source_db=database, source=t, target_db=old, target=t)
                     for t in current]
            pairs += [render("workflow", "rename_pair", source_db=scratch, source=t, target_db=database, target=t)
                      for t in incoming]
            if pairs:
                try:
                    cursor.execute("RENAME TABLE " + ", ".join(pairs))
                except Exception as exc:
                    _attach(cursor, database, old_objects)
                    if error_code(exc) == LOCK_WAIT_TIMEOUT:
                        raise SnapshotError.tables_locked(database, "restored") from exc
                    raise
            _attach(cursor, database, new_objects)
        finally:
            run(cursor, "workflow", "drop_database", database=old)
    return len(incoming)


def _detach(cursor, database: str) -> list[schema_objects.SchemaObject]:
    """Drop the views, triggers, routines and events of ``database`` (views and triggers block a
    RENAME TABLE to another database; the others belong to it); return them to be created again."""
    saved = schema_objects.read(cursor, database)
    schema_objects.drop(cursor, database, saved)
    return saved


def _attach(cursor, database: str, saved: list[schema_objects.SchemaObject]) -> None:
    schema_objects.create(cursor, database, saved)


# --- list, delete ------------------------------------------------------------------------
def list_snapshots(settings: Settings) -> list[dict[str, Any]]:
    root = snapshots_dir(settings)
    found = []
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if folder.name.startswith(".") or not folder.is_dir():
            continue
        try:
            meta = read_meta(folder)
        except SnapshotError as exc:
            found.append({"name": folder.name, "error": exc.message})
            continue
        found.append({"name": folder.name, **{k: v for k, v in meta.items() if k != "rows"}})
    return found


def delete(settings: Settings, name: str) -> str:
    validate_name(name)
    folder = snapshots_dir(settings) / name
    if not folder.is_dir():
        raise StateError.no_snapshot(folder)
    shutil.rmtree(folder)
    return f"snapshot {name} deleted"


def table(snapshots: list[dict[str, Any]]) -> str:
    """The snapshots as an aligned, readable table."""
    if not snapshots:
        return "no snapshots (provision snapshot save NAME takes one)"
    header = ("NAME", "TAKEN", "SIZE", "TABLES", "SERVER", "ALEMBIC", "GIT")
    rows = [header]
    for snap in snapshots:
        if "error" in snap:
            rows.append((snap["name"], "?", "?", "?", snap["error"], "", ""))
            continue
        revision = snap.get("alembic_revision")
        rows.append((
            snap["name"],
            (snap.get("taken") or "?").replace("T", " ").replace("+00:00", "Z"),
            _size(snap.get("size", 0)),
            str(len(snap.get("tables", {}))),
            f"{snap.get('server', '?')} {snap.get('charset', '')}".strip(),
            revision_text(revision),
            f"{snap.get('git_branch') or '-'}@{snap.get('git_commit') or '-'}" if snap.get("git_commit") else "-",
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def _size(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"
