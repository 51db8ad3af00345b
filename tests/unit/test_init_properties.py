"""init's appends, against oracles we did not write: git's own ignore rules and GNU make's parser."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from hypothesis import given, settings, strategies as st

from provision.adopt import makefile, settings_files
from tests.conftest import require

IGNORE_LINES = [".env", "/.env", ".env*", "*.env", "!.env", ".devdb", ".devdb/", "/.devdb/", "!.devdb/",
                ".venv", ".venv/", "venv/", "*.pyc", "# .env", "", ".env/", "!*.env", "*"]
PATHS = {".env": ".env", ".devdb/": ".devdb/state.json", ".venv/": ".venv/bin/python"}


def ignored(directory: Path, path: str) -> bool:
    result = subprocess.run(["git", "-c", "core.excludesFile=/dev/null", "check-ignore", "-q", "--no-index", path],
                            cwd=directory, capture_output=True)
    return result.returncode == 0


@settings(max_examples=40)
@given(lines=st.lists(st.sampled_from(IGNORE_LINES), max_size=6), crlf=st.booleans(), final_newline=st.booleans())
def test_gitignore_ends_up_ignoring_exactly_what_was_missing(tmp_path_factory, lines, crlf, final_newline):
    directory = tmp_path_factory.mktemp("repo")
    subprocess.run(["git", "init", "-q"], cwd=directory, check=True)
    eol = "\r\n" if crlf else "\n"
    text = eol.join(lines) + (eol if final_newline and lines else "")
    (directory / ".gitignore").write_text(text, newline="")
    before = {line: ignored(directory, path) for line, path in PATHS.items()}

    new_text = settings_files.with_gitignore(text, (".venv/",))
    (directory / ".gitignore").write_text(new_text, newline="")

    assert new_text.startswith(text)  # appended, never rewritten
    for line, path in PATHS.items():
        assert ignored(directory, path), (text, new_text)
    added = [line for line in new_text[len(text):].splitlines() if line and not line.startswith("#")]
    negations = any(entry.startswith("!") for entry in lines)
    for line in added:  # a line only for a path git did not already ignore (around "!" init errs to adding)
        assert not before[line] or negations, (text, added)
    if all(before.values()) and not negations:
        assert new_text == text


RULE_NAMES = ["test", "lint", "dev-db", "dev-db-down", "dev-db-status", "dev-db-reset", "build", "serve"]


@settings(max_examples=25)
@given(rules=st.lists(st.sampled_from(RULE_NAMES), unique=True, max_size=5), double_colon=st.booleans())
def test_makefile_keeps_the_apps_targets_and_adds_each_missing_one_once(tmp_path_factory, rules, double_colon):
    make = shutil.which("make")
    require(make is not None, "GNU make is not installed (apt-get install make)")
    directory = tmp_path_factory.mktemp("app")
    colon = "::" if double_colon else ":"
    text = "VAR ?= 1\n" + "".join(f"\n{name}{colon}\n\t@echo app-{name}\n" for name in rules)
    runner = makefile.runner_for("path", install_hint="pipx install provision")

    new_text, added, kept = makefile.with_targets(text, runner)
    (directory / "Makefile").write_text(new_text)

    assert new_text.startswith(text)
    assert sorted(kept) == sorted(r for r in rules if r in makefile.TARGETS)
    assert sorted(added) == sorted(set(makefile.TARGETS) - set(rules))
    for name in rules:  # make runs the app's own recipe, unchanged
        out = subprocess.run([make, "-s", "-n", name], cwd=directory, capture_output=True, text=True)
        assert out.returncode == 0 and out.stdout.strip() == f"echo app-{name}", out.stderr
    for name in added:
        out = subprocess.run([make, "-s", "-n", name], cwd=directory, capture_output=True, text=True)
        assert out.returncode == 0 and f"provision {makefile.TARGETS[name][0]}" in out.stdout, out.stderr
    assert makefile.with_targets(new_text, runner)[0] == new_text
