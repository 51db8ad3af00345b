"""Test-database name templates -> GRANT patterns, against the server's own LIKE.

A GRANT pattern's wildcards are LIKE's (``_`` one character, ``%`` any run, ``\\`` escapes).
For random templates and database names, the server says: every name the runner could make
from the template matches the pattern, and a name that differs from the fixed parts does not;
``names.like_match`` (the reserved-schema check) agrees with the server on every candidate.

Example count: the ``provision`` hypothesis profile (tests/conftest.py).
"""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provision.errors import ConfigError
from provision.names import like_match, template_grant_pattern

pytestmark = [pytest.mark.mysql]

DATABASE = st.from_regex(r"[a-z_][a-z0-9_]{0,9}", fullmatch=True)
LITERAL = st.from_regex(r"[a-zA-Z0-9_-]{1,5}", fullmatch=True)
PLACEHOLDER = st.sampled_from(["{database}", "{n}", "{token}"])


@st.composite
def template(draw) -> str:
    first = draw(st.one_of(LITERAL, st.just("{database}")))
    rest = draw(st.lists(st.one_of(LITERAL, PLACEHOLDER), max_size=4))
    return first + "".join(rest)


@st.composite
def expansion(draw, text: str, database: str) -> str:
    """A name the runner could make: {n} a number, {token} any name part."""
    out = text.replace("{database}", database)
    while "{n}" in out or "{token}" in out:
        at = min(i for i in (out.find("{n}"), out.find("{token}")) if i >= 0)
        if out.startswith("{n}", at):
            out = out[:at] + str(draw(st.integers(0, 999))) + out[at + 3:]
        else:
            out = out[:at] + draw(st.from_regex(r"[a-z0-9_]{1,6}", fullmatch=True)) + out[at + 7:]
    return out


@st.composite
def case(draw):
    text, database = draw(template()), draw(DATABASE)
    made = draw(expansion(text, database))
    # a neighbour: one character of the name changed, dropped or added
    at = draw(st.integers(0, len(made) - 1))
    change = draw(st.sampled_from(["swap", "drop", "add"]))
    char = draw(st.sampled_from("xQ9_%-"))
    neighbour = {"swap": made[:at] + char + made[at + 1:], "drop": made[:at] + made[at + 1:],
                 "add": made[:at] + char + made[at:]}[change]
    return text, database, made, neighbour


@pytest.fixture(scope="module")
def like(native_server):
    conn = native_server.connect()

    def server_like(name: str, pattern: str) -> bool:
        with conn.cursor() as cursor:
            cursor.execute("SELECT %s LIKE %s", (name, pattern))
            return bool(cursor.fetchone()[0])

    yield server_like
    conn.close()


@given(case())
def test_the_runners_names_match_and_like_match_agrees_with_the_server(like, drawn):
    text, database, made, neighbour = drawn
    try:
        pattern = template_grant_pattern(text, database)
    except ConfigError as exc:  # too long, or could match a system schema: refused, never granted
        assert "64" in exc.message or "system schema" in exc.message
        return
    assert like(made, pattern), (text, database, made, pattern)
    for name in (made, neighbour):
        assert like_match(pattern, name) == like(name, pattern), (name, pattern)
