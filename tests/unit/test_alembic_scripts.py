"""Reading an app's Alembic revision graph from its files, without importing the app."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from provision.doctor.alembic_scripts import find_migrations, load_graph, parse_script


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def migration(folder: Path, rev: str, down, body: str = "pass", annotated: bool = False, message: str = "") -> Path:
    down_text = repr(down)
    if annotated:  # the template of Alembic >= 1.11
        header = (f"revision: str = {rev!r}\ndown_revision: Union[str, Sequence[str], None] = {down_text}\n"
                  "branch_labels = None\ndepends_on = None\n")
    else:
        header = f"revision = {rev!r}\ndown_revision = {down_text}\n"
    text = (f'"""{message or rev}\n\nRevision ID: {rev}\n"""\nfrom alembic import op\nimport sqlalchemy as sa\n'
            f"from typing import Sequence, Union\n\n{header}\n\ndef upgrade():\n"
            + textwrap.indent(textwrap.dedent(body).strip(), "    ") + "\n\n\ndef downgrade():\n    pass\n")
    return write(folder / f"{rev}_{message or 'step'}.py".replace(" ", "_"), text)


class TestParseScript:
    """revision / down_revision are read as literals: strings, None, tuples for merges."""

    def test_plain_script_with_operations(self, tmp_path):
        path = migration(tmp_path, "1a2b", None, """
            op.create_table('client', sa.Column('id', sa.Integer(), nullable=False))
            op.add_column('client', sa.Column('created', sa.DateTime()))
            op.rename_table('old_name', 'new_name')
            op.drop_table('legacy')
        """, message="create client")
        script = parse_script(path)
        assert script.revision == "1a2b"
        assert script.down_revisions == ()
        assert script.message == "create client"
        assert script.creates == ("client",)
        assert script.adds_columns == (("client", "created"),)
        assert script.renames == (("old_name", "new_name"),)
        assert script.drops == ("legacy",)

    def test_annotated_merge_script(self, tmp_path):
        path = migration(tmp_path, "m3rg3", ("aaa", "bbb"), annotated=True)
        script = parse_script(path)
        assert script.revision == "m3rg3"
        assert script.down_revisions == ("aaa", "bbb")

    def test_a_module_without_revision_is_not_a_migration(self, tmp_path):
        assert parse_script(write(tmp_path / "helpers.py", "X = 1\n")) is None

    def test_syntax_error_is_reported_not_raised_as_such(self, tmp_path):
        with pytest.raises(ValueError, match="broken.py"):
            parse_script(write(tmp_path / "broken.py", "revision = 'x'\ndef upgrade(:\n"))

    def test_computed_down_revision_is_refused(self, tmp_path):
        with pytest.raises(ValueError, match="not a literal"):
            parse_script(write(tmp_path / "odd.py", "revision = 'x'\ndown_revision = 'a' + 'b'\n"))


class TestFindMigrations:
    """alembic.ini's script_location first, then Flask-Migrate's migrations/ folder."""

    def test_alembic_ini_script_location_with_here(self, tmp_path):
        write(tmp_path / "alembic.ini", "[alembic]\nscript_location = %(here)s/db/migrations\n")
        (tmp_path / "db/migrations/versions").mkdir(parents=True)
        found = find_migrations(tmp_path)
        assert found.root == tmp_path / "db/migrations"
        assert found.version_dirs == (tmp_path / "db/migrations/versions",)
        assert found.command == "alembic"
        assert found.cmd("stamp", "abc") == "alembic stamp abc"

    def test_relative_script_location_and_version_locations(self, tmp_path):
        write(tmp_path / "alembic.ini",
              "[alembic]\nscript_location = alembic\nversion_locations = alembic/versions other/versions\n")
        found = find_migrations(tmp_path)
        assert found.version_dirs == (tmp_path / "alembic/versions", tmp_path / "other/versions")

    def test_flask_migrate_folder_with_the_seeds_manage_py(self, tmp_path):
        (tmp_path / "migrations/versions").mkdir(parents=True)
        write(tmp_path / "migrations/alembic.ini", "[alembic]\n# Flask-Migrate sets script_location itself\n")
        write(tmp_path / "manage.py", "")
        found = find_migrations(tmp_path)
        assert found.root == tmp_path / "migrations"
        assert found.cmd("upgrade") == "./manage.py db upgrade"

    def test_flask_migrate_without_manage_py(self, tmp_path):
        (tmp_path / "migrations/versions").mkdir(parents=True)
        assert find_migrations(tmp_path).cmd("merge", "-m", "merge heads", "a", "b") == \
            "flask db merge -m 'merge heads' a b"

    def test_no_migrations(self, tmp_path):
        assert find_migrations(tmp_path) is None


class TestGraph:
    """Heads, pending revisions and 'which revision do these tables look like'."""

    @pytest.fixture
    def versions(self, tmp_path):
        (tmp_path / "migrations/versions").mkdir(parents=True)
        return tmp_path / "migrations/versions"

    def graph(self, tmp_path):
        return load_graph(find_migrations(tmp_path))

    def test_linear_chain(self, tmp_path, versions):
        migration(versions, "r1", None, "op.create_table('client')")
        migration(versions, "r2", "r1", "op.add_column('client', sa.Column('created', sa.DateTime()))")
        migration(versions, "r3", "r2", "op.create_table('assignment')")
        graph = self.graph(tmp_path)
        assert graph.problems == []
        assert graph.heads == ["r3"] and graph.bases == ["r1"]
        assert graph.order() == ["r1", "r2", "r3"]
        assert graph.pending(["r1"]) == ["r2", "r3"]
        assert graph.pending([]) == ["r1", "r2", "r3"]
        assert graph.pending(["r3"]) == []
        assert graph.resolve("r") is None and graph.resolve("r2") == "r2"
        assert graph.expected_tables(["r3"]) == {"client", "assignment"}
        # create_all() at the head: both tables and the added column
        assert graph.matching_revisions({"client", "assignment"}, {("client", "created")})[-1] == "r3"
        # client without 'created': revision r1
        assert graph.matching_revisions({"client"}, set()) == ["r1"]
        assert graph.matching_revisions(set(), set()) == ["base"]
        assert graph.matching_revisions({"something_else"}, set()) == []

    def test_batch_alter_table_columns_count_in_the_matching(self, tmp_path, versions):
        """Autogenerate with render_as_batch (SQLite-friendly) names the table in the with statement."""
        migration(versions, "r1", None, "op.create_table('client')")
        migration(versions, "r2", "r1", """
            with op.batch_alter_table('client', schema=None) as batch_op:
                batch_op.add_column(sa.Column('created', sa.DateTime(), nullable=True))
                batch_op.add_column(sa.Column('old', sa.Integer()))
        """)
        migration(versions, "r3", "r2", """
            with op.batch_alter_table(table_name='client') as b:
                b.drop_column('old')
        """)
        graph = self.graph(tmp_path)
        assert graph.scripts["r2"].adds_columns == (("client", "created"), ("client", "old"))
        assert graph.scripts["r3"].drops_columns == (("client", "old"),)
        assert graph.expected_columns(["r2"]) == {("client", "created"), ("client", "old")}
        assert graph.expected_columns(["r3"]) == {("client", "created")}
        # the newest match comes last: 'created' without 'old' is r3; with both, r2
        assert graph.matching_revisions({"client"}, {("client", "created")})[-1] == "r3"
        assert graph.matching_revisions({"client"}, {("client", "created"), ("client", "old")})[-1] == "r2"
        # no columns added yet: r1 only (before, the batch columns were not seen and r3 matched last)
        assert graph.matching_revisions({"client"}, set()) == ["r1"]

    def test_two_heads_and_their_merge(self, tmp_path, versions):
        migration(versions, "r1", None)
        migration(versions, "a2", "r1")
        migration(versions, "b2", "r1")
        assert self.graph(tmp_path).heads == ["a2", "b2"]
        migration(versions, "m3", ("a2", "b2"))
        graph = self.graph(tmp_path)
        assert graph.heads == ["m3"]
        assert graph.pending(["a2"]) == ["b2", "m3"]

    def test_missing_parent_and_duplicate_revision_are_problems(self, tmp_path, versions):
        migration(versions, "r2", "r1")
        write(versions / "zz_copy.py", "revision = 'r2'\ndown_revision = None\n")
        problems = self.graph(tmp_path).problems
        assert any("defined twice" in p for p in problems)
        assert any("follows r1" in p for p in problems)

    def test_the_graph_is_read_without_importing_the_app(self, tmp_path, versions):
        migration(versions, "r1", None, "import app_that_does_not_exist")
        write(versions / "zz_side_effect.py", "revision = 'r2'\ndown_revision = 'r1'\nraise SystemExit('imported!')\n")
        assert self.graph(tmp_path).heads == ["r2"]
