"""What ``provision init`` sees in an app: its tools, its dependency files, its Makefile, its URL.

Read-only: nothing here writes. Each finding keeps its evidence (the file that gave it
away) so init can say why it chose what it wrote.
"""
from __future__ import annotations

import re
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InitError
from ..url import parse as parse_url
from . import tomlfile

# make reads the first of these that exists
MAKEFILE_NAMES = ("GNUmakefile", "makefile", "Makefile")
DEV_REQUIREMENTS = ("requirements-dev.txt", "dev-requirements.txt", "requirements_dev.txt",
                    "requirements/dev.txt", "requirements/development.txt")
ENV_EXAMPLES = (".env.example", ".env.sample", ".env.template", "env.example")
# make dev-db installs provision into .venv (the app's own when it uses that name), not into another
# directory the app may use for its env (the OK server's README makes `env/`). An app whose pins exclude
# provision's (Flask 1.1 needs click < 8, typer click >= 8.2) gets it apart, in APART_VENV_DIR.
VENV_DIR = ".venv"
APART_VENV_DIR = ".venv-provision"  # when the app's pins exclude provision's dependencies
DEV_EXTRAS = ("dev", "develop", "development")

_URL = re.compile(r"\bmysql(?:\+[a-z]+)?://[^\s'\"`<>()\]]+")
_SCAN_SUFFIXES = {".py", ".md", ".txt", ".rst", ".cfg", ".ini", ".toml", ".yml", ".yaml", ".example", ".sample",
                  ".template", ".json", ".sh"}
_SKIP_DIRS = {".git", "node_modules", "__pycache__", ".devdb", ".tox", ".nox", "site-packages", "dist", "build"}
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class AppURL:
    """The app's own idea of its local database, from a mysql:// URL in its files."""

    database: str
    user: str
    driver: str           # provision's driver setting: mysql or pymysql
    evidence: str


@dataclass
class Layout:
    project_dir: Path
    makefile: str | None                 # relative name of the Makefile make would read
    pyproject: dict[str, Any] | None     # parsed pyproject.toml, None when there is none
    runner: str                          # uv, poetry, pipenv, venv or path
    runner_evidence: str
    deps_form: str | None                # requirements, dependency-groups, optional-dependencies, poetry, pipfile
    deps_file: str | None                # relative path the requirement goes into
    deps_key: str | None                 # the extra/group name (dev), or None
    venv_dir: str
    env_example: str
    app_url: AppURL | None
    in_git: bool
    env_tracked: bool

    def exists(self, relative: str) -> bool:
        return (self.project_dir / relative).is_file()


def inspect(project_dir: Path) -> Layout:
    project_dir = Path(project_dir).resolve()
    if not project_dir.is_dir():
        raise InitError(f"{project_dir} is not a directory", "run provision init in the app's checkout")
    pyproject = _read_pyproject(project_dir)
    tool = (pyproject or {}).get("tool", {})
    exists = lambda name: (project_dir / name).is_file()  # noqa: E731

    if exists("uv.lock") or "uv" in tool:
        runner, evidence = "uv", "uv.lock" if exists("uv.lock") else "[tool.uv] in pyproject.toml"
    elif exists("poetry.lock") or "poetry" in tool:
        runner, evidence = "poetry", "poetry.lock" if exists("poetry.lock") else "[tool.poetry] in pyproject.toml"
    elif exists("Pipfile"):
        runner, evidence = "pipenv", "Pipfile"
    elif (pyproject and "project" in pyproject) or exists("requirements.txt") or exists("setup.py") \
            or any(exists(name) for name in DEV_REQUIREMENTS):
        runner, evidence = "venv", _python_evidence(project_dir)
    else:
        runner, evidence = "path", "no Python dependency file (requirements.txt, pyproject.toml, Pipfile)"

    form, deps_file, key = _deps_form(project_dir, pyproject, runner)
    in_git = _git(project_dir, "rev-parse", "--is-inside-work-tree") == "true"
    return Layout(
        project_dir=project_dir,
        makefile=next((name for name in MAKEFILE_NAMES if exists(name)), None),
        pyproject=pyproject,
        runner=runner,
        runner_evidence=evidence,
        deps_form=form,
        deps_file=deps_file,
        deps_key=key,
        venv_dir=VENV_DIR,
        env_example=next((name for name in ENV_EXAMPLES if exists(name)), ".env.example"),
        app_url=find_app_url(project_dir),
        in_git=in_git,
        env_tracked=in_git and _git(project_dir, "ls-files", "--", ".env") == ".env",
    )


def _python_evidence(project_dir: Path) -> str:
    for name in ("requirements.txt", *DEV_REQUIREMENTS, "setup.py"):
        if (project_dir / name).is_file():
            return name
    return "[project] in pyproject.toml"


def _deps_form(project_dir: Path, pyproject: dict | None, runner: str) -> tuple[str | None, str | None, str | None]:
    """Where provision goes as a dev dependency: the form the app already uses."""
    project = (pyproject or {}).get("project", {})
    extras = project.get("optional-dependencies", {})
    groups = (pyproject or {}).get("dependency-groups")
    if runner == "path":
        return None, None, None
    if runner == "pipenv":
        return "pipfile", "Pipfile", "dev-packages"
    if runner == "poetry":
        poetry = pyproject.get("tool", {}).get("poetry", {}) if pyproject else {}
        if "dev-dependencies" in poetry and "group" not in poetry:
            return "poetry", "pyproject.toml", None  # poetry < 1.2's table
        return "poetry", "pyproject.toml", "dev"
    if groups is not None:
        return "dependency-groups", "pyproject.toml", next((g for g in DEV_EXTRAS if g in groups), "dev")
    extra = next((name for name in DEV_EXTRAS if name in extras), None)
    if extra:
        return "optional-dependencies", "pyproject.toml", extra
    if runner == "uv":
        return "dependency-groups", "pyproject.toml", "dev"
    dev_file = next((name for name in DEV_REQUIREMENTS if (project_dir / name).is_file()), None)
    if dev_file:
        return "requirements", dev_file, None
    if (project_dir / "requirements.txt").is_file():
        return "requirements", "requirements-dev.txt", None
    if project:
        return "optional-dependencies", "pyproject.toml", "dev"
    return "requirements", "requirements-dev.txt", None  # setup.py only


def _read_pyproject(project_dir: Path) -> dict | None:
    path = project_dir / "pyproject.toml"
    if not path.is_file():
        return None
    try:
        return tomlfile.loads(path.read_text(encoding="utf-8"), "pyproject.toml")
    except UnicodeDecodeError:
        raise InitError("pyproject.toml is not UTF-8 text; nothing was written",
                        "convert it to UTF-8, then run provision init again") from None


def find_app_url(project_dir: Path) -> AppURL | None:
    """The local mysql:// URL the app's files name most often (docs, settings, .env.example)."""
    found: Counter = Counter()
    where: dict[tuple, str] = {}
    for path in _text_files(project_dir):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for match in _URL.finditer(text):
            try:
                url = parse_url(match.group(0).rstrip(".,;"))
            except ConfigError:
                continue
            if url.host not in _LOCAL_HOSTS or not url.database or not url.user or url.user == "root":
                continue
            driver = "pymysql" if url.scheme.endswith("+pymysql") else "mysql"
            key = (url.database, url.user, driver)
            found[key] += 1
            where.setdefault(key, path.relative_to(project_dir).as_posix())
    if not found:
        return None
    (database, user, driver), _ = found.most_common(1)[0]
    return AppURL(database, user, driver, where[(database, user, driver)])


def _text_files(project_dir: Path, limit: int = 3000):
    seen = 0
    stack = [project_dir]
    while stack and seen < limit:
        directory = stack.pop()
        try:
            entries = sorted(directory.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.is_symlink():
                continue
            if entry.is_dir():
                if entry.name not in _SKIP_DIRS and not (entry / "pyvenv.cfg").exists():
                    stack.append(entry)
            elif (entry.suffix in _SCAN_SUFFIXES or entry.name.startswith(".env.")) and entry.name != ".env":
                seen += 1
                try:
                    if entry.stat().st_size <= 256 * 1024:
                        yield entry
                except OSError:
                    continue


def _git(project_dir: Path, *args: str) -> str:
    try:
        result = subprocess.run(["git", *args], cwd=project_dir, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""
