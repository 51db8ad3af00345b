"""Template databases: migrate once, then give every test a copy.

A ``Template`` says how to build the schema (``alembic upgrade head``, a SQL file or a
Python callable) and which files it depends on. Its key is a hash of those files, the
server's version and this module's recipe; the template database ``<prefix>_tpl_<family>_<key>``
is kept across sessions and rebuilt (older keys of the same family dropped) when the key
changes. Builders serialise on a server-side ``GET_LOCK``, which the server releases if
the builder dies, and a build is complete only once the marker table exists.

MySQL has no ``CREATE DATABASE ... TEMPLATE``. The copy replays the template's own DDL
(``SHOW CREATE``: tables, then seed rows with ``INSERT ... SELECT``, views, triggers and
routines) in one multi-statement round trip; bench/README.md has the measurements that
chose it over ``CREATE TABLE ... LIKE`` and re-running the migrations. The captured plan is
proven once per process: it is replayed into a scratch database whose fingerprint
(columns, indexes, foreign keys, triggers, routines, row checksums) must equal the
template's.
"""
from __future__ import annotations

import configparser
import hashlib
import importlib
import inspect
import logging
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from ..errors import ConfigError, TemplateError
from ..names import quote
from ..sql import render, run

log = logging.getLogger(__name__)

RECIPE = "1"  # bump when the copy plan's shape changes: keys (and so templates) change too
MARKER = "_provision_template"  # made last: a template without it is a crashed build
_DEFINER = re.compile(r"\sDEFINER\s*=\s*(`[^`]*`|'[^']*'|\S+)@(`[^`]*`|'[^']*'|\S+)", re.IGNORECASE)


@dataclass(frozen=True)
class Template:
    """How to build the schema every test database starts from."""

    kind: str  # "alembic", "sql" or "callable"
    source: str  # the alembic.ini or SQL file, or module:function
    setup: Callable[[Any], None] = field(compare=False)  # called with the template EphemeralDatabase
    files: tuple[Path, ...] = ()

    @property
    def family(self) -> str:
        return hashlib.sha256(f"{self.kind}|{self.source}".encode()).hexdigest()[:6]

    def key(self, server_version: str) -> str:
        digest = hashlib.sha256(f"{RECIPE}|{self.kind}|{self.source}|{server_version}".encode())
        for path in sorted(set(self.files)):
            digest.update(str(path).encode() + b"\0")
            try:
                digest.update(path.read_bytes())
            except OSError:
                digest.update(b"<missing>")
        return digest.hexdigest()[:12]

    def database_name(self, prefix: str, server_version: str) -> str:
        return f"{prefix}_tpl_{self.family}_{self.key(server_version)}"


# --- what a template can be ----------------------------------------------------------------
def as_template(spec: Any, *, base_dir: Path | None = None) -> Template | None:
    """A Template from a Template, a callable, an alembic.ini (or its folder), a .sql file
    or ``module:function``; None for None or ''."""
    if spec is None or spec == "":
        return None
    if isinstance(spec, Template):
        return spec
    if callable(spec):
        return from_callable(spec)
    text = str(spec)
    path = Path(text).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if path.is_dir() and (path / "alembic.ini").is_file():
        return from_alembic(path / "alembic.ini")
    if path.is_file() and path.suffix == ".ini":
        return from_alembic(path)
    if path.is_file() and path.suffix == ".sql":
        return from_sql(path)
    if re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", text):
        module_name, _, attribute = text.partition(":")
        try:
            function = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"cannot load the template setup {text!r}: {exc}",
                              "pass module:function importable from the test run") from None
        return from_callable(function)
    raise ConfigError(
        f"unknown template {text!r}: not an alembic.ini, a folder with one, a .sql file or module:function",
        "for example --mysql-template=alembic.ini, --mysql-template=schema.sql or "
        "--mysql-template=tests.db:setup_schema",
    )


def from_sql(path: Path) -> Template:
    path = Path(path).resolve()

    def setup(db) -> None:
        execute_script(db.connect(multi_statements=True), path.read_text(encoding="utf-8"))

    return Template("sql", str(path), setup, (path,))


def from_callable(function: Callable[[Any], None], files: Iterable[Path] = ()) -> Template:
    source = f"{getattr(function, '__module__', '?')}:{getattr(function, '__qualname__', repr(function))}"
    found = list(files)
    try:
        found.append(Path(inspect.getsourcefile(function)).resolve())
    except (TypeError, OSError):
        pass
    return Template("callable", source, function, tuple(found))


def from_alembic(ini: Path) -> Template:
    ini = Path(ini).resolve()
    script_location = _script_location(ini)
    files = [ini]
    if script_location.is_dir():
        files += [p for p in script_location.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix in (".py", ".sql", ".mako")]

    def setup(db) -> None:
        upgrade_head(ini, sqlalchemy_url(db.url))

    return Template("alembic", str(ini), setup, tuple(files))


def _script_location(ini: Path) -> Path:
    parser = configparser.ConfigParser(defaults={"here": str(ini.parent)})
    try:
        parser.read(ini, encoding="utf-8")
        location = parser.get("alembic", "script_location")
    except (configparser.Error, OSError) as exc:
        raise ConfigError(f"cannot read script_location from {ini}: {exc}",
                          "pass the alembic.ini of the app (its [alembic] section names the scripts)") from None
    path = Path(location)
    return path if path.is_absolute() else ini.parent / path


def sqlalchemy_url(url) -> str:
    from dataclasses import replace

    from ..url import parsed

    return str(replace(parsed(url), scheme="mysql+pymysql"))


def upgrade_head(ini: Path, url: str) -> None:
    """``alembic upgrade head`` in a subprocess (env.py may configure logging or read
    DATABASE_URL): sqlalchemy.url is set to ``url`` and DATABASE_URL too."""
    code = ("import os, sys\n"
            "from alembic.config import Config\n"
            "from alembic import command\n"
            "cfg = Config(sys.argv[1])\n"
            "cfg.set_main_option('sqlalchemy.url', os.environ['DATABASE_URL'].replace('%', '%%'))\n"
            "command.upgrade(cfg, 'head')\n")
    env = {**os.environ, "DATABASE_URL": url}
    result = subprocess.run([sys.executable, "-c", code, str(ini)], cwd=ini.parent, env=env,
                            capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip().splitlines()[-20:]
        raise TemplateError(f"alembic upgrade head failed for {ini} (exit {result.returncode})",
                            "its output ends with:\n" + "\n".join("    " + line for line in output))


def execute_script(conn, text: str) -> None:
    """Run a SQL script (plain statements separated by ';') over a multi-statement connection."""
    try:
        with conn.cursor() as cursor:
            cursor.execute(text)
            while cursor.nextset():
                pass
    finally:
        conn.close()


# --- the copy plan ---------------------------------------------------------------------------
@dataclass
class CopyPlan:
    """The template's DDL and seed, ready to replay into any new database."""

    template: str
    charset: str
    collation: str
    tables: list[tuple[str, str]] = field(default_factory=list)  # (name, CREATE TABLE)
    seeds: list[tuple[str, list[str]]] = field(default_factory=list)  # (table, insertable columns)
    views: list[tuple[str, str]] = field(default_factory=list)
    programs: list[tuple[str, str]] = field(default_factory=list)  # (sql_mode, CREATE TRIGGER/PROCEDURE/...)
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (sql_mode, time_zone, CREATE EVENT)

    def statements(self, target: str, parts: tuple[str, ...] = ("tables", "seeds", "views", "programs")
                   ) -> list[str]:
        """Everything after CREATE DATABASE, in order, for ``USE target``."""
        out = ["SET SESSION FOREIGN_KEY_CHECKS = 0, SESSION UNIQUE_CHECKS = 0, "
               "SESSION SQL_MODE = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'",
               f"USE {quote(target)}"]
        if "tables" in parts:
            out += [ddl for _name, ddl in self.tables]
        if "seeds" in parts:
            for table, columns in self.seeds:
                cols = ", ".join(quote(c) for c in columns)
                out.append(f"INSERT INTO {quote(table)} ({cols}) "
                           f"SELECT {cols} FROM {quote(self.template)}.{quote(table)}")
        if "views" in parts:
            out += [ddl for _name, ddl in self.views]
        if "programs" in parts:
            for sql_mode, ddl in self.programs:
                out.append(f"SET SESSION SQL_MODE = '{_sql_string(sql_mode)}'")
                out.append(ddl)
            for sql_mode, time_zone, ddl in self.events:  # STARTS/ENDS are in the event's own time zone
                out.append(f"SET SESSION SQL_MODE = '{_sql_string(sql_mode)}', "
                           f"SESSION TIME_ZONE = '{_sql_string(time_zone)}'")
                out.append(ddl)
        out.append("SET SESSION FOREIGN_KEY_CHECKS = 1, SESSION UNIQUE_CHECKS = 1, SESSION SQL_MODE = DEFAULT, "
                   "SESSION TIME_ZONE = DEFAULT")
        return out

    def create_database(self, target: str) -> str:
        return render("ephemeral", "create_database_as", database=target, charset=self.charset,
                      collation=self.collation)


def _sql_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def _unqualify(ddl: str, database: str) -> str:
    """Drop ``DEFINER=`` (the copier becomes the definer), ``template.`` qualifiers and a trailing ';'
    (MySQL keeps the ';' of a one-statement routine or event body created in a multi-statement text)."""
    ddl = _DEFINER.sub("", ddl, count=1).rstrip()
    return (ddl[:-1] if ddl.endswith(";") else ddl).replace(quote(database) + ".", "")


def capture(conn, template: str) -> CopyPlan:
    """Read the template's DDL and which tables hold seed rows."""
    with conn.cursor() as cursor:
        charset, collation = run(cursor, "ephemeral", "database_charset", {"database": template})[0]
        plan = CopyPlan(template=template, charset=charset, collation=collation)
        columns: dict[str, list[str]] = {}
        for table, column in run(cursor, "ephemeral", "insertable_columns", {"database": template}):
            columns.setdefault(table, []).append(column)
        for table, kind in run(cursor, "ephemeral", "tables", {"database": template}):
            if table == MARKER:
                continue
            if kind == "VIEW":
                ddl = run(cursor, "ephemeral", "show_create_view", database=template, table=table)[0][1]
                plan.views.append((table, _unqualify(ddl, template)))
                continue
            ddl = run(cursor, "ephemeral", "show_create_table", database=template, table=table)[0][1]
            plan.tables.append((table, ddl))
            if run(cursor, "ephemeral", "has_rows", database=template, table=table)[0][0]:
                plan.seeds.append((table, columns[table]))
        for (trigger,) in run(cursor, "ephemeral", "triggers", {"database": template}):
            row = run(cursor, "ephemeral", "show_create_trigger", database=template, trigger=trigger)[0]
            plan.programs.append((row[1], _unqualify(row[2], template)))
        for routine, kind in run(cursor, "ephemeral", "routines", {"database": template}):
            name = "show_create_procedure" if kind == "PROCEDURE" else "show_create_function"
            row = run(cursor, "ephemeral", name, database=template, routine=routine)[0]
            plan.programs.append((row[1], _unqualify(row[2], template)))
        for (event,) in run(cursor, "ephemeral", "events", {"database": template}):
            row = run(cursor, "ephemeral", "show_create_event", database=template, event=event)[0]
            plan.events.append((row[1], row[2], _unqualify(row[3], template)))
    return plan


# --- copying ------------------------------------------------------------------------------------
def copy_script(plan: CopyPlan, target: str) -> str:
    """CREATE DATABASE + the whole plan as one multi-statement text."""
    return ";\n".join([plan.create_database(target), *plan.statements(target)])


def copy_replay(conn, plan: CopyPlan, target: str) -> None:
    """The chosen copy: the copy script in one round trip (on a multi-statement connection)."""
    script = copy_script(plan, target)
    with conn.cursor() as cursor:
        cursor.execute(script)
        while cursor.nextset():
            pass


def _create_views(cursor, pending: list[str]) -> list[str]:
    """Create views in an order that works (a view may select from another); return it."""
    order = []
    while pending:
        failed, last = [], None
        for ddl in pending:
            try:
                cursor.execute(ddl)
                order.append(ddl)
            except Exception as exc:  # a view whose base view does not exist yet
                failed.append(ddl)
                last = exc
        if len(failed) == len(pending):
            raise TemplateError(f"cannot recreate the template's views: {last}",
                                "check the views of the template database")
        pending = failed
    return order


# --- proving a copy ---------------------------------------------------------------------------------
def fingerprint(conn, database: str) -> dict[str, list]:
    """What must be equal between a template and its copy: the information_schema view of
    columns, indexes, keys, triggers and routines, each table's SHOW CREATE TABLE and checksum."""
    result: dict[str, list] = {}
    with conn.cursor() as cursor:
        for part in ("columns", "indexes", "foreign_keys", "tables", "triggers", "routines", "events"):
            rows = run(cursor, "ephemeral", f"fingerprint_{part}", {"database": database})
            result[part] = [tuple(_neutral(v, database) for v in row) for row in rows if row[0] != MARKER]
        checksums, ddl = [], []
        for table, kind in run(cursor, "ephemeral", "tables", {"database": database}):
            if kind != "VIEW" and table != MARKER:
                checksums.append((table, run(cursor, "ephemeral", "checksum_table", database=database,
                                             table=table)[0][1]))
                ddl.append(run(cursor, "ephemeral", "show_create_table", database=database, table=table)[0])
        result["rows"] = checksums
        result["ddl"] = ddl  # the exact definition, AUTO_INCREMENT included
    return result


def _neutral(value: Any, database: str) -> Any:
    return value.replace(quote(database) + ".", "") if isinstance(value, str) else value


def prove_copy(conn, plan: CopyPlan, scratch: str, copier: Callable = copy_replay) -> None:
    """Copy the template into ``scratch`` and compare fingerprints; raise on any difference."""
    copier(conn, plan, scratch)
    want, got = fingerprint(conn, plan.template), fingerprint(conn, scratch)
    for part in want:
        if want[part] != got[part]:
            missing = [row for row in want[part] if row not in got[part]][:3]
            extra = [row for row in got[part] if row not in want[part]][:3]
            raise TemplateError(
                f"a copy of template {plan.template} differs from it in its {part}: "
                f"missing {missing}, unexpected {extra}",
                "this template uses something the copy does not reproduce; please report it, "
                "and meanwhile run the setup per test (no --mysql-template)",
            )


def order_views(conn, plan: CopyPlan, scratch: str) -> None:
    """Replay once statement by statement to find a view order that works; keep it in the plan."""
    if len(plan.views) < 2:
        return
    with conn.cursor() as cursor:
        cursor.execute(plan.create_database(scratch))
        try:
            for statement in plan.statements(scratch, ("tables",)):
                cursor.execute(statement)
            cursor.execute("USE " + quote(scratch))
            order = _create_views(cursor, [ddl for _name, ddl in plan.views])
        finally:
            cursor.execute(render("ephemeral", "drop_database", database=scratch))
    by_ddl = {ddl: name for name, ddl in plan.views}
    plan.views = [(by_ddl[ddl], ddl) for ddl in order]
