"""The small files init touches besides the Makefile and the dependency:
``[tool.provision]`` in pyproject.toml, the ``.env.example`` line, the ``.gitignore`` entries."""
from __future__ import annotations

import fnmatch

from ..envfile import with_key
from .changes import append_block, line_ending
from . import tomlfile

GITIGNORE_LINES = (".devdb/", ".env")


def with_tool_provision(text: str | None, values: dict[str, str]) -> str:
    """pyproject.toml with a [tool.provision] table; one that exists is left as it is.

    An app without pyproject.toml (the OK server has requirements.txt only) gets one that
    holds nothing but this table: it is where provision's config loader, and tools such as
    ruff and pytest, look for a project's settings, and pip ignores it for requirements files.
    """
    old = tomlfile.loads(text or "", "pyproject.toml")
    if "provision" in old.get("tool", {}):
        return text
    lines = ["[tool.provision]",
             "# `make dev-db` runs `provision up` with these; PROVISION_* variables and flags override them"]
    lines += [f"{key} = {tomlfile.value(value)}" for key, value in values.items()]
    block = "\n".join(lines) + "\n"
    if text is None:
        new_text = "# The app's tool settings (no package metadata: the app installs from requirements files)\n" \
                   + block
    else:
        new_text = append_block(text, block)
    expected = dict(old)
    expected["tool"] = {**old.get("tool", {}), "provision": dict(values)}
    tomlfile.check(new_text, expected, "pyproject.toml")
    return new_text


def with_env_example(text: str, key: str, url: str) -> str:
    """.env.example with ``KEY=url``; a line for KEY that exists is kept as it is."""
    from dotenv import dotenv_values
    import io

    if key in dotenv_values(stream=io.StringIO(text), interpolate=False):
        return text
    if not text:
        text = "# copy to .env, or run `make dev-db`, which writes it\n"
    return with_key(text, key, url)


def with_gitignore(text: str, extra: tuple[str, ...] = ()) -> str:
    """.gitignore with .devdb/ and .env ignored, and ``extra`` (the venv make dev-db creates); lines
    already there, or a pattern covering them, are kept."""
    entries = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    missing = [line for line in GITIGNORE_LINES + tuple(extra) if not _ignored(line, entries)]
    if not missing:
        return text
    eol = line_ending(text)
    if text and not text.endswith("\n"):
        text += eol
    block = "# provision: the dev database's state and the local .env it writes\n" + "\n".join(missing) + "\n"
    return text + block.replace("\n", eol)


def _ignored(line: str, entries: list[str]) -> bool:
    name = line.rstrip("/")
    covered = False
    for entry in entries:  # later lines win, as in git; "!" re-includes
        negated = entry.startswith("!")
        directory_only = entry.endswith("/")
        pattern = entry.lstrip("!").lstrip("/").rstrip("/")
        if directory_only and not line.endswith("/"):
            continue  # "foo/" ignores a directory, not the .env file
        if pattern == name or fnmatch.fnmatchcase(name, pattern):
            covered = not negated
    return covered
