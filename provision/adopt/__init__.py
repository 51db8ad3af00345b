"""``provision init``: an app adopts provision in one command.

``plan()`` looks at the app (``layout.inspect``) and computes, in memory, what is
missing: the Makefile targets, the dev dependency, ``[tool.provision]``, the
``.env.example`` line and the ``.gitignore`` entries. ``apply()`` writes them all or
none. Running it again on an adopted app plans no change.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from .. import frameworks
from ..config import DRIVERS, Settings
from ..errors import InitError
from ..names import validate_database, validate_user
from ..url import app_url
from . import conflicts, deps, layout as layouts, makefile, settings_files
from .changes import FileChange, read_text, write_all

LOCKS = {"uv": "uv lock", "poetry": "poetry lock", "pipenv": "pipenv lock"}
# provision's own defaults (the seed's ohdevel/ohdev/mysql), from the one place that sets them
DEFAULTS = {f.name: f.default for f in dataclasses.fields(Settings) if f.name in ("database", "user", "driver")}


@dataclass
class Plan:
    project_dir: Path
    changes: list[FileChange]
    findings: list[str] = field(default_factory=list)   # what init saw and chose, and why
    warnings: list[str] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)  # what the maintainer runs before committing

    @property
    def pending(self) -> list[FileChange]:
        return [change for change in self.changes if change.changed]

    def diff(self) -> str:
        return "".join(change.diff() for change in self.pending)


def plan(project_dir: Path, *, source: str | None = None, database: str | None = None, user: str | None = None,
         driver: str | None = None, env_key: str = "DATABASE_URL") -> Plan:
    """What init would write in ``project_dir``; nothing is written."""
    app = layouts.inspect(project_dir)
    result = Plan(app.project_dir, [])
    settings = _settings(app, database, user, driver, result.findings)
    detection = frameworks.detect(app.project_dir)
    if detection:
        settings["framework"] = detection.name
        result.findings.append(f"framework {detection.describe()}")
    else:
        result.findings.append("no framework recognised: provision keeps detecting it at each run (auto)")
    chosen = deps.parse_source(source, app.project_dir) if source else deps.installed_source()
    _apart_when_pins_exclude(app, result)
    _describe_source(app, chosen, result)
    changes = _edits(app, chosen, settings, env_key, result)
    if app.env_tracked:
        result.warnings.append(".env is tracked by git, and `make dev-db` writes DATABASE_URL into it; init leaves "
                               "it: untrack it with `git rm --cached .env` (the .gitignore line then keeps it out)")
    lock = LOCKS.get(app.runner)
    if lock and changes.get(app.deps_file or "") and changes[app.deps_file].changed:
        result.next_steps.append(f"{lock}   (the lock file must list provision, or every contributor's first "
                                 "make dev-db re-locks)")
    result.next_steps.append("git add -A && git commit -m 'make dev-db'; then `make dev-db` in any clone")
    result.changes = list(changes.values())
    result.warnings = [line for line in result.warnings if line]
    return result


def _apart_when_pins_exclude(app, result: Plan) -> None:
    """An app whose pins exclude provision's dependencies gets provision in a venv of its own."""
    files = [name for name in ("requirements.txt", app.deps_file) if name and name.endswith(".txt")
             and app.exists(name)]
    excluded = conflicts.excluded_pins(app.project_dir, files)
    if not excluded or app.runner != "venv":
        return
    app.venv_dir = layouts.APART_VENV_DIR
    result.warnings.append("; ".join(excluded) + f": provision and the app cannot share one environment, so make "
                           f"dev-db keeps provision in {app.venv_dir}; install {app.deps_file} only where the "
                           "app's pins allow")


def _describe_source(app, chosen: deps.Source, result: Plan) -> None:
    result.findings.append(f"runs provision through {_runner_name(app)} ({app.runner_evidence})")
    if not app.deps_form:
        return
    result.findings.append(f"provision as a dev dependency in {app.deps_file}"
                           + (f" [{app.deps_key}]" if app.deps_key else "")
                           + f": {chosen.requirement} ({chosen.evidence})")
    if chosen.is_local:
        result.warnings.append(f"{chosen.location} is a path on this machine: a contributor's clone can install "
                               "provision only where that path exists; pass --source git+https://... for one "
                               "everyone can reach")
    if app.deps_form == "optional-dependencies" and chosen.kind != "index":
        result.warnings.append(_hatch_note(app))


def _edits(app, chosen: deps.Source, settings: dict, env_key: str, result: Plan) -> dict[str, FileChange]:
    changes: dict[str, FileChange] = {}  # one entry per file: edits of the same file chain

    def add(relative: str, summary: str, edit) -> None:
        changes[relative] = _change(app.project_dir, relative, summary, edit, changes.get(relative))

    runner = makefile.runner_for(app.runner, venv_dir=app.venv_dir, deps_form=app.deps_form, deps_file=app.deps_file,
                                 deps_key=app.deps_key, install_hint=f"pipx install {chosen.requirement!r}")
    kept: list[str] = []

    def edit_makefile(text: str) -> str:
        included = makefile.included_texts(text, app.project_dir)
        new_text, _added, kept[:] = makefile.with_targets(text, runner, included)
        return new_text

    add(app.makefile or "Makefile", "make dev-db targets", edit_makefile)
    if kept:
        result.findings.append("kept the Makefile's own " + ", ".join(kept))
    if app.deps_form:
        note = f"make dev-db installs provision into {app.venv_dir}, apart from the app" \
            if app.venv_dir == layouts.APART_VENV_DIR else None
        add(app.deps_file, "provision as a dev dependency",
            lambda text: deps.add_requirement(app.deps_form, app.deps_key, text, chosen, note=note))
    add("pyproject.toml", "[tool.provision]", lambda text: settings_files.with_tool_provision(text or None, settings))
    url = str(app_url(driver_scheme=DRIVERS[settings["driver"]], user=settings["user"], password="",
                      host="127.0.0.1", port=3306, database=settings["database"]))
    add(app.env_example, f"{env_key} in {app.env_example}",
        lambda text: settings_files.with_env_example(text, env_key, url))
    venv = (f"{app.venv_dir}/",) if app.runner in ("venv", "uv") else ()  # both make a venv in the app
    add(".gitignore", "ignores " + ", ".join((".devdb/", ".env") + venv),
        lambda text: settings_files.with_gitignore(text, venv))
    return changes


def apply(plan: Plan) -> list[FileChange]:
    """Write the plan's changes, all or none; returns what was written."""
    pending = plan.pending
    write_all(pending)
    return pending


def _change(project_dir: Path, relative: str, summary: str, edit, earlier: FileChange | None) -> FileChange:
    if earlier is None:
        old, text = read_text(project_dir / relative, relative)
    else:
        old, text = earlier.old, earlier.new.decode("utf-8")
    new_text = edit(text)
    if earlier is not None and earlier.changed:
        summary = earlier.summary if new_text == text else f"{earlier.summary}; {summary}"
    return FileChange(project_dir / relative, relative, old, new_text.encode("utf-8"), summary)


def _settings(app, database, user, driver, findings: list[str]) -> dict:
    found = app.app_url
    values = dict(DEFAULTS)
    origin = "provision's defaults, the seed's"
    if found:
        values.update(database=found.database, user=found.user, driver=found.driver)
        origin = f"the URL in {found.evidence}"
    values.update({k: v for k, v in {"database": database, "user": user, "driver": driver}.items() if v})
    if driver and driver not in DRIVERS:
        raise InitError.unknown_driver(driver)
    validate_database(values["database"])
    validate_user(values["user"])
    findings.append(f"database {values['database']}, user {values['user']}, {DRIVERS[values['driver']]}:// "
                    f"(from {origin if not (database or user or driver) else 'the options and ' + origin})")
    return values


def _runner_name(app) -> str:
    return {"venv": f"{app.venv_dir}/bin/provision", "uv": "uv run", "poetry": "poetry run",
            "pipenv": "pipenv run", "path": "a provision on PATH (pipx)"}[app.runner]


def _hatch_note(app) -> str:
    backend = ((app.pyproject or {}).get("build-system", {}) or {}).get("build-backend", "")
    if "hatchling" in backend:
        return ("hatchling refuses direct references in extras unless [tool.hatch.metadata] "
                "allow-direct-references = true")
    return ""
