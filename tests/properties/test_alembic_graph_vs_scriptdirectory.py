"""The Alembic script reader against Alembic's own ``ScriptDirectory``, on generated graphs.

Random revision graphs (branches, merges, depends_on, several bases; plain and annotated
headers, tuples and lists) are written as real migration files. Our reader, which never
imports them, must agree with Alembic on every revision's parents, the heads, the bases,
each revision's ancestors and what ``upgrade heads`` applies from any current revision.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from alembic.script import ScriptDirectory
from hypothesis import given
from hypothesis import strategies as st

from provision.doctor.alembic_scripts import Migrations, load_graph

BODIES = [
    "op.create_table('t_{n}', sa.Column('id', sa.Integer(), primary_key=True))",
    "with op.batch_alter_table('t_{n}', schema=None) as batch_op:\n"
    "    batch_op.add_column(sa.Column('c_{n}', sa.Integer(), nullable=True))",
    "op.add_column('t_{n}', sa.Column('c_{n}', sa.String(20)))",
    "pass",
]


@st.composite
def graphs(draw) -> list[dict]:
    revisions: list[dict] = []
    for n in range(draw(st.integers(1, 9))):
        rev = draw(st.from_regex(r"[0-9a-f]{12}", fullmatch=True).filter(lambda r: r not in {x["rev"] for x in revisions}))
        heads = [r["rev"] for r in revisions if not any(r["rev"] in x["down"] for x in revisions)]
        kind = draw(st.sampled_from(["base", "child", "child", "child", "merge"])) if revisions else "base"
        if kind == "child":
            down = (draw(st.sampled_from([r["rev"] for r in revisions])),)  # a branch when it has a child already
        elif kind == "merge" and len(heads) >= 2:
            down = tuple(draw(st.lists(st.sampled_from(heads), min_size=2, max_size=3, unique=True)))
        else:
            down = ()
        depends = ()
        if revisions and draw(st.integers(0, 4)) == 0:
            depends = (draw(st.sampled_from([r["rev"] for r in revisions])),)
        revisions.append({"rev": rev, "down": down, "depends": depends, "n": n,
                          "annotated": draw(st.booleans()), "as_list": draw(st.booleans()),
                          "body": draw(st.sampled_from(BODIES))})
    return revisions


def literal(values: tuple[str, ...], as_list: bool) -> str:
    if not values:
        return "None"
    if len(values) == 1 and not as_list:
        return repr(values[0])
    return repr(list(values)) if as_list else repr(tuple(values))


def write(folder: Path, revision: dict) -> None:
    down, depends = literal(revision["down"], revision["as_list"]), literal(revision["depends"], False)
    if revision["annotated"]:
        header = (f"revision: str = {revision['rev']!r}\n"
                  f"down_revision: Union[str, Sequence[str], None] = {down}\n"
                  f"branch_labels: Union[str, Sequence[str], None] = None\n"
                  f"depends_on: Union[str, Sequence[str], None] = {depends}\n")
    else:
        header = f"revision = {revision['rev']!r}\ndown_revision = {down}\nbranch_labels = None\ndepends_on = {depends}\n"
    body = "\n".join("    " + line for line in revision["body"].format(n=revision["n"]).splitlines())
    (folder / f"{revision['rev']}_step_{revision['n']}.py").write_text(
        f'"""step {revision["n"]}\n\nRevision ID: {revision["rev"]}\n"""\nfrom typing import Sequence, Union\n\n'
        f"from alembic import op\nimport sqlalchemy as sa\n\n{header}\n\ndef upgrade():\n{body}\n\n\n"
        "def downgrade():\n    pass\n", encoding="utf-8")


def as_tuple(value) -> tuple[str, ...]:
    return () if value is None else (value,) if isinstance(value, str) else tuple(value)


@given(graphs(), st.data())
def test_the_reader_agrees_with_scriptdirectory(revisions, data):
    with tempfile.TemporaryDirectory() as tmp:
        versions = Path(tmp) / "versions"
        versions.mkdir()
        for revision in revisions:
            write(versions, revision)
        ours = load_graph(Migrations(root=Path(tmp), version_dirs=(versions,), source="test", command="alembic"))
        theirs = ScriptDirectory(tmp)
        assert ours.problems == []
        assert set(ours.scripts) == {script.revision for script in theirs.walk_revisions()}
        for rev, script in ours.scripts.items():
            alembic_script = theirs.get_revision(rev)
            assert script.down_revisions == as_tuple(alembic_script.down_revision)
            assert script.depends_on == as_tuple(alembic_script.dependencies)
        assert ours.heads == sorted(theirs.get_heads())
        assert ours.bases == sorted(theirs.get_bases())
        position = {rev: i for i, rev in enumerate(ours.order())}
        for rev in ours.scripts:
            ancestors = {script.revision for script in theirs.iterate_revisions(rev, "base")}
            assert ours.ancestors([rev]) == ancestors
            assert all(position[a] <= position[rev] for a in ancestors), "order() puts a revision before its needs"
        current = data.draw(st.lists(st.sampled_from(sorted(ours.scripts)), max_size=2, unique=True))
        current = [rev for rev in current if not any(rev in ours.ancestors([o]) - {o} for o in current)]
        applied = {script.revision for script in theirs.revision_map.iterate_revisions(
            "heads", tuple(current) or "base", implicit_base=True)} - {"base"}
        assert set(ours.pending(current)) == applied
