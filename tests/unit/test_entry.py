"""entry.up_overrides reads `provision up`'s options as the CLI's own parser (click, via typer) does."""
from __future__ import annotations

import pytest
import typer.main

from provision.cli import app
from provision.config import load_settings
from provision.entry import up_overrides

ACCEPTED = [
    ["up"],
    ["up", "--port", "14001"],
    ["up", "--port=14001", "--json"],
    ["up", "--state-dir", "elsewhere", "--yes", "--debug"],
    ["up", "-y", "--install", "--backend", "native", "--port", "3307"],
    ["up", "--backend=auto", "--state-dir=.devdb"],
    ["up", "--backend", "docker", "--image", "mysql:8.4", "--port", "14002", "--json"],
]
REFUSED = [
    [], ["down"], ["status"], ["up", "--database", "other"], ["up", "--image"],
    ["up", "--port"], ["up", "--recreate"], ["up", "--dry-run"], ["up", "extra"], ["--debug", "up"],
]


def parsed_by_the_cli(argv: list[str]) -> dict:
    group = typer.main.get_command(app)
    context = group.make_context("provision", list(argv))
    up = group.get_command(context, argv[0])
    return up.make_context(argv[0], list(argv[1:]), parent=context).params


@pytest.mark.parametrize("argv", ACCEPTED, ids=" ".join)
def test_the_settings_are_the_clis(argv, tmp_path):
    overrides = up_overrides(argv)
    params = parsed_by_the_cli(argv)
    given = {name: params[name] for name in ("port", "state_dir", "backend", "image") if params[name] is not None}
    assert set(overrides) == set(given)
    ours = load_settings({**overrides, "project_dir": tmp_path}, environ={})
    theirs = load_settings({**given, "project_dir": tmp_path}, environ={})
    assert (ours.port, ours.state_path, ours.backend, ours.image) == \
        (theirs.port, theirs.state_path, theirs.backend, theirs.image)


@pytest.mark.parametrize("argv", REFUSED, ids=lambda argv: " ".join(argv) or "nothing")
def test_anything_else_gets_no_head_start(argv):
    assert up_overrides(argv) is None
