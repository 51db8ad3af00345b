"""Which framework the app uses, and the test databases its own test runner makes.

``detect(project_dir)`` reads a few files (never imports the app) and returns a
``Detection``: the framework's ``name``, the ``evidence`` (the files that told us) and
``test_databases``, the database names its test runner creates, as templates with
placeholders (``{database}`` = the app's database, ``{n}`` = a number, ``{token}`` = any
name part). ``names.template_grant_pattern`` turns a template into an escaped GRANT
pattern; nothing else escapes them.

The table ``FRAMEWORKS`` is the one place that knows each runner's conventions:

- Django: ``manage.py test`` makes ``test_<NAME>``; ``--parallel N`` clones it into
  ``test_<NAME>_1`` .. ``_N`` (mysqldump piped into mysql).
- Rails: ``<app>_test`` (``config/database.yml``); parallel tests add ``_N``
  (Rails 6.1+) or ``-N`` (Rails 6.0).
- Laravel: ``testing`` (phpunit.xml's ``DB_DATABASE``); ``artisan test --parallel``
  makes ``<database>_test_<token>``, the token being the worker's number.
- SQLAlchemy/Alembic test plugins (``sqlalchemy.testing``, ``alembic.testing``): the
  schemas ``test_schema`` and ``test_schema_2`` next to the test database.
- Flask-Migrate and plain Alembic: known for their migration commands; their tests make
  no databases of their own (provision's pytest plugin makes ``<database>_t_*``, already
  covered by the ``<database>_*`` grant).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from .errors import ConfigError
from .names import template_grant_pattern

_READ_LIMIT = 200_000  # bytes read from a file we only scan for a marker
# what a finder returns: the evidence, and the project's own name templates (None: the table's)
Found = tuple[tuple[str, ...], Optional[tuple[str, ...]]]


@dataclass(frozen=True)
class Framework:
    """One row of the table: a framework's conventions."""

    name: str
    title: str
    test_command: str  # what runs the app's tests with its own runner
    test_databases: tuple[str, ...]  # name templates its runner creates
    find: Callable[[Path], Optional[Found]] = field(repr=False, compare=False)


@dataclass(frozen=True)
class Detection:
    """What ``detect`` found, or what ``framework = <name>`` chose."""

    name: str
    title: str
    evidence: tuple[str, ...]
    test_databases: tuple[str, ...]
    test_command: str

    def grant_patterns(self, database: str) -> tuple[str, ...]:
        return tuple(template_grant_pattern(t, database) for t in self.test_databases)

    def describe(self) -> str:
        return f"{self.title} ({', '.join(self.evidence)})"

    def to_dict(self) -> dict:
        return {"name": self.name, "title": self.title, "evidence": list(self.evidence),
                "test_databases": list(self.test_databases), "test_command": self.test_command}


def _read(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            return handle.read(_READ_LIMIT).decode("utf-8", "replace")
    except OSError:
        return ""


# --- finders: each returns the evidence (files) or None ------------------------------------------
_DJANGO_SETTINGS = re.compile(r"""DJANGO_SETTINGS_MODULE["']\s*,\s*["']([\w.]+)["']""")


def _find_django(project: Path) -> Found | None:
    text = _read(project / "manage.py")
    if "django" not in text.lower():
        return None  # the seed's manage.py is Flask-Script's: not Django
    evidence = ["manage.py"]
    match = _DJANGO_SETTINGS.search(text)
    if match:
        settings = Path(*match.group(1).split("."))
        for candidate in (settings.with_suffix(".py"), settings / "__init__.py"):
            if (project / candidate).is_file():
                evidence.append(candidate.as_posix())
                break
    return tuple(evidence), None


_YAML_TEST_DATABASE = re.compile(r"^test:[^\n]*\n(?:[ \t]+[^\n]*\n|[ \t]*\n)*?[ \t]+database:[ \t]*"
                                 r"[\"']?([A-Za-z0-9_-]+)[\"']?[ \t]*$", re.MULTILINE)


def _find_rails(project: Path) -> Found | None:
    database_yml = project / "config" / "database.yml"
    if not database_yml.is_file():
        return None
    evidence = ["config/database.yml"]
    evidence += [name for name in ("bin/rails", "Gemfile") if (project / name).is_file()]
    # a literal `database:` under `test:` names the test database; ERB (<%= ... %>) keeps the default
    match = _YAML_TEST_DATABASE.search(_read(database_yml))
    templates = (match.group(1), match.group(1) + "_{n}", match.group(1) + "-{n}") if match else None
    return tuple(evidence), templates


_PHPUNIT_DATABASE = re.compile(r"""<(?:env|server)\s+name=["']DB_DATABASE["']\s+value=["']([A-Za-z0-9_-]+)["']""")


def _find_laravel(project: Path) -> Found | None:
    if not (project / "artisan").is_file():
        return None
    evidence = ["artisan"]
    if "laravel/framework" in _read(project / "composer.json"):
        evidence.append("composer.json")
    # phpunit.xml's DB_DATABASE is the test database; parallel runs add _test_<token> to it
    match = _PHPUNIT_DATABASE.search(_read(project / "phpunit.xml"))
    if match:
        evidence.append("phpunit.xml")
        return tuple(evidence), (match.group(1), match.group(1) + "_test_{n}")
    return tuple(evidence), None


_SQLA_PLUGIN = re.compile(r"(sqlalchemy|alembic)\.testing\.plugin|^\[sqla_testing\]", re.MULTILINE)


def _find_sqla_plugin(project: Path) -> Found | None:
    candidates = ["setup.cfg", "tox.ini", "pyproject.toml", "conftest.py", "test/conftest.py", "tests/conftest.py"]
    found = tuple(name for name in candidates if _SQLA_PLUGIN.search(_read(project / name)))
    return (found, None) if found else None


def _find_flask_migrate(project: Path) -> Found | None:
    ini = project / "migrations" / "alembic.ini"
    if ini.is_file() and "flask" in _read(project / "migrations" / "env.py").lower():
        return ("migrations/alembic.ini", "migrations/env.py"), None
    return None


def _find_alembic(project: Path) -> Found | None:
    return (("alembic.ini",), None) if (project / "alembic.ini").is_file() else None


# First match wins: a Django or Rails app may also carry an alembic.ini.
FRAMEWORKS: dict[str, Framework] = {f.name: f for f in (
    Framework("django", "Django", "./manage.py test   (also --parallel N, --keepdb)",
              ("test_{database}", "test_{database}_{n}"), _find_django),
    Framework("rails", "Rails", "bin/rails test   (PARALLEL_WORKERS=N for parallel)",
              ("{database}_test", "{database}_test_{n}", "{database}_test-{n}"), _find_rails),
    Framework("laravel", "Laravel", "php artisan test   (also --parallel)",
              ("testing", "testing_test_{n}", "{database}_test_{n}"), _find_laravel),
    Framework("sqlalchemy", "SQLAlchemy/Alembic test plugin", "pytest --dburi \"$DATABASE_URL\"",
              ("test_schema", "test_schema_2"), _find_sqla_plugin),
    Framework("flask-migrate", "Flask-Migrate", "pytest", (), _find_flask_migrate),
    Framework("alembic", "Alembic", "pytest", (), _find_alembic),
)}
FRAMEWORK_SETTINGS = ("auto", *FRAMEWORKS, "none")


def detect(project_dir: Path) -> Detection | None:
    """The app's framework, from its files; None when none is recognised."""
    project = Path(project_dir)
    for framework in FRAMEWORKS.values():
        found = framework.find(project)
        if found:
            evidence, templates = found
            return _detection(framework, evidence, templates)
    return None


def resolve(choice: str, project_dir: Path) -> Detection | None:
    """The ``framework`` setting: ``auto`` detects, ``none`` is none, a name is taken as said."""
    if choice == "auto":
        return detect(project_dir)
    if choice == "none":
        return None
    framework = FRAMEWORKS.get(choice)
    if framework is None:
        raise ConfigError.unknown_framework(choice, FRAMEWORK_SETTINGS)
    return _detection(framework, ("framework setting",))


def _detection(framework: Framework, evidence: tuple[str, ...], templates: tuple[str, ...] | None = None
               ) -> Detection:
    return Detection(name=framework.name, title=framework.title, evidence=evidence,
                     test_databases=templates or framework.test_databases, test_command=framework.test_command)


def name_templates(detection: Detection | None, extra: tuple[str, ...]) -> tuple[str, ...]:
    """The runner's templates, then the ``test_databases`` setting's (added; duplicates once)."""
    found = (detection.test_databases if detection else ()) + tuple(extra)
    return tuple(dict.fromkeys(found))
