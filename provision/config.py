"""Settings are data: one frozen dataclass, built at call time by ``load_settings``.

Precedence, highest first: explicit arguments (CLI flags, pytest options, API
keyword arguments), ``PROVISION_<NAME>`` environment variables, ``[tool.provision]``
in the app's pyproject.toml, defaults. The environment beats the committed file so
that one machine (CI, a developer with a busy port 3306) can override the project's
shared defaults without editing it.
"""
from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigError
from .frameworks import FRAMEWORK_SETTINGS
from .names import validate_collation, validate_database, validate_name_template, validate_user

BACKEND_NAMES = ("auto", "native", "existing", "docker", "brew")
DRIVERS = {"mysql": "mysql", "pymysql": "mysql+pymysql"}
BRANCH_MODES = ("copy", "empty", "off")


@dataclass(frozen=True)
class Settings:
    project_dir: Path = field(default_factory=Path.cwd)
    backend: str = "auto"
    host: str = "127.0.0.1"
    port: int = 3306
    # the port a project's server gets unless --port says otherwise; when something else holds
    # it, the project's own server moves to a port derived from its path (provision/project_port.py).
    # A setting so tests can stand a free port in for 3306.
    default_port: int = 3306
    # when the system's server holds the default port and this process has a socket login to it
    # (root, or the user's own unix_socket account): create the app's database and user there
    use_system_server: bool = True
    database: str = "ohdevel"
    user: str = "ohdev"
    # None: keep the password a previous --generate-password stored, else empty (the seed's)
    password: str | None = None
    generate_password: bool = False
    env_file: Path = Path(".env")
    env_key: str = "DATABASE_URL"
    driver: str = "mysql"
    server_url: str | None = None
    # a shared server: the database and user get a suffix of their own (``auto``: the CI job's id,
    # else the OS user and a host id); see namespaces.py. None: the plain names
    namespace: str | None = None
    # a lease on the server (leases.py): '7d', '1h', '30s'; the database and user are reaped after it
    # unless a later up or status renews it. None: no lease (or the one a previous up recorded)
    ttl: str | None = None
    state_dir: Path = Path(".devdb")
    collation: str | None = None
    fix_charset: bool = False
    # the app's test runner: auto (detect it), a name from frameworks.FRAMEWORKS, or none
    framework: str = "auto"
    # more test-database names to grant, added to the runner's (templates: {database}, {n}, {token});
    # to replace the runner's instead, set framework = "none" as well
    test_databases: tuple[str, ...] = ()
    # docker backend; None: the image the project's data volume was made with, else mysql:8.4
    image: str | None = None
    recreate: bool = False
    # a new project's volume starts as a copy of a data directory initialised once per image
    # (provision/backends/docker_cache.py); false: the image initialises every new volume
    docker_cache: bool = True
    # brew backend / installing
    formula: str | None = None
    install: bool = False
    yes: bool = False
    dry_run: bool = False
    # where the native backend looks for mysqld/mariadbd (os.pathsep list); None: PATH + usual places
    server_search_path: str | None = None
    # seconds to wait for a server to accept a real login
    timeout: float = 60.0
    # branch databases (provision hooks install): a new branch gets a copy of the live database
    # ("copy"), or starts empty ("empty"); "off": the hook does nothing
    branches: str = "copy"
    # the names set by an argument, PROVISION_* or [tool.provision] (not left at their default):
    # a recorded choice (the port a project's server runs on) wins over a default, not over these
    explicit: frozenset = frozenset()

    def port_or_recorded(self, recorded: int | None) -> int:
        """The port a project's server runs on: the one its setup recorded wins over a default,
        not over a port that was asked for (the recorded-port rule, for every backend)."""
        if recorded and "port" not in self.explicit:
            return int(recorded)
        return self.port

    def resolve(self, path: Path) -> Path:
        """A path setting, relative to the project directory."""
        path = Path(path).expanduser()
        return path if path.is_absolute() else self.project_dir / path

    @property
    def state_path(self) -> Path:
        return self.resolve(self.state_dir)

    @property
    def env_path(self) -> Path:
        return self.resolve(self.env_file)


_TTL = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)?\s*")
_UNITS = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_ttl(text: str | float | int) -> int:
    """'90', '4s', '10m', '1h', '7d', '2w' -> whole seconds (at least 1)."""
    match = _TTL.fullmatch(str(text))
    if not match:
        raise ConfigError(f"invalid TTL {text!r}", "write it as seconds or with a unit: 30s, 10m, 1h, 7d, 2w")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds < 1:
        raise ConfigError(f"TTL {text!r} is shorter than a second", "use at least 1s")
    return int(round(seconds))


_FIELDS = {f.name: f for f in dataclasses.fields(Settings) if f.name != "explicit"}


def _coerce(name: str, value: Any) -> Any:
    """Turn a string from the environment or a TOML value into the field's type."""
    kind = _FIELDS[name].type
    if value is None:
        return None
    if "tuple" in kind:
        # a TOML list, or a comma/space separated string from a flag or PROVISION_TEST_DATABASES
        items = value if isinstance(value, (list, tuple)) else str(value).replace(",", " ").split()
        return tuple(str(item).strip() for item in items if str(item).strip())
    if "bool" in kind:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{name} must be true or false, not {value!r}", _source_hint(name))
    if "int" in kind:
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be a whole number, not {value!r}", _source_hint(name)) from None
        return number
    if "float" in kind:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be a number, not {value!r}", _source_hint(name)) from None
    if "Path" in kind:
        return Path(str(value))
    return str(value)


def _source_hint(name: str) -> str:
    return (f"check --{name.replace('_', '-')}, PROVISION_{name.upper()} and "
            f"[tool.provision] {name} in pyproject.toml")


def _pyproject_table(project_dir: Path) -> dict[str, Any]:
    path = project_dir / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"cannot read {path}: {exc}", "fix the TOML syntax or remove [tool.provision]"
        ) from None
    table = data.get("tool", {}).get("provision", {})
    return {key.replace("-", "_"): value for key, value in table.items()}


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    project_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build Settings from overrides > PROVISION_* > [tool.provision] > defaults."""
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    environ = os.environ if environ is None else environ
    project_dir = Path(overrides.pop("project_dir", None) or project_dir or Path.cwd()).resolve()

    values: dict[str, Any] = {}
    for key, value in _pyproject_table(project_dir).items():
        if key not in _FIELDS or key == "project_dir":
            raise ConfigError(
                f"unknown setting {key!r} in [tool.provision] of {project_dir / 'pyproject.toml'}",
                "known settings: " + ", ".join(n for n in _FIELDS if n != "project_dir"),
            )
        values[key] = _coerce(key, value)
    for name in _FIELDS:
        env_name = "PROVISION_" + name.upper()
        if name != "project_dir" and env_name in environ:
            values[name] = _coerce(name, environ[env_name])
    for key, value in overrides.items():
        if key not in _FIELDS:
            raise TypeError(f"unknown setting {key!r}")
        values[key] = _coerce(key, value)

    explicit = frozenset(values)
    if "port" not in values and "default_port" in values:
        values["port"] = values["default_port"]  # still a default: not in explicit
    settings = Settings(project_dir=project_dir, explicit=explicit, **values)
    _validate(settings)
    return _namespaced(settings, environ)


def _namespaced(settings: Settings, environ: Mapping[str, str]) -> Settings:
    """With a namespace, the database and user are the namespace's own (one rule: namespaces.apply)."""
    if not settings.namespace:
        return settings
    from . import namespaces

    namespace = namespaces.resolve(settings.namespace, environ)
    database, user = namespaces.apply(settings.database, settings.user, namespace)
    return dataclasses.replace(settings, namespace=namespace, database=database, user=user)


def _validate(settings: Settings) -> None:
    if settings.backend not in BACKEND_NAMES:
        raise ConfigError(
            f"unknown backend {settings.backend!r}",
            "choose one of: " + ", ".join(BACKEND_NAMES),
        )
    if settings.driver not in DRIVERS:
        raise ConfigError.unknown_driver(settings.driver)
    if settings.branches not in BRANCH_MODES:
        raise ConfigError(f"unknown branches mode {settings.branches!r}",
                          "use copy (a new branch gets a copy of the live database), empty, or off")
    for name in ("port", "default_port"):
        if not 0 < getattr(settings, name) < 65536:
            raise ConfigError(f"{name.replace('_', ' ')} {getattr(settings, name)} is out of range",
                              f"pass --{name.replace('_', '-')} between 1 and 65535")
    if settings.password and settings.generate_password:
        raise ConfigError(
            "--password and --generate-password were both given",
            "pass one of them: a password of your own, or let provision generate and keep one",
        )
    if settings.password and not settings.password.isascii():
        # the server hashes the UTF-8 bytes; PyMySQL (mysql+pymysql://) sends a str password as Latin-1,
        # so the app would fail to log in with the URL we prove (found by tests/properties)
        raise ConfigError(
            "the password has non-ASCII characters, which not every MySQL driver sends the same way "
            "(PyMySQL sends Latin-1, the server hashed UTF-8); nothing was changed",
            "use an ASCII password, or --generate-password",
        )
    # names are checked here so bad input fails before anything is touched
    validate_database(settings.database)
    validate_user(settings.user)
    if settings.collation is not None:
        validate_collation(settings.collation)
    if settings.ttl is not None:
        parse_ttl(settings.ttl)
    if settings.framework not in FRAMEWORK_SETTINGS:
        raise ConfigError.unknown_framework(settings.framework, FRAMEWORK_SETTINGS)
    for template in settings.test_databases:
        validate_name_template(template)
