"""``envfile.write_key`` against python-dotenv, on random .env files.

The oracle is python-dotenv reading the file the way an app does (``dotenv_values(path)``).
For any file and any value, a write either changes only the bytes of the binding the app
reads (the last one for the key; a new line if there is none) and every key reads back as
before, with the key now set; or it raises a clean EnvFileError and leaves the file
byte-identical. Never another exception.

Example count: the ``provision`` hypothesis profile (tests/conftest.py); set
PROVISION_TEST_EXAMPLES=5000 for a long run.
"""
from __future__ import annotations

import io
import re
import tempfile
from pathlib import Path

from dotenv import dotenv_values
from dotenv.parser import parse_stream
from hypothesis import event, example, given
from hypothesis import strategies as st

from provision.envfile import write_key
from provision.errors import EnvFileError

KEY = "DATABASE_URL"
KEYS = st.sampled_from([KEY, KEY, "A", "SECRET_KEY", "export", "B_2"])
CHARS = st.sampled_from(list("abc0 #='\"\\$:/@?&%\t") + ["é", "\u00a0"])
TEXT = st.lists(CHARS, max_size=12).map("".join)
ENDS = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def assignment(draw) -> str:
    lead = draw(st.sampled_from(["", " ", "export ", "  export\t"]))
    key = draw(KEYS)
    if draw(st.booleans()) and "'" not in key:
        key = f"'{key}'" if draw(st.integers(0, 9)) == 0 else key
    equals = draw(st.sampled_from(["=", " = ", "= ", "=\t"]))
    body = draw(TEXT.filter(lambda t: "\\" not in t))
    value = draw(st.sampled_from([
        body.replace("'", "").replace('"', "").replace("#", "").strip(),  # unquoted
        "'" + body.replace("'", "") + "'",
        '"' + body.replace('"', "") + '"',
        '"' + body.replace('"', "") + "\\n\\\"x\"",  # escapes, a quoted newline
        '"line1\nline2"',
        "",
    ]))
    comment = draw(st.sampled_from(["", " # note", "  #", "\t# a=b"]))
    return f"{lead}{key}{equals}{value}{comment}"


LINE = st.one_of(
    assignment(),
    TEXT.map(lambda t: "#" + t),                  # comments
    st.sampled_from(["", "   ", "\t"]),           # blank lines
    KEYS,                                         # a key without '='
)
JUNK = st.one_of(TEXT, st.sampled_from(["0 0", 'A="unclosed', "=x", "'", "export", "\ufeffA=1"]))


@st.composite
def env_file(draw, lines=LINE) -> str:
    parts = draw(st.lists(lines, max_size=8))
    text = "".join(line + draw(ENDS) for line in parts)
    if text and draw(st.booleans()):  # no final newline
        text = text.rstrip("\r\n")
    return text


VALUES = st.one_of(
    st.just("mysql://ohdev:@127.0.0.1:3306/ohdevel?charset=utf8mb4"),
    TEXT,
    st.text(max_size=10),
)


def binding_span(text: str, key: str) -> tuple[int, int] | None:
    """Where the binding the app reads for ``key`` is, by python-dotenv's own parse."""
    offset, span = (1 if text.startswith("\ufeff") else 0), None
    for binding in parse_stream(io.StringIO(text)):
        if binding.key == key:
            span = (offset, offset + len(binding.original.string))
        offset += len(binding.original.string)
    return span


def check(text: str, value: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        env = Path(tmp) / ".env"
        env.write_bytes(text.encode())
        before = dotenv_values(env, interpolate=False)
        try:
            write_key(env, KEY, value, secret=False)
        except EnvFileError:
            assert env.read_bytes() == text.encode(), "a refused write changed the file"
            return "refused"
        after = env.read_bytes().decode()
        assert dotenv_values(env, interpolate=False) == {**before, KEY: value}
    span = binding_span(text, KEY)
    if span is None:
        assert after.startswith(text), "bytes before the new line changed"
        assert re.fullmatch(rf"\n?{KEY}=.*\n", after[len(text):], re.DOTALL), "not one new binding"
    else:
        start, end = span
        tail = len(text) - end
        assert after[:start] == text[:start], "bytes before the binding changed"
        assert after[len(after) - tail:] == text[end:], "bytes after the binding changed"
    return "written"


@given(env_file(st.one_of(LINE, JUNK)), VALUES)
@example("0 0\r\nDATABASE_URL=0\n# 0", "mysql://ohdev:@127.0.0.1:3306/ohdevel?charset=utf8mb4")  # lost a '#'
@example("0 0\r\nDATABASE_URL=\nDATABASE_URL=", "x")  # ValueError: substring not found
@example("DATABASE_URL=\nX=1", "x")
@example("DATABASE_URL= # c\n", "#x")
def test_any_file_is_written_exactly_or_refused_untouched(text, value):
    event(check(text, value))  # --hypothesis-show-statistics: how many were written, how many refused


@given(env_file(), VALUES)
def test_a_well_formed_file_is_always_written(text, value):
    """Files made only of lines python-dotenv parses: a refusal would be a defect."""
    assert check(text, value) == "written"
