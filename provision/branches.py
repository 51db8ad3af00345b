"""Branch databases: every git branch keeps its own dev database on the same server.

The URL never changes: the live branch's tables are in the app's database (``ohdevel``).
A parked branch's tables are in a database provision owns, named
``provision_br_<project>_<branch>_<random>`` and labelled by its ``provision_branch`` table
(whose branch it holds, and the views, triggers, routines and events that RENAME TABLE
cannot move). ``branches.json`` in the state dir says which branch is live and where each
parked one is.

A switch moves every table of both sides in one ``RENAME TABLE`` (metadata only, atomic):
its cost does not grow with the rows. A branch without a database gets a copy of the live
one first (``branches = "copy"``, the default: proportional to the data, once per branch)
or starts empty (``branches = "empty"``).

Crash safety: the live branch's objects are saved in its new parked database and a journal
(``branch-switch.json``) is written before anything is dropped or moved. ``repair`` reads
where the tables really are (RENAME moved all of them or none) and finishes or undoes the
switch; every provision command that touches the database runs it first. Switches are
serialised by the state dir's lock and, on the server, by ``GET_LOCK``.

Why one module of ~600 lines: switch, repair, adopt, list, prune and forget all keep one
protocol -- the Registry (live branch and parked databases) and the journal in the same state
files, the ``provision_branch`` label, the ``provision_br_`` names and the two locks -- and
``repair`` is only right if it reads the journal exactly as ``switch`` and ``_move`` write it.
Split there, each half would import the other's private steps: a failed ``_move`` undoes
itself with repair's ``_replay``, and both read ``_tables`` and ``read_label``. The parts with
no share in it are small: the git queries (~30 lines) and the listing (~100 lines, it reads the
same Registry and labels).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import logging
import os
import re
import secrets
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from . import schema_objects
from .errors import ProvisionError
from .files import atomic_write
from .names import escape_wildcards, quote
from .sql import render, run
from .state import read_json

log = logging.getLogger(__name__)


PREFIX = "provision_br_"
LABEL = "provision_branch"
REGISTRY_FILE = "branches.json"
JOURNAL_FILE = "branch-switch.json"
PAUSE_ENV = "PROVISION_BRANCH_PAUSE_AT"  # test seam: stop at a named step so a test can kill the process
LOCK_WAIT_TIMEOUT = 1205


class BranchError(ProvisionError):
    """A branch database could not be switched, copied or dropped (nothing was lost)."""

    exit_code = 8

    @classmethod
    def busy(cls, what: str, seconds: float) -> "BranchError":
        return cls(f"another provision command is switching branch databases ({what}; waited {seconds:.0f} s)",
                   "wait for it to finish, then run provision branch switch")


@dataclass
class Switched:
    database: str
    previous: str | None
    branch: str
    action: str  # "switched", "copied", "created empty", "already live"
    seconds: float = 0.0
    copied_bytes: int = 0
    repaired: list[str] = field(default_factory=list)
    copied_from: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def describe(self) -> str:
        if self.action == "already live":
            return f"{self.database}: {self.branch}'s database is already live"
        how = {"switched": "", "copied": f" (a copy of {self.copied_from}'s, {_size(self.copied_bytes)})",
               "created empty": " (new, empty)"}[self.action]
        return f"{self.database}: {self.previous or '?'} -> {self.branch}{how} in {self.seconds:.2f} s"


# --- names -----------------------------------------------------------------------------------------
def project_key(state_path: Path, database: str) -> str:
    """Six hex digits that tell this project's parked databases from another's on a shared server."""
    return hashlib.sha256(f"{Path(state_path).resolve()}\0{database}".encode()).hexdigest()[:6]


def parked_name(key: str, branch: str) -> str:
    """``provision_br_<key>_<readable branch>_<random>``: at most 64 characters, nothing to escape."""
    slug = re.sub(r"[^a-z0-9]+", "_", branch.lower()).strip("_")[:28] or "branch"
    return f"{PREFIX}{key}_{slug}_{secrets.token_hex(4)}"


def lock_name(database: str) -> str:
    return f"provision_br:{database}"[:64]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


# --- the registry and the journal (state dir) -------------------------------------------------------
class Registry:
    """``branches.json``: which branch is live, where each parked one is, when each was last used."""

    def __init__(self, state_path: Path):
        self.path = Path(state_path) / REGISTRY_FILE
        self.journal_path = Path(state_path) / JOURNAL_FILE

    def read(self) -> dict[str, Any]:
        data = _read_json(self.path)
        data.setdefault("live", None)
        data.setdefault("branches", {})
        return data

    def write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write(self.path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode(), 0o644)

    def journal(self) -> dict[str, Any] | None:
        return _read_json(self.journal_path) or None

    def write_journal(self, data: dict[str, Any]) -> None:
        atomic_write(self.journal_path, (json.dumps(data, indent=2) + "\n").encode(), 0o644)

    def clear_journal(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.journal_path.unlink()


def _read_json(path: Path) -> dict[str, Any]:
    return read_json(path, f"fix it, or move it away and run provision branch list (parked databases are "
                           f"found on the server by their {PREFIX} names)")


# --- git ------------------------------------------------------------------------------------------
def git(project_dir: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(["git", "-C", str(project_dir), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def current_branch(project_dir: Path) -> str | None:
    """The checked-out branch; None on a detached HEAD (rebase, bisect, a tag) or outside git."""
    return git(project_dir, "symbolic-ref", "--quiet", "--short", "HEAD") or None


def in_progress(project_dir: Path) -> str | None:
    """'rebase' or 'bisect' when git is in the middle of one (HEAD moves many times then)."""
    for name, what in (("rebase-merge", "rebase"), ("rebase-apply", "rebase"), ("BISECT_LOG", "bisect")):
        path = git(project_dir, "rev-parse", "--git-path", name)
        if path and (Path(project_dir) / path).exists():
            return what
    return None


def branch_exists(project_dir: Path, branch: str) -> bool:
    return git(project_dir, "show-ref", "--verify", "--quiet", f"refs/heads/{branch}") is not None


# --- locking --------------------------------------------------------------------------------------
@contextlib.contextmanager
def locked(project, conn, timeout: float | None) -> Iterator[None]:
    """The state dir's lock (this project) and the server's GET_LOCK (this database), or BranchError."""
    with project.state.lock(timeout=timeout) as got:
        if not got:
            raise BranchError.busy(f"the lock in {project.state.path}", timeout or 0)
        with conn.cursor() as cursor:
            seconds = 86400 if timeout is None else max(int(timeout), 0)
            name = lock_name(project.database)
            if run(cursor, "branches", "get_lock", {"name": name, "seconds": seconds})[0][0] != 1:
                raise BranchError.busy(f"the server lock {name}", timeout or 0)
            try:
                yield
            finally:
                run(cursor, "branches", "release_lock", {"name": name})


def _pause(step: str) -> None:
    """Test seam: with PROVISION_BRANCH_PAUSE_AT=<step>, say so on stderr and wait to be killed."""
    if os.environ.get(PAUSE_ENV) != step:
        return
    os.write(2, f"provision: paused at {step} (pid {os.getpid()})\n".encode())
    marker = os.environ.get(PAUSE_ENV + "_FILE")
    if marker:
        Path(marker).write_text(str(os.getpid()))
    while True:
        time.sleep(3600)  # sleep-ok: a test kills this process here


# --- reading databases ----------------------------------------------------------------------------
def _exists(cursor, database: str) -> bool:
    return bool(run(cursor, "branches", "database_exists", {"database": database}))


def _tables(cursor, database: str) -> list[str]:
    return [t for (t,) in run(cursor, "branches", "base_tables", {"database": database}) if t != LABEL]


def read_label(cursor, database: str) -> tuple[dict[str, Any], list[schema_objects.SchemaObject]] | None:
    """The branch a parked database holds (and whether its copy completed) and its saved objects."""
    if not run(cursor, "branches", "has_label", {"database": database}):
        return None
    meta: dict[str, Any] = {}
    objects = []
    for kind, name, mode, zone, definition in run(cursor, "branches", "read_label", database=database):
        if kind == "branch":
            meta = json.loads(definition)
        else:
            objects.append(schema_objects.SchemaObject(kind, name, definition, mode, zone))
    return meta, objects


def _write_label(cursor, database: str, meta: dict[str, Any], objects: list[schema_objects.SchemaObject]) -> None:
    run(cursor, "branches", "create_label", database=database)
    run(cursor, "branches", "insert_label", {"seq": 0, "kind": "branch", "name": meta["branch"], "sql_mode": None,
                                             "time_zone": None, "definition": json.dumps(meta)}, database=database)
    for seq, obj in enumerate(objects, 1):
        run(cursor, "branches", "insert_label", {"seq": seq, "kind": obj.kind, "name": obj.name,
                                                 "sql_mode": obj.sql_mode, "time_zone": obj.time_zone,
                                                 "definition": obj.definition}, database=database)


def revision(cursor, database: str) -> list[str] | None:
    if not run(cursor, "branches", "has_alembic_version", {"database": database}):
        return None
    return [r for (r,) in run(cursor, "branches", "alembic_version", database=database)]


def _defaults(cursor, database: str) -> tuple[str, str]:
    rows = run(cursor, "workflow", "database_defaults", {"database": database})
    if not rows:
        raise BranchError.no_database(database)
    return rows[0][0], rows[0][1]


def _ours(cursor, key: str) -> list[str]:
    pattern = escape_wildcards(f"{PREFIX}{key}_") + "%"
    return [name for (name,) in run(cursor, "branches", "databases_like", {"pattern": pattern})]


# --- repair ---------------------------------------------------------------------------------------
def repair(project, conn) -> list[str]:
    """Finish or undo a switch a crash interrupted, and drop half-made copies. Caller holds the locks."""
    return repair_at(project.state.path, project.database, conn)


def repair_pending(state_path: Path, database: str, conn, timeout: float = 30) -> list[str]:
    """For commands that do not switch (up, reset, snapshots): repair when a journal says a switch
    was interrupted. The caller holds the state dir's lock; this takes the server's."""
    if not Registry(state_path).journal():
        return []
    with conn.cursor() as cursor:
        name = lock_name(database)
        if run(cursor, "branches", "get_lock", {"name": name, "seconds": int(timeout)})[0][0] != 1:
            raise BranchError.busy(f"the server lock {name}", timeout)
        try:
            return repair_at(state_path, database, conn)
        finally:
            run(cursor, "branches", "release_lock", {"name": name})


def repair_at(state_path: Path, database: str, conn) -> list[str]:
    registry = Registry(state_path)
    done: list[str] = []
    journal = registry.journal()
    with conn.cursor() as cursor:
        if journal:
            done.append(_replay(cursor, registry, journal))
        data = registry.read()
        known = {entry.get("database") for entry in data["branches"].values()}
        for name in _ours(cursor, project_key(state_path, database)):
            if name in known:
                continue
            label = read_label(cursor, name)
            tables = _tables(cursor, name)
            if label is None or not label[0].get("complete") or not tables:
                run(cursor, "branches", "drop_database", database=name)
                done.append(f"dropped {name}, an unfinished copy or an empty parked database")
    for line in done:
        log.warning("repaired: %s", line)
    return done


def _replay(cursor, registry: Registry, journal: dict[str, Any]) -> str:
    database, park, source = journal["database"], journal["park"], journal.get("source")
    moved_out = set(journal["out"])
    in_park = set(_tables(cursor, park)) if _exists(cursor, park) else set()
    renamed = bool(moved_out & in_park) if moved_out else not (source and _exists(cursor, source)
                                                               and set(journal["in"]) & set(_tables(cursor, source)))
    if renamed:
        label = read_label(cursor, source) if source and _exists(cursor, source) else None
        if label is not None:
            _keep_failed(registry, journal["to"], schema_objects.create(cursor, database, label[1], keep_going=True))
        _record(registry, journal)
        if source and _exists(cursor, source) and not _tables(cursor, source):
            run(cursor, "branches", "drop_database", database=source)
        registry.clear_journal()
        return f"the switch {journal['from']} -> {journal['to']} was finished"
    label = read_label(cursor, park) if _exists(cursor, park) else None
    if label is not None:  # the live branch's objects, as they were
        _keep_failed(registry, journal["from"], schema_objects.create(cursor, database, label[1], keep_going=True))
    if _exists(cursor, park) and not _tables(cursor, park):
        run(cursor, "branches", "drop_database", database=park)
    registry.clear_journal()
    return f"the switch {journal['from']} -> {journal['to']} was undone ({journal['from']} is live)"


def _keep_failed(registry: Registry, branch: str, failed) -> None:
    """Objects the server refused to create again: their statements are kept in the state dir, not lost."""
    if not failed:
        return
    path = registry.path.with_name(f"unrestored-{re.sub(r'[^A-Za-z0-9._-]+', '_', branch)}-"
                                   f"{_dt.datetime.now():%Y%m%d%H%M%S}.sql")
    text = "".join(f"-- {obj.kind} {obj.name}: {exc}\nSET SESSION sql_mode = '{obj.sql_mode or ''}';\n"
                   f"DELIMITER ;;\n{obj.definition};;\nDELIMITER ;\n\n" for obj, exc in failed)
    atomic_write(path, text.encode(), 0o600)
    log.warning("%d view(s)/trigger(s)/routine(s) of %s could not be created again (%s); their statements are in %s",
                len(failed), branch, "; ".join(f"{o.name}: {e}" for o, e in failed[:3]), path)


def _record(registry: Registry, journal: dict[str, Any]) -> None:
    """The registry after a switch: idempotent, so a repair can run it again."""
    data = registry.read()
    now = _now()
    previous = data["branches"].setdefault(journal["from"], {"created": now})
    previous.update(database=journal["park"], last_used=now)
    target = data["branches"].setdefault(journal["to"], {"created": now, "from": journal.get("copied_from")})
    target.update(database=None, last_used=now)
    data["live"] = journal["to"]
    registry.write(data)


# --- switching ------------------------------------------------------------------------------------
def switch(project, conn, branch: str, *, mode: str = "copy", live_hint: str | None = None,
           timeout: float | None = None) -> Switched:
    """Make ``branch``'s tables the live ones in the app's database.

    ``live_hint`` names the branch the live tables belong to when nothing recorded it yet
    (the first switch after ``provision up``); the hook passes the branch git came from.
    """
    started = time.perf_counter()
    database = project.database
    registry = Registry(project.state.path)
    with locked(project, conn, timeout):
        repaired = repair(project, conn)
        data = registry.read()
        live = data["live"] or live_hint
        if live is None:
            raise BranchError(f"provision does not know which branch {database}'s tables belong to",
                              "run provision branch adopt BRANCH once (provision hooks install does it)")
        if live == branch:
            if data["live"] is None:
                _adopt(registry, branch)
            return Switched(database, live, branch, "already live", repaired=repaired)
        with conn.cursor() as cursor:
            run(cursor, "branches", "lock_wait_timeout", {"seconds": max(int(timeout or 30), 1)})
            entry = data["branches"].get(branch) or {}
            source = entry.get("database")
            if source and not _exists(cursor, source):
                raise BranchError(f"{branch}'s parked database {source} is gone",
                                  f"forget it with provision branch forget {branch}; the next checkout copies "
                                  "the live database")
            action, copied = "switched", 0
            origin = None
            if not source and mode == "copy":
                origin, origin_db = _origin(project, data, live)
                source, copied = _copy(cursor, project, origin, origin_db, branch)
                action = "copied"
            elif not source:
                action = "created empty"
            _move(cursor, registry, database, project, live, branch, source, copied_from=origin)
    return Switched(database, live, branch, action, time.perf_counter() - started, copied, repaired,
                    copied_from=origin)


def _origin(project, data: dict[str, Any], live: str) -> tuple[str, str]:
    """The branch a new branch starts from: one with a database whose tip is the commit now checked
    out (``git checkout -b hotfix master`` while on feature copies master's), else the live one."""
    head = git(project.settings.project_dir, "rev-parse", "HEAD")
    if head:
        tips = [b for b, e in sorted(data["branches"].items())
                if (b == live or e.get("database")) and git(project.settings.project_dir, "rev-parse", "--verify",
                                                            "--quiet", f"refs/heads/{b}") == head]
        if live in tips or not tips:
            return live, project.database
        return tips[0], data["branches"][tips[0]]["database"]
    return live, project.database


def _adopt(registry: Registry, branch: str) -> None:
    data = registry.read()
    data["live"] = branch
    data["branches"].setdefault(branch, {"created": _now(), "database": None, "last_used": _now()})
    registry.write(data)


def adopt(project, conn, branch: str) -> str:
    """Record that the live tables are ``branch``'s (when provision starts tracking a clone)."""
    registry = Registry(project.state.path)
    with locked(project, conn, None):
        repair(project, conn)
        data = registry.read()
        if data["live"] and data["live"] != branch:
            raise BranchError(f"{project.database} already holds {data['live']}'s tables",
                              f"to switch to {branch}, run provision branch switch {branch}")
        _adopt(registry, branch)
    return f"{project.database} holds {branch}'s tables"


def _move(cursor, registry: Registry, database: str, project, live: str, branch: str, source: str | None,
          copied_from: str | None) -> None:
    charset, collation = _defaults(cursor, database)
    key = project_key(project.state.path, database)
    park = parked_name(key, live)
    objects = schema_objects.read(cursor, database)
    run(cursor, "branches", "create_database", database=park, charset=charset, collation=collation)
    _write_label(cursor, park, {"branch": live, "project": key, "database": database, "complete": True,
                                "parked": _now()}, objects)
    outgoing = _tables(cursor, database)
    incoming = _tables(cursor, source) if source else []
    registry.write_journal({"database": database, "from": live, "to": branch, "park": park, "source": source,
                            "out": outgoing, "in": incoming, "copied_from": copied_from, "started": _now()})
    _pause("journaled")
    schema_objects.drop(cursor, database, objects)
    _pause("detached")
    pairs = [render("branches", "rename_pair", source_db=database, source=t, target_db=park, target=t)
             for t in outgoing]
    pairs += [render("branches", "rename_pair", source_db=source, source=t, target_db=database, target=t)
              for t in incoming]
    if pairs:
        try:
            cursor.execute("RENAME TABLE " + ", ".join(pairs))
        except Exception as exc:
            _replay(cursor, registry, registry.journal() or {})  # nothing moved: put the objects back
            from .probe import error_code

            if error_code(exc) == LOCK_WAIT_TIMEOUT:
                raise BranchError.tables_locked(database, "switched") from exc
            raise
    _pause("renamed")
    _replay(cursor, registry, registry.journal() or {})


def _copy(cursor, project, origin: str, database: str, branch: str) -> tuple[str, int]:
    """A parked database for ``branch`` holding a copy of ``database``'s tables, rows and objects
    (the live database, or ``origin``'s parked one)."""
    charset, collation = _defaults(cursor, project.database)
    key = project_key(project.state.path, project.database)
    target = parked_name(key, branch)
    size = run(cursor, "branches", "size", {"database": database})[0][1]
    log.info("copying %s's database (%s) for the new branch %s", origin, _size(int(size)), branch)
    label = read_label(cursor, database) if database != project.database else None
    objects = label[1] if label else schema_objects.read(cursor, database)
    run(cursor, "branches", "create_database", database=target, charset=charset, collation=collation)
    # never "complete": a copy is only a switch's source; one no journal names is dropped by repair
    meta = {"branch": branch, "project": key, "database": project.database, "complete": False,
            "copied_from": origin}
    _write_label(cursor, target, meta, objects)
    mode, zone = run(cursor, "branches", "current_mode")[0]
    run(cursor, "branches", "copy_session")
    try:
        for table in _tables(cursor, database):
            create = run(cursor, "branches", "show_create_table", database=database, table=table)[0][1]
            run(cursor, "branches", "use_database", database=target)
            cursor.execute(create)  # foreign keys name their tables without a schema: they stay inside
            columns = ", ".join(quote(c) for (c,) in run(cursor, "branches", "insertable_columns",
                                                         {"database": database, "table": table}))
            cursor.execute(f"INSERT INTO {quote(target)}.{quote(table)} ({columns}) "
                           f"SELECT {columns} FROM {quote(database)}.{quote(table)}")
        _pause("copied")
    except BaseException:
        with contextlib.suppress(Exception):
            run(cursor, "branches", "drop_database", database=target)
        raise
    finally:
        run(cursor, "branches", "copy_session_end", {"sql_mode": mode})
    return target, int(size)


# --- listing, pruning, dropping ------------------------------------------------------------------
def list_branches(project, conn) -> list[dict[str, Any]]:
    """Every branch with a database: the live one and the parked ones (and any orphan of ours)."""
    data = Registry(project.state.path).read()
    rows = []
    with conn.cursor() as cursor:
        key = project_key(project.state.path, project.database)
        seen = set()
        for branch, entry in sorted(data["branches"].items()):
            database = entry.get("database") or (project.database if branch == data["live"] else None)
            if database is None:
                continue
            seen.add(database)
            rows.append(_row(cursor, project, branch, database, entry, live=branch == data["live"]))
        for name in _ours(cursor, key):
            if name not in seen:
                label = read_label(cursor, name)
                branch = label[0].get("branch", "?") if label else "?"
                rows.append({**_row(cursor, project, branch, name, {}, live=False), "orphan": True})
    return rows


def _row(cursor, project, branch: str, database: str, entry: dict[str, Any], *, live: bool) -> dict[str, Any]:
    exists = _exists(cursor, database)
    tables, size = run(cursor, "branches", "size", {"database": database})[0] if exists else (0, 0)
    return {"branch": branch, "database": database, "live": live, "exists": exists,
            "revision": revision(cursor, database) if exists else None, "tables": int(tables), "size": int(size),
            "last_used": entry.get("last_used"), "created": entry.get("created"), "from": entry.get("from"),
            "in_git": branch_exists(project.settings.project_dir, branch), "orphan": False}


def prunable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Parked databases whose branch git no longer has, and orphans; never the live one."""
    return [row for row in rows if not row["live"] and (row["orphan"] or not row["in_git"])]


def drop_parked(project, conn, databases: list[str]) -> list[str]:
    """Drop parked databases of this project (only names with our prefix and key) and forget them."""
    key = project_key(project.state.path, project.database)
    registry = Registry(project.state.path)
    dropped = []
    with locked(project, conn, None):
        repair(project, conn)
        data = registry.read()
        with conn.cursor() as cursor:
            for name in databases:
                if not name.startswith(f"{PREFIX}{key}_") or name == project.database:
                    raise BranchError(f"{name} is not a parked branch database of this project",
                                      "provision branch list shows them")
                run(cursor, "branches", "drop_database", database=name)
                dropped.append(name)
        for branch in [b for b, e in data["branches"].items() if e.get("database") in dropped]:
            del data["branches"][branch]
        registry.write(data)
    return dropped


def drop_all(state_path: Path, database: str, conn) -> list[str]:
    """Every parked database of this project (``destroy``, also on a server provision does not remove)."""
    with conn.cursor() as cursor:
        names = _ours(cursor, project_key(state_path, database))
    known = [e.get("database") for e in Registry(state_path).read()["branches"].values()]
    ours = f"{PREFIX}{project_key(state_path, database)}_"
    names = sorted(set(names) | {n for n in known if n and n.startswith(ours)})
    with conn.cursor() as cursor:
        for name in names:
            run(cursor, "branches", "drop_database", database=name)
    return names


def forget(project, conn, branch: str) -> str:
    registry = Registry(project.state.path)
    with locked(project, conn, None):
        data = registry.read()
        if branch == data["live"]:
            raise BranchError(f"{branch} is the live branch", "switch to another branch first")
        entry = data["branches"].pop(branch, None)
        if entry is None:
            return f"{branch} has no database"
        registry.write(data)
    return f"forgot {branch} (its database {entry.get('database')} is left as it is)"


def status(state_path: Path, project_dir: Path) -> dict[str, Any]:
    """What doctor shows: the live branch against git's, an interrupted switch, the parked branches."""
    registry = Registry(state_path)
    data = registry.read()
    return {"live": data["live"], "git_branch": current_branch(project_dir), "in_progress": in_progress(project_dir),
            "journal": registry.journal(), "journal_path": str(registry.journal_path),
            "parked": sorted(b for b, e in data["branches"].items() if e.get("database"))}


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
