"""An app's Alembic migrations, read without importing the app.

``find_migrations`` locates the scripts the way Alembic and Flask-Migrate do (alembic.ini's
``script_location``, else the ``migrations/`` folder ``flask db init`` makes); ``load_graph``
parses each script with ``ast`` and keeps its ``revision``, ``down_revision`` (a tuple for
merges), ``depends_on`` and the tables its ``upgrade()`` creates, drops or alters, so the
doctor can say which revision a database's tables look like. Nothing here runs app code.
"""
from __future__ import annotations

import ast
import configparser
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

FLASK_FOLDERS = ("migrations", "alembic")
_SKIP = {"__init__.py"}


@dataclass(frozen=True)
class Migrations:
    """Where an app's migrations live and how the app runs Alembic."""

    root: Path  # the script_location folder (env.py, versions/)
    version_dirs: tuple[Path, ...]
    source: str  # "alembic.ini" or "migrations/ (Flask-Migrate)"
    command: str  # what the developer types: "alembic", "flask db" or "./manage.py db"

    def cmd(self, *args: str) -> str:
        return " ".join([self.command, *(shlex.quote(a) for a in args)])

    def upgrade(self) -> str:
        # Flask-Migrate's upgrade defaults to head; Alembic's wants the target
        return self.cmd("upgrade", "heads") if self.command == "alembic" else self.cmd("upgrade")

    def autogenerate(self) -> str:
        if self.command == "alembic":
            return self.cmd("revision", "--autogenerate", "-m", "...")
        return self.cmd("migrate", "-m", "...")


@dataclass(frozen=True)
class Script:
    revision: str
    down_revisions: tuple[str, ...]
    depends_on: tuple[str, ...]
    path: Path
    message: str = ""
    creates: tuple[str, ...] = ()  # op.create_table('x')
    drops: tuple[str, ...] = ()  # op.drop_table('x')
    renames: tuple[tuple[str, str], ...] = ()  # op.rename_table('old', 'new')
    adds_columns: tuple[tuple[str, str], ...] = ()  # op.add_column('table', sa.Column('col'))
    drops_columns: tuple[tuple[str, str], ...] = ()  # op.drop_column('table', 'col')


@dataclass
class Graph:
    scripts: dict[str, Script] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def heads(self) -> list[str]:
        parents = {down for script in self.scripts.values() for down in script.down_revisions}
        return sorted(rev for rev in self.scripts if rev not in parents)

    @property
    def bases(self) -> list[str]:
        return sorted(rev for rev, script in self.scripts.items() if not script.down_revisions)

    def resolve(self, revision: str) -> str | None:
        """A full revision id for ``revision`` (Alembic accepts unique prefixes)."""
        if revision in self.scripts:
            return revision
        matches = [rev for rev in self.scripts if rev.startswith(revision)]
        return matches[0] if len(matches) == 1 else None

    def ancestors(self, revisions: list[str] | set[str] | tuple[str, ...]) -> set[str]:
        """The revisions and everything they need (down revisions and depends_on), inclusive."""
        seen: set[str] = set()
        todo = [rev for rev in revisions if rev in self.scripts]
        while todo:
            rev = todo.pop()
            if rev in seen:
                continue
            seen.add(rev)
            script = self.scripts[rev]
            todo.extend(r for r in (*script.down_revisions, *script.depends_on) if r in self.scripts)
        return seen

    def pending(self, current: list[str] | set[str]) -> list[str]:
        """Revisions an ``upgrade heads`` would apply, oldest first."""
        done = self.ancestors(list(current))
        return [rev for rev in self.order() if rev not in done]

    def order(self) -> list[str]:
        """All revisions, each after those it needs (a topological order, stable by id)."""
        result: list[str] = []
        placed: set[str] = set()
        visiting: set[str] = set()

        def visit(rev: str) -> None:
            if rev in placed or rev in visiting:
                return
            visiting.add(rev)
            script = self.scripts[rev]
            for parent in sorted((*script.down_revisions, *script.depends_on)):
                if parent in self.scripts:
                    visit(parent)
            visiting.discard(rev)
            placed.add(rev)
            result.append(rev)

        for rev in sorted(self.scripts):
            visit(rev)
        return result

    def expected_tables(self, revisions: list[str] | set[str]) -> set[str]:
        """The tables the migrations up to ``revisions`` (inclusive) leave, as far as the scripts say."""
        done = self.ancestors(list(revisions))
        tables: set[str] = set()
        for rev in self.order():
            if rev not in done:
                continue
            script = self.scripts[rev]
            tables.update(name.lower() for name in script.creates)
            for old, new in script.renames:
                tables.discard(old.lower())
                tables.add(new.lower())
            tables.difference_update(name.lower() for name in script.drops)
        return tables

    def expected_columns(self, revisions: list[str] | set[str]) -> set[tuple[str, str]]:
        """(table, column) pairs added with add_column (op. or in batch_alter_table) up to ``revisions``
        and not dropped since, whose table still exists."""
        return self._columns(revisions)[0]

    def _columns(self, revisions: list[str] | set[str]) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
        """(added and still there, dropped with drop_column and not added again) up to ``revisions``."""
        done = self.ancestors(list(revisions))
        present: set[tuple[str, str]] = set()
        gone: set[tuple[str, str]] = set()
        for rev in self.order():
            if rev not in done:
                continue
            script = self.scripts[rev]
            added = {(table.lower(), column.lower()) for table, column in script.adds_columns}
            dropped = {(table.lower(), column.lower()) for table, column in script.drops_columns}
            present, gone = (present | added) - dropped, (gone - added) | dropped
            for old, new in script.renames:
                present = {(new.lower() if table == old.lower() else table, column) for table, column in present}
        tables = self.expected_tables(revisions)
        return ({pair for pair in present if pair[0] in tables}, {pair for pair in gone if pair[0] in tables})

    def matching_revisions(self, tables: set[str], columns: set[tuple[str, str]]) -> list[str]:
        """Revisions on the way to the head(s) whose tables (and added columns) match the database's.

        ``"base"`` stands for "no migration applied". Only meaningful when the scripts create
        their tables with op.create_table (autogenerated ones do); the newest match comes last.
        """
        tables = {name.lower() for name in tables}
        columns = {(t.lower(), c.lower()) for t, c in columns}
        matches = ["base"] if not tables else []
        for rev in self.order():
            present, gone = self._columns([rev])
            if self.expected_tables([rev]) == tables and present <= columns and not gone & columns:
                matches.append(rev)
        return matches


def find_migrations(project_dir: Path) -> Migrations | None:
    """The app's migrations: alembic.ini's script_location, else a Flask-Migrate migrations/ folder."""
    project_dir = Path(project_dir)
    ini = project_dir / "alembic.ini"
    if ini.is_file():
        found = _from_ini(ini)
        if found:
            return found
    for name in FLASK_FOLDERS:
        folder = project_dir / name
        if (folder / "versions").is_dir():
            return Migrations(root=folder, version_dirs=(folder / "versions",),
                              source=f"{name}/ (Flask-Migrate)", command=_flask_command(project_dir))
    return None


def _flask_command(project_dir: Path) -> str:
    # the seed runs Flask-Migrate through Flask-Script's manage.py
    return "./manage.py db" if (project_dir / "manage.py").is_file() else "flask db"


def _from_ini(ini: Path) -> Migrations | None:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(ini, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError):
        return None
    if not parser.has_option("alembic", "script_location"):
        return None
    here = str(ini.parent)

    def path_of(text: str) -> Path:
        text = text.replace("%(here)s", here).strip()
        if ":" in text and not Path(text).is_absolute() and not (ini.parent / text).exists():
            return ini.parent / text.split(":", 1)[1].replace(".", "/")  # package:resource form
        path = Path(text).expanduser()
        return path if path.is_absolute() else ini.parent / path

    root = path_of(parser.get("alembic", "script_location"))
    locations = parser.get("alembic", "version_locations", fallback="").strip()
    if locations:
        separator = parser.get("alembic", "version_path_separator", fallback="space").strip()
        splitter = {"space": None, "os": None, "newline": "\n", ":": ":", ";": ";"}.get(separator)
        version_dirs = tuple(path_of(p) for p in (locations.split(splitter) if splitter else
                                                  re.split(r"[\s,]+", locations)) if p.strip())
    else:
        version_dirs = (root / "versions",)
    return Migrations(root=root, version_dirs=version_dirs, source="alembic.ini", command="alembic")


def load_graph(migrations: Migrations) -> Graph:
    graph = Graph()
    for directory in migrations.version_dirs:
        if not directory.is_dir():
            graph.problems.append(f"the versions folder {directory} does not exist")
            continue
        for path in sorted(directory.glob("*.py")):
            if path.name in _SKIP:
                continue
            try:
                script = parse_script(path)
            except ValueError as exc:
                graph.problems.append(str(exc))
                continue
            if script is None:
                continue
            if script.revision in graph.scripts:
                other = graph.scripts[script.revision].path.name
                graph.problems.append(f"revision {script.revision} is defined twice: {other} and {path.name}")
                continue
            graph.scripts[script.revision] = script
    for script in graph.scripts.values():
        for down in script.down_revisions:
            if down not in graph.scripts:
                graph.problems.append(f"{script.path.name} (revision {script.revision}) follows {down}, "
                                      "which no script in this branch defines")
    return graph


def parse_script(path: Path) -> Script | None:
    """One migration script's identity and table operations; None for a file that is no migration."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (SyntaxError, UnicodeDecodeError, OSError) as exc:
        raise ValueError(f"cannot read migration {path.name}: {exc}") from None
    values: dict[str, object] = {}
    upgrade: ast.FunctionDef | None = None
    for node in tree.body:
        targets: list[ast.expr] = []
        value = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value  # revision: str = "..."
        elif isinstance(node, ast.FunctionDef) and node.name == "upgrade":
            upgrade = node
        for target in targets:
            if isinstance(target, ast.Name) and target.id in ("revision", "down_revision", "depends_on"):
                try:
                    values[target.id] = ast.literal_eval(value)
                except ValueError:
                    raise ValueError(f"{path.name}: {target.id} is not a literal") from None
    revision = values.get("revision")
    if not isinstance(revision, str):
        return None
    creates, drops, renames, adds, drops_columns = _operations(upgrade) if upgrade else ((), (), (), (), ())
    docstring = ast.get_docstring(tree) or ""
    return Script(
        revision=revision,
        down_revisions=_as_tuple(values.get("down_revision"), path, "down_revision"),
        depends_on=_as_tuple(values.get("depends_on"), path, "depends_on"),
        path=path,
        message=docstring.splitlines()[0] if docstring else "",
        creates=creates, drops=drops, renames=renames, adds_columns=adds, drops_columns=drops_columns,
    )


def _as_tuple(value: object, path: Path, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (tuple, list)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError(f"{path.name}: {name} = {value!r} is neither a revision id nor a tuple of them")


def _operations(function: ast.FunctionDef):
    creates, drops, renames, adds, drops_columns = [], [], [], [], []
    # `with op.batch_alter_table('t') as batch_op:` (SQLite-friendly autogenerate): batch_op's
    # add_column/drop_column name no table, the with statement does
    batches: dict[str, str] = {}
    for node in ast.walk(function):
        if isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                call = item.context_expr
                if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                        and call.func.attr == "batch_alter_table" and isinstance(item.optional_vars, ast.Name)):
                    table = _string(call.args[0]) if call.args else _keyword(call, "table_name")
                    if table:
                        batches[item.optional_vars.id] = table
    calls = [node for node in ast.walk(function) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)]
    for node in sorted(calls, key=lambda call: (call.lineno, call.col_offset)):  # in the script's order
        name = node.func.attr
        args = [_string(arg) for arg in node.args]
        owner = node.func.value
        batch_table = batches.get(owner.id) if isinstance(owner, ast.Name) else None
        if batch_table is not None:
            if name == "add_column" and node.args and _column_name(node.args[0]):
                adds.append((batch_table, _column_name(node.args[0])))
            elif name == "drop_column" and args and args[0]:
                drops_columns.append((batch_table, args[0]))
            continue
        if name == "drop_column" and len(args) >= 2 and args[0] and args[1]:
            drops_columns.append((args[0], args[1]))
        elif name == "create_table" and args and args[0]:
            creates.append(args[0])
        elif name == "drop_table" and args and args[0]:
            drops.append(args[0])
        elif name == "rename_table" and len(args) >= 2 and args[0] and args[1]:
            renames.append((args[0], args[1]))
        elif name == "add_column" and len(node.args) >= 2 and args[0]:
            if _column_name(node.args[1]):
                adds.append((args[0], _column_name(node.args[1])))
    return tuple(creates), tuple(drops), tuple(renames), tuple(adds), tuple(drops_columns)


def _column_name(node: ast.expr) -> str | None:
    """'col' of sa.Column('col', ...)."""
    return _string(node.args[0]) if isinstance(node, ast.Call) and node.args else None


def _keyword(call: ast.Call, name: str) -> str | None:
    return next((_string(k.value) for k in call.keywords if k.arg == name), None)


def _string(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None
