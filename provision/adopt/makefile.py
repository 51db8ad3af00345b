"""The app's ``make dev-db``: targets appended to its Makefile, never changing one it has.

The targets run provision from the app's own environment (its venv, uv, poetry or
pipenv), else a ``provision`` on PATH (pipx); when that is missing they stop with the
one command that installs it. ``ARGS=...`` passes options, and ``PROVISION_*``
variables reach provision because make exports its environment (and command-line
variables) to recipes.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from .changes import append_block

# what users of a `make dev-db` expect next to it: provision's own names for the commands
TARGETS = {
    "dev-db": ("up", "a local MySQL/MariaDB database and DATABASE_URL in .env"),
    "dev-db-down": ("down", "stop it (data kept)"),
    "dev-db-status": ("status", "is it up, does .env match"),
    "dev-db-reset": ("reset", "drop and recreate the database (asks first)"),
    # opt-in per clone (git hooks are not committed): each git branch then keeps its own database
    "dev-db-hooks": ("hooks install", "this clone's post-checkout hook: a database per git branch"),
}
MARKER = "# --- dev database (provision) ---"
_RULE = re.compile(r"^(?!\t)([^:=#\s][^:=#]*?)\s*::?(?!=)", re.M)
_INCLUDE = re.compile(r"^[ ]*(?:-include|sinclude|include)[ \t]+(.+)$", re.M)
_VARIABLE = re.compile(r"^\s*(?:override\s+|export\s+)*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\?|:|::|:::|\+|!)?=", re.M)


@dataclass(frozen=True)
class Runner:
    """How the targets reach provision in this app."""

    kind: str              # venv, uv, poetry, pipenv or path
    command: str           # the make expression that runs provision
    variables: str         # make variable lines the recipes use
    prerequisite: str      # the target the dev-db targets depend on ('' for none)
    rules: str             # the rule(s) that make the prerequisite
    on_failure: str = ""   # shell run after a failed `up`, before make stops (a hint)


def runner_for(kind: str, *, venv_dir: str = ".venv", deps_form: str | None = None, deps_file: str | None = None,
               deps_key: str | None = None, install_hint: str = "") -> Runner:
    if kind == "venv":
        if deps_form == "requirements":
            install, depends = f"-r {deps_file}", deps_file
        elif deps_form == "dependency-groups":  # pip 25.1+ reads [dependency-groups]
            install, depends = f"--group {deps_key}", "pyproject.toml"
        else:
            install, depends = shlex.quote(f".[{deps_key}]") if deps_key else "-e .", "pyproject.toml"
            install = f"-e {install}" if deps_key else install
        rules = (
            "$(DEV_DB): " + depends + "\n"
            "\t@[ -x $(DEV_DB_VENV)/bin/python ] || $(DEV_DB_PYTHON) -m venv $(DEV_DB_VENV) || { \\\n"
            "\t\techo \"error: '$(DEV_DB_PYTHON) -m venv $(DEV_DB_VENV)' failed (the venv module is missing?)\"; \\\n"
            "\t\techo \"hint: sudo apt-get install -y python3-venv   (or make dev-db DEV_DB_PYTHON=python3.12)\"; "
            "exit 1; }\n"
            + ("\t$(DEV_DB_VENV)/bin/python -m pip install -q --upgrade 'pip>=25.1'\n"
               if deps_form == "dependency-groups" else "")
            + f"\t$(DEV_DB_VENV)/bin/python -m pip install -q {install}\n"
            "\t@touch $@\n"
        )
        # the app's own packages installed into the same venv can replace provision's (an old Flask pins
        # click 7): pip check tells, and the hint says how to keep provision apart
        broken = ("$(DEV_DB_VENV)/bin/python -m pip check >/dev/null 2>&1 || echo \"hint: packages installed later "
                  "into $(DEV_DB_VENV) broke provision's dependencies (see $(DEV_DB_VENV)/bin/pip check): keep "
                  "provision apart with DEV_DB_VENV ?= .venv-provision in this Makefile\"")
        return Runner(kind, "$(DEV_DB)",
                      f"DEV_DB_VENV ?= {venv_dir}\nDEV_DB_PYTHON ?= python3\nDEV_DB := $(DEV_DB_VENV)/bin/provision\n",
                      "$(DEV_DB)", rules, broken)
    tools = {
        "uv": ("uv run" + (f" --extra {deps_key}" if deps_form == "optional-dependencies" else "") + " provision",
               "uv", "curl -LsSf https://astral.sh/uv/install.sh | sh   (or: pipx install uv)", None),
        "poetry": ("poetry run provision", "poetry", "pipx install poetry",
                   f"poetry install --with {deps_key}" if deps_key else "poetry install"),
        "pipenv": ("pipenv run provision", "pipenv", "pipx install pipenv", "pipenv install --dev"),
        "path": ("provision", "provision", install_hint, None),
    }
    command, tool, hint, install = tools[kind]
    check = (f"\t@command -v {tool} >/dev/null || {{ echo \"error: {tool} is not installed\"; \\\n"
             f"\t\techo \"hint: {_echo_safe(hint)}\"; exit 1; }}\n")
    if install:  # poetry and pipenv do not install on `run`: install the dev group once
        check += f"\t@{command} --help >/dev/null 2>&1 || {install}\n"
    return Runner(kind, "$(DEV_DB)", f"DEV_DB := {command}\n", "dev-db-tool", "dev-db-tool:\n" + check)


def _echo_safe(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$").replace("`", "\\`")


def existing_targets(text: str) -> set[str]:
    targets: set[str] = set()
    for match in _RULE.finditer(_joined(text)):
        targets.update(match.group(1).split())
    return targets


def existing_variables(text: str) -> set[str]:
    return {match.group(1) for match in _VARIABLE.finditer(_joined(text))}


def _joined(text: str) -> str:
    return re.sub(r"\\\r?\n", " ", text.replace("\r\n", "\n"))


def included_texts(text: str, directory: Path) -> list[str]:
    """The makefiles ``include``d by literal names or globs (a name with $(...) cannot be known unparsed)."""
    texts = []
    for match in _INCLUDE.finditer(_joined(text)):
        for pattern in match.group(1).split():
            if "$" in pattern:
                continue
            for path in sorted(directory.glob(pattern)) if any(c in pattern for c in "*?[") else \
                    [directory / pattern]:
                try:
                    texts.append(path.read_text(encoding="utf-8"))
                except (OSError, UnicodeDecodeError):
                    continue
    return texts


def with_targets(text: str, runner: Runner, included: list[str] = ()) -> tuple[str, list[str], list[str]]:
    """The Makefile with the missing dev-db targets; returns (text, added, kept as the app has them).
    ``included``: the texts of the makefiles it includes, whose targets count as the app's too."""
    targets = existing_targets(text).union(*(existing_targets(other) for other in included))
    variables = existing_variables(text).union(*(existing_variables(other) for other in included))
    missing = [name for name in TARGETS if name not in targets]
    kept = [name for name in TARGETS if name in targets]
    if not missing:
        return text, [], kept
    lines = [MARKER,
             "# make dev-db ARGS=\"--port 3307\" passes options, and PROVISION_* variables (PROVISION_PORT=3307);",
             "# YES=1 installs a missing MySQL/MariaDB server without asking"]
    ours = [line for line in runner.variables.splitlines() if _VARIABLE.match(line)]
    if not any(_VARIABLE.match(line).group(1) in variables for line in ours):
        lines += ours
    lines += ["", ".PHONY: " + " ".join(missing + ([runner.prerequisite] if runner.prerequisite == "dev-db-tool"
                                                  and "dev-db-tool" not in targets else []))]
    for name in missing:
        command, what = TARGETS[name]
        recipe = f"\t{runner.command} {command} $(ARGS)"
        if command == "up":  # as provision's own Makefile: YES=1 installs a missing server without asking
            recipe = f"\t{runner.command} up $(if $(filter 1 y yes true,$(YES)),--install --yes) $(ARGS)"
            if runner.on_failure:  # quiet (@): the long line would be echoed on every run
                recipe = "\t@" + recipe.lstrip("\t") + f" \\\n\t\t|| {{ status=$$?; {runner.on_failure}; exit $$status; }}"
        lines += ["", f"{name}: {runner.prerequisite}".rstrip() + f"  ## {what}", recipe]
    rule_target = runner.rules.split(":", 1)[0]
    if rule_target not in targets:
        lines += ["", runner.rules.rstrip("\n")]
    return append_block(text, "\n".join(lines) + "\n"), missing, kept
