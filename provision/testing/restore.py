"""Restoring a test database to its template's state: undo only what the test changed.

A copy of a 44-table template costs 15-230 ms (one CREATE TABLE after the other; on a dev
server on disk, each with its fsyncs). Most tests write to a few tables and change no
schema. So a used copy is not dropped: it is *checked*, and only what changed is undone.

- **Schema**: ``table_fingerprint`` hashes the database's tables, columns, indexes, foreign
  keys, checks, views and triggers, ``program_fingerprint`` its routines and events (from
  mysql.proc/mysql.event on MariaDB where readable), plus, where readable, InnoDB's table
  ids (TRUNCATE and table rebuilds make new ones). On a MariaDB server whose data directory
  this process sees, the database directory's mtime replaces the information_schema part
  (every MariaDB DDL writes or renames a file there; 5 ms -> 0.005 ms for 44 tables). Any
  difference from the state after the last copy or restore: the copy is dropped and made again.
- **Data**, on a server with performance_schema (our throwaway servers enable it, counting
  only): ``table_io_waits_summary_by_table.COUNT_WRITE`` of each table, against its value
  after the last restore. Everywhere else (a dev server or a given server without it, or a
  login that may not read it): ``CHECKSUM TABLE`` of every table plus its AUTO_INCREMENT.
  bench/bench_restore.py measures both (bench/README.md).
- **Undo**: each written table is emptied, refilled from the template's rows on the same
  server (``INSERT ... SELECT``) and its AUTO_INCREMENT set back, with foreign key checks
  off. Tables that a written table's ``ON DELETE/UPDATE CASCADE`` or ``SET NULL`` keys reach
  are restored too (InnoDB changes them inside the engine, so performance_schema does not
  count those writes). A written table's triggers are dropped during its refill and made
  again (a refill must not fire them).
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..names import escape_wildcards, quote
from ..probe import error_code
from ..sql import render, run

log = logging.getLogger(__name__)

ROOMY = 100000  # performance_schema table instances and handles on our throwaway servers
_AUTO_INCREMENT = re.compile(r"\)[^)]*\bAUTO_INCREMENT=(\d+)")


@dataclass(frozen=True)
class Snapshot:
    """What a database looked like: its schema hash and one signature per table."""

    schema: tuple
    data: dict[str, Any]
    lost: int = 0  # performance_schema's count of table instances/handles it could not track


@dataclass(frozen=True)
class Change:
    schema: bool  # DDL happened: drop and copy again
    written: frozenset[str] = frozenset()  # tables to empty and refill (cascades included)
    moved: frozenset[str] = frozenset()  # tables whose AUTO_INCREMENT may have moved

    @property
    def clean(self) -> bool:
        return not self.schema and not self.written


@dataclass
class Restorer:
    """How to check and restore the copies of one template on one server (one per session).

    ``method``: "pfs" (performance_schema write counters) or "checksum" (CHECKSUM TABLE and
    AUTO_INCREMENT). ``datadir``: the server's data directory when this process sees it
    (a MariaDB server on this machine: every DDL renames or writes a file in the database's
    directory, so its mtime replaces the costly information_schema part of the check).
    """

    template: str
    method: str
    tables: list[str]  # base tables, in the template's order
    seeds: dict[str, list[str]]  # seeded table -> insertable columns
    auto_increments: dict[str, int]  # table with an AUTO_INCREMENT column -> the template's next value
    cascades: dict[str, set[str]]  # table -> tables its keys' actions write to
    triggers: dict[str, list[tuple[str, str, str]]]  # table -> [(trigger, sql_mode, CREATE TRIGGER)]
    mogrify: Any = field(repr=False)
    table_ids: str | None = None  # the statement reading InnoDB table ids, when readable
    datadir: Path | None = None
    flavor: str = "mariadb"
    programs: str = "program_fingerprint"  # or program_fingerprint_mariadb (mysql.proc/event readable)
    check_lost: bool = True  # False where performance_schema has room for 100000 tables (ours)

    # --- what is read ------------------------------------------------------------------------
    def snapshot_statements(self, database: str) -> list[str]:
        """Statements (one result set each) whose results ``snapshot()`` reads."""
        values = {"database": database, "prefix": escape_wildcards(database) + "/%"}
        out = [] if self.datadir else [self._sql("table_fingerprint", values)]
        out.append(self._sql(self.programs, values))
        if self.table_ids and not self.datadir:
            out.append(self._sql(self.table_ids, values))
        if self.method == "pfs":
            out.append(self._sql("write_counts", values))
            if self.check_lost:
                out.append(self._sql(f"lost_{self.flavor}", values))
        else:
            out.append("CHECKSUM TABLE " + ", ".join(f"{quote(database)}.{quote(t)}" for t in self.tables))
            out.append(self._sql("auto_increments", values))
        return out

    def snapshot(self, database: str, results: list) -> Snapshot:
        results = list(results)
        schema: tuple = (self._directory_stamp(database),) if self.datadir else ()
        tail = 2 if self.method != "pfs" or self.check_lost else 1
        for _ in range(len(results) - tail):
            schema += tuple(sorted(tuple(row) for row in results.pop(0) or ()))
        if self.method == "pfs":
            data = {row[0]: tuple(row[1:]) for row in results.pop(0) or ()}
            return Snapshot(schema, data, int(results.pop(0)[0][0]) if self.check_lost else 0)
        else:
            sums = {name.rsplit(".", 1)[-1]: value for name, value in results.pop(0) or ()}
            increments = {name: value for name, value in results.pop(0) or ()}
            data = {t: (sums.get(t), increments.get(t)) for t in self.tables}
        return Snapshot(schema, data)

    def _directory_stamp(self, database: str) -> tuple:
        """The directory's mtime and its entries with their inode numbers: DDL creates, removes or
        renames a file over another (a new inode), and the entries see it even when it falls in the
        same tick of the kernel's coarse file clock as the copy before it (the mtime alone missed a
        DROP TRIGGER made a millisecond after the copy)."""
        try:
            with os.scandir(self.datadir / database) as entries:
                files = tuple(sorted((entry.name, entry.inode()) for entry in entries))
            return os.stat(self.datadir / database).st_mtime_ns, files
        except OSError:
            return (-1,)

    def change(self, before: Snapshot, after: Snapshot) -> Change:
        if before.schema != after.schema:
            return Change(schema=True)
        if self.method != "pfs":  # checksums see every change, cascaded ones too; (checksum, AUTO_INCREMENT)
            written = frozenset(t for t in self.tables if before.data.get(t) != after.data.get(t))
            moved = frozenset(t for t in written if (before.data.get(t) or (None, None))[1]
                              != (after.data.get(t) or (None, None))[1])
            return Change(schema=False, written=written, moved=moved)
        if after.lost != before.lost:  # some writes may have gone uncounted: restore everything
            log.warning("restore: performance_schema lost track of tables (raise "
                        "performance_schema_max_table_instances/_handles); restoring every table")
            return Change(schema=False, written=frozenset(self.tables), moved=frozenset(self.tables))
        none = (0, 0, 0)
        old = {t: before.data.get(t, none) for t in self.tables}
        new = {t: after.data.get(t, none) for t in self.tables}
        written = {t for t in self.tables if old[t] != new[t]}
        moved = frozenset(t for t in written if old[t][1] != new[t][1])
        cascading = {t for t in written if old[t][2] != new[t][2]}
        return Change(schema=False, written=frozenset(written | self._reach(cascading)), moved=moved)

    def _reach(self, tables: set[str]) -> set[str]:
        """Every table the cascading keys of ``tables`` reach."""
        found, todo = set(), list(tables)
        while todo:
            for child in self.cascades.get(todo.pop(), ()):
                if child not in found:
                    found.add(child)
                    todo.append(child)
        return found

    # --- what is done --------------------------------------------------------------------------
    def restore_statements(self, database: str, change: Change) -> list[str]:
        """Empty and refill the written tables from the template, AUTO_INCREMENT set back where
        it may have moved; a written table's triggers are off meanwhile (dropped, made again)."""
        ordered = [t for t in self.tables if t in change.written]
        out = ["SET SESSION FOREIGN_KEY_CHECKS = 0, SESSION UNIQUE_CHECKS = 0, "
               "SESSION SQL_MODE = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'",
               f"USE {quote(database)}"]
        remade = []
        for table in ordered:
            for trigger, sql_mode, ddl in self.triggers.get(table, ()):
                out.append(render("restore", "drop_trigger", database=database, trigger=trigger))
                remade.append((sql_mode, ddl))
        for table in ordered:
            out.append(render("restore", "delete_rows", database=database, table=table))
            if table in self.seeds:
                cols = ", ".join(quote(c) for c in self.seeds[table])
                out.append(f"INSERT INTO {quote(database)}.{quote(table)} ({cols}) "
                           f"SELECT {cols} FROM {quote(self.template)}.{quote(table)}")
            if table in self.auto_increments and table in change.moved:
                out.append(f"ALTER TABLE {quote(database)}.{quote(table)} "
                           f"AUTO_INCREMENT = {int(self.auto_increments[table])}")
        for sql_mode, ddl in remade:
            out.append(f"SET SESSION SQL_MODE = {self.mogrify('%s', (sql_mode,))}")
            out.append(ddl)
        out.append("SET SESSION FOREIGN_KEY_CHECKS = 1, SESSION UNIQUE_CHECKS = 1, SESSION SQL_MODE = DEFAULT")
        return out

    def _sql(self, name: str, values: dict[str, str]) -> str:
        return self.mogrify(render("restore", name), values)


def restorer(conn, plan, flavor: str, scratch: str) -> Restorer:
    """Read what restoring copies of ``plan``'s template needs; choose how changes are found.
    ``scratch``: a database name this may create and drop (to find the data directory)."""
    from .templates import _unqualify

    template = plan.template
    with conn.cursor() as cursor:
        method = "pfs" if _counts_writes(cursor) else "checksum"
        check_lost = method == "pfs" and not _roomy(cursor, flavor)
        if flavor == "mysql":  # MySQL 8+ caches information_schema.TABLES.AUTO_INCREMENT for a day
            cursor.execute("SET SESSION information_schema_stats_expiry = 0")
        table_ids = _readable_table_ids(cursor, flavor, template)
        datadir = _visible_datadir(cursor, scratch) if flavor == "mariadb" else None
        programs = "program_fingerprint"
        if flavor == "mariadb" and _readable(cursor, "program_fingerprint_mariadb", template):
            programs = "program_fingerprint_mariadb"
        increments: dict[str, int] = {}
        ai_columns = {row[0] for row in run(cursor, "restore", "auto_increments", {"database": template})
                      if row[1] is not None}
        for table, ddl in plan.tables:
            if table in ai_columns:
                match = _AUTO_INCREMENT.search(ddl)
                increments[table] = int(match.group(1)) if match else 1
        cascades: dict[str, set[str]] = {}
        for child, parent in run(cursor, "restore", "cascading_keys", {"database": template}):
            cascades.setdefault(parent, set()).add(child)
        triggers: dict[str, list[tuple[str, str, str]]] = {}
        for trigger, table in run(cursor, "restore", "triggers", {"database": template}):
            row = run(cursor, "ephemeral", "show_create_trigger", database=template, trigger=trigger)[0]
            triggers.setdefault(table, []).append((trigger, row[1], _unqualify(row[2], template)))
    found = Restorer(template=template, method=method, tables=[t for t, _ in plan.tables], seeds=dict(plan.seeds),
                     auto_increments=increments, cascades=cascades, triggers=triggers,
                     mogrify=conn.cursor().mogrify, table_ids=table_ids, datadir=datadir, flavor=flavor,
                     programs=programs, check_lost=check_lost)
    log.info("restore: %s finds writes by %s, DDL by %s", template,
             "performance_schema counters" if method == "pfs" else "CHECKSUM TABLE",
             f"the mtime of {datadir}/<database>" if datadir else "information_schema")
    return found


def _counts_writes(cursor) -> bool:
    """performance_schema is on, counts table I/O, and this login may read it."""
    try:
        cursor.execute("SELECT @@performance_schema")
        if not int(cursor.fetchone()[0] or 0):
            return False
        return bool(run(cursor, "restore", "write_instrumented")[0][0])
    except Exception as exc:  # no privilege on performance_schema: checksums instead
        if error_code(exc) is None:
            raise
        log.info("restore: performance_schema is not readable (%s); using checksums", exc)
        return False


def _readable_table_ids(cursor, flavor: str, template: str) -> str | None:
    name = "table_ids_mariadb" if flavor == "mariadb" else "table_ids_mysql"
    try:
        rows = run(cursor, "restore", name, {"prefix": escape_wildcards(template) + "/%"})
    except Exception as exc:  # needs PROCESS
        if error_code(exc) is None:
            raise
        log.debug("restore: InnoDB table ids are not readable (%s)", exc)
        return None
    return name if rows else None


def _roomy(cursor, flavor: str) -> bool:
    """performance_schema has room for 100000 tables and handles (our throwaway servers) and has
    lost none: then no write can go uncounted, and the lost counters need no reading per check."""
    cursor.execute("SELECT @@performance_schema_max_table_instances, @@performance_schema_max_table_handles")
    instances, handles = cursor.fetchone()
    return min(int(instances), int(handles)) >= ROOMY and not int(run(cursor, "restore", f"lost_{flavor}")[0][0])


def _readable(cursor, name: str, database: str) -> bool:
    try:
        run(cursor, "restore", name, {"database": database})
    except Exception as exc:  # no SELECT on mysql.*: information_schema instead
        if error_code(exc) is None:
            raise
        return False
    return True


def _visible_datadir(cursor, scratch: str) -> Path | None:
    """The server's data directory, if it is this machine's: a database made now under a fresh
    name must appear in it and go away with it (a container's /var/lib/mysql is not ours)."""
    cursor.execute("SELECT @@datadir")
    datadir = Path(cursor.fetchone()[0])
    cursor.execute(render("ephemeral", "create_database", database=scratch))
    try:
        seen = (datadir / scratch).is_dir()
    finally:
        cursor.execute(render("ephemeral", "drop_database", database=scratch))
    return datadir if seen and not (datadir / scratch).exists() else None


class Recycler:
    """The template copies of one process, handed to tests one after another.

    ``take()`` gives a copy in the template's state; ``give_back()`` sends the check of a
    used one without waiting, and the next ``take()`` reads it: a clean copy is handed out
    again at once, a written one is restored (or, after DDL, replaced by a new copy) by the
    server while the next test runs on another copy. So a test that changes nothing costs
    one check on the critical path. ``size`` copies are kept; ``inline`` waits for every
    step where it is sent (``--mysql-pool=0``).
    """

    def __init__(self, deferred, restorer: Restorer, plan, new_name, *, size: int = 2, inline: bool = False):
        self.deferred = deferred
        self.restorer = restorer
        self.plan = plan
        self.new_name = new_name
        self.size = max(size, 1)
        self.inline = inline
        self.owned: set[str] = set()  # every copy that exists (or may half exist)
        self.clean: list[str] = []  # checked or restored: ready for a test
        self.dirty: dict[str, Change] = {}
        self.baselines: dict[str, Snapshot] = {}
        self._parts: list[tuple[int, Any]] = []
        self.stats = {"checks": 0, "clean": 0, "restored": 0, "replaced": 0, "copied": 0}

    # --- the tests' side ------------------------------------------------------------------------
    def fill(self) -> None:
        missing = self.size - len(self.owned)
        if missing > 0:
            self._send([self._copy() for _ in range(missing)])

    def take(self) -> str:
        self.settle()
        if not self.clean:  # every copy is in use or dirty: do the work now
            self._send(self._work() or [self._copy()])
            self.settle()
        name = self.clean.pop(0)
        work = self._work()
        if work:
            self._send(work)
        return name

    def give_back(self, name: str) -> None:
        self.settle()
        self.stats["checks"] += 1
        self._send([(self.restorer.snapshot_statements(name), lambda results: self._checked(name, results))])

    def close(self) -> set[str]:
        """Read what is outstanding; return every copy (to be dropped)."""
        try:
            self.settle()
        except Exception as exc:  # the last step failed: the copies are dropped anyway
            log.warning("restore: %s", exc)
        return set(self.owned)

    # --- steps ------------------------------------------------------------------------------------
    def _copy(self):
        name = self.new_name()
        self.owned.add(name)
        self.stats["copied"] += 1
        statements = [self.plan.create_database(name), *self.plan.statements(name)]
        return statements + self.restorer.snapshot_statements(name), lambda results: self._ready(name, results)

    def _work(self) -> list:
        """Restore or replace the dirty copies."""
        parts = []
        for name, change in list(self.dirty.items()):
            del self.dirty[name]
            if change.schema:
                self.owned.discard(name)
                self.baselines.pop(name, None)
                self.stats["replaced"] += 1
                drop = render("ephemeral", "drop_database", database=name)
                statements, handler = self._copy()
                parts.append(([drop, *statements], handler))
            else:
                self.stats["restored"] += 1
                statements = (self.restorer.restore_statements(name, change)
                              + self.restorer.snapshot_statements(name))
                parts.append((statements, lambda results, name=name: self._ready(name, results)))
        return parts

    def _ready(self, name: str, results: list) -> None:
        count = len(self.restorer.snapshot_statements(name))
        self.baselines[name] = self.restorer.snapshot(name, results[-count:])
        self.clean.append(name)

    def _checked(self, name: str, results: list) -> None:
        change = self.restorer.change(self.baselines[name], self.restorer.snapshot(name, results))
        if change.clean:
            self.stats["clean"] += 1
            self.clean.insert(0, name)  # the warmest copy goes first
        else:
            log.debug("restore: %s %s", name, "changed its schema" if change.schema else
                      f"wrote {', '.join(sorted(change.written))}")
            self.dirty[name] = change

    # --- the connection ---------------------------------------------------------------------------
    def _send(self, parts: list) -> None:
        self.settle()
        statements = [s for part, _handler in parts for s in part]
        self.deferred.send(";\n".join(statements), f"restoring test databases of template {self.plan.template}")
        self._parts = [(len(part), handler) for part, handler in parts]
        if self.inline:
            self.settle()

    def settle(self) -> None:
        """Read the results of what was sent and act on them."""
        parts, self._parts = self._parts, []
        if not parts:
            return
        try:
            results = self.deferred.collect()
        except BaseException:
            # which copies the failed step left half done is unknown: none is handed out again
            self.clean.clear()  # all stay owned: dropped at the end
            self.dirty.clear()
            raise
        start = 0
        for count, handler in parts:
            handler(results[start:start + count])
            start += count
