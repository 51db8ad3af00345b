"""``provision doctor``: checks that return findings (status, what was found, the fix). Never prints.

The checks look at what is there, without starting or changing anything: the state, the
backend, the port, the disk, the .env URL and its login, the database's character set,
the app user's accounts and auth plugin, the sql_mode the app asks for, the app's Alembic
migrations against ``alembic_version``, and sessions stuck on metadata locks. Only
``kill_blockers`` changes something, and the CLI asks first.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator

from .. import collations
from ..bootstrap import app_hosts, held_patterns, runner_databases
from ..config import DRIVERS, Settings
from ..envfile import read_key
from ..errors import ProvisionError
from ..ports import is_listening, port_holder
from ..probe import connect, describe_login_error, error_code
from ..sql import run
from ..url import DatabaseURL, parse
from .findings import ERROR, OK, SKIP, WARN, Check, Context, Finding, Report, is_local, load_context
from .alembic import check_migrations
from .branches import check_branches
from .locks import check_locks

log = logging.getLogger(__name__)


MIB = 1024 * 1024
DISK_ERROR = 512 * MIB
DISK_WARN = 2048 * MIB

KNOWN_MODES = {
    "ALLOW_INVALID_DATES", "ANSI", "ANSI_QUOTES", "DB2", "EMPTY_STRING_IS_NULL", "ERROR_FOR_DIVISION_BY_ZERO",
    "HIGH_NOT_PRECEDENCE", "IGNORE_BAD_TABLE_OPTIONS", "IGNORE_SPACE", "MAXDB", "MSSQL", "MYSQL323", "MYSQL40",
    "NO_AUTO_CREATE_USER", "NO_AUTO_VALUE_ON_ZERO", "NO_BACKSLASH_ESCAPES", "NO_DIR_IN_CREATE",
    "NO_ENGINE_SUBSTITUTION", "NO_FIELD_OPTIONS", "NO_KEY_OPTIONS", "NO_TABLE_OPTIONS", "NO_UNSIGNED_SUBTRACTION",
    "NO_ZERO_DATE", "NO_ZERO_IN_DATE", "ONLY_FULL_GROUP_BY", "ORACLE", "PAD_CHAR_TO_FULL_LENGTH",
    "PIPES_AS_CONCAT", "POSTGRESQL", "REAL_AS_FLOAT", "SIMULTANEOUS_ASSIGNMENT", "STRICT_ALL_TABLES",
    "STRICT_TRANS_TABLES", "TIME_ROUND_FRACTIONAL", "TIME_TRUNCATE_FRACTIONAL", "TRADITIONAL",
}
REMOVED_IN_MYSQL8 = {"NO_AUTO_CREATE_USER", "DB2", "MAXDB", "MSSQL", "MYSQL323", "MYSQL40", "ORACLE", "POSTGRESQL",
                     "NO_FIELD_OPTIONS", "NO_KEY_OPTIONS", "NO_TABLE_OPTIONS"}
SOURCE_SUFFIXES = {".py", ".cfg", ".ini", ".toml", ".yaml", ".yml", ".env", ".json"}
SKIP_DIRS = {".git", ".hg", ".venv", "venv", "env", "node_modules", "__pycache__", "site-packages", ".tox",
             ".nox", ".devdb", "build", "dist", ".mypy_cache", ".pytest_cache"}
# auth plugin -> (Python module PyMySQL needs for it, what to install)
PLUGIN_NEEDS = {
    "caching_sha2_password": ("cryptography", "cryptography   (or PyMySQL[rsa])"),
    "sha256_password": ("cryptography", "cryptography   (or PyMySQL[rsa])"),
    "ed25519": ("nacl", "PyNaCl   (or PyMySQL[ed25519])"),
    "client_ed25519": ("nacl", "PyNaCl   (or PyMySQL[ed25519])"),
}


# --- entry points --------------------------------------------------------------------------
def doctor(settings: Settings) -> Report:
    ctx = load_context(settings)
    findings: list[Finding] = []
    try:
        for check in CHECKS:
            try:
                findings.extend(check(ctx))
            except Exception as exc:  # a broken check must not hide the others
                name = check.__name__.removeprefix("check_")
                log.debug("check %s failed", name, exc_info=True)
                findings.append(Finding(name, ERROR, f"the check itself failed: {exc}",
                                        "run provision doctor --debug and report it"))
    finally:
        if ctx.admin is not None:
            with contextlib.suppress(Exception):
                ctx.admin.close()
    return Report(findings)


# --- server, backend, port, files, disk ------------------------------------------------------
def check_state(ctx: Context) -> Iterator[Finding]:
    if ctx.recorded.get("backend"):
        why = ctx.recorded.get("chosen_because")
        yield Finding("state", OK, f"{ctx.recorded['backend']} backend, database {ctx.database}, user {ctx.user} "
                                   f"(state in {ctx.state.path})" + (f"; this server and port because {why}"
                                                                    if why else ""))
    else:
        where = f"; checking {ctx.url_source} instead" if ctx.app_url else ""
        yield Finding("state", WARN, f"provision has set nothing up here (no state in {ctx.state.path}){where}; "
                                     f"{_what_up_would_do(ctx)}", "provision up (or make dev-db)")


def _what_up_would_do(ctx: Context) -> str:
    from ..choose import choose

    try:
        choice = choose(ctx.settings, ctx.state, reserve=False)
    except ProvisionError as exc:
        return f"provision up would stop: {exc.message}"
    port = choice.overrides.get("port")
    return f"provision up would use the {choice.backend} backend" + (f" on port {port}" if port else "") + \
        f": {choice.reason}"


def check_server(ctx: Context) -> Iterator[Finding]:
    if ctx.server is None:
        yield Finding("server", SKIP, "no server recorded", "provision up")
        return
    where = f"{ctx.server.host}:{ctx.server.port}"
    if ctx.admin is not None and ctx.info is not None:
        yield Finding("server", OK, f"{ctx.info.label} answers on {where}",
                      details={"flavor": ctx.info.flavor, "version": ctx.info.version})
        return
    exc = ctx.admin_error
    if exc is not None:
        error = describe_login_error(exc, ctx.server.admin, "admin login")
        yield Finding("server", ERROR, f"the project's server on {where} cannot be reached: {error.message}",
                      "provision up   (starts it again; provision status shows its state)")


def check_backend(ctx: Context) -> Iterator[Finding]:
    if ctx.backend is None:
        return
    status = ctx.backend.status()
    state = status.get("state", "?")
    health = status.get("health")
    details = {k: v for k, v in status.items() if isinstance(v, (str, int, float, bool, type(None)))}
    if state == "running" and (ctx.admin is not None or ctx.server is None):  # the doctor's own login is the proof
        yield Finding("backend", OK, f"{ctx.backend.name}: running" + (f" ({health})" if health else ""),
                      details=details)
    else:
        reason = f"{state}" + (f", health {health}" if health else "") + (
            f": {status['error']}" if status.get("error") else "")
        tail = ctx.backend.logs_tail(10).strip()
        if tail:
            details["log_tail"] = tail
        yield Finding("backend", ERROR, f"{ctx.backend.name} server is {reason}",
                      "provision up" + ("   (its log ends with: " + tail.splitlines()[-1] + ")" if tail else ""),
                      details)
    stale = status.get("stale_files") or []
    if stale:
        yield Finding("stale_files", WARN, "files left by a server that is no longer running: " + ", ".join(stale),
                      "provision up   (removes them; InnoDB recovers the data on start)", {"files": stale})


def check_port(ctx: Context) -> Iterator[Finding]:
    host = ctx.server.host if ctx.server else (ctx.app_url.host if ctx.app_url else ctx.settings.host)
    port = ctx.server.port if ctx.server else (ctx.app_url.port if ctx.app_url else ctx.settings.port)
    if host not in ("127.0.0.1", "localhost", "::1"):
        yield Finding("port", SKIP, f"{host}:{port} is not on this machine")
        return
    holder = port_holder(port) if is_listening(host, port) else None
    if holder is None:
        yield Finding("port", ERROR, f"nothing listens on {host}:{port}", "provision up")
        return
    pid = ctx.backend.status().get("pid") if ctx.backend is not None else None
    if ctx.admin is not None:
        yield Finding("port", OK, f"{host}:{port} is held by {holder}, the project's server",
                      details={"holder": holder})
    elif pid and f"pid {pid} " in holder + " ":
        yield Finding("port", OK, f"{host}:{port} is held by {holder}, the project's server", details={"holder": holder})
    else:
        yield Finding("port", ERROR, f"{host}:{port} is held by {holder}, which is not the project's server",
                      f"stop that process, or move the project: provision down && provision up --port {port + 1}",
                      {"holder": holder})


def check_disk(ctx: Context) -> Iterator[Finding]:
    path = ctx.state.path if ctx.state.path.exists() else ctx.settings.project_dir
    free = shutil.disk_usage(path).free
    text = f"{free / MIB / 1024:.1f} GiB free on the file system of {path}"
    if free < DISK_ERROR:
        yield Finding("disk", ERROR, text + " (the server stops writing when it runs out)",
                      "free space (docker system prune, old snapshots: provision snapshot delete NAME)",
                      {"free_bytes": free})
    elif free < DISK_WARN:
        yield Finding("disk", WARN, text, "free some space before large migrations or snapshots", {"free_bytes": free})
    else:
        yield Finding("disk", OK, text, details={"free_bytes": free})


# --- the URL and the app's login -------------------------------------------------------------
def check_env_url(ctx: Context) -> Iterator[Finding]:
    settings = ctx.settings
    env_file = settings.resolve(Path(ctx.recorded.get("env_file", settings.env_file)))
    key = ctx.recorded.get("env_key", settings.env_key)
    in_file = read_key(env_file, key)
    if ctx.recorded.get("backend"):
        expected = str(ctx.app_url)
        if in_file is None:
            yield Finding("env_url", ERROR, f"{env_file} has no {key}", "provision up   (writes it)")
        elif in_file != expected:
            yield Finding("env_url", ERROR, f"{key} in {env_file} is not the URL provision set up: "
                          + _url_difference(in_file, ctx.app_url),
                          "provision up   (rewrites that line, keeps the rest of the file)",
                          {"expected": ctx.app_url.redacted()})
        else:
            yield Finding("env_url", OK, f"{key} in {env_file} matches the state ({ctx.app_url.redacted()})")
    elif in_file is None:
        yield Finding("env_url", SKIP, f"no {key} in {env_file}", "provision up")
    shell_value = os.environ.get(key)
    if shell_value is not None and in_file is not None and shell_value != in_file:
        yield Finding("env_url", WARN, f"{key} is also set in this shell's environment, and differs: "
                      + _url_difference(shell_value, parse_or_none(in_file))
                      + f"; apps that load {env_file.name} with python-dotenv keep the shell's value",
                      f"unset {key}")


def parse_or_none(text: str) -> DatabaseURL | None:
    try:
        return parse(text)
    except Exception:
        return None


def _url_difference(text: str, expected: DatabaseURL | None) -> str:
    found = parse_or_none(text)
    if found is None or expected is None:
        return "it does not parse as a mysql:// URL"
    parts = []
    for name in ("scheme", "user", "host", "port", "database"):
        a, b = getattr(found, name), getattr(expected, name)
        if a != b:
            parts.append(f"{name} {a!r} instead of {b!r}")
    if found.password != expected.password:
        parts.append("a different password")
    if found.params != expected.params:
        parts.append(f"options {found.params} instead of {expected.params}")
    return ", ".join(parts) or "same login, different spelling"


def check_app_login(ctx: Context) -> Iterator[Finding]:
    if ctx.app_url is None:
        yield Finding("app_login", SKIP, "no URL to log in with", "provision up")
        return
    try:
        conn = connect(ctx.app_url, tls=not is_local(ctx), timeout=3, read_timeout=3)
    except Exception as exc:
        code = error_code(exc)
        if code is None and not isinstance(exc, (RuntimeError, NotImplementedError, ImportError)):
            raise
        message = describe_login_error(exc, ctx.app_url, "app login").message if code else str(exc)
        yield Finding("app_login", ERROR, f"{ctx.app_url.redacted()} does not log in: {message}",
                      "provision up   (converges the user, its password and grants)")
        return
    with contextlib.closing(conn), conn.cursor() as cursor:
        current_user, database, charset, _collation = run(cursor, "prove", "whoami")[0]
    yield Finding("app_login", OK, f"{ctx.app_url.redacted()} logs in as {current_user}",
                  details={"current_user": current_user, "database": database, "charset": charset})


def check_charset(ctx: Context) -> Iterator[Finding]:
    conn = ctx.conn()
    if conn is None or not ctx.database:
        return
    with conn.cursor() as cursor:
        rows = run(cursor, "workflow", "database_defaults", {"database": ctx.database})
        if not rows:
            yield Finding("charset", ERROR, f"database {ctx.database} does not exist",
                          "provision up   (creates it, utf8mb4)")
            return
        charset, collation = rows[0]
        others = run(cursor, "diagnostics", "table_charsets", {"database": ctx.database})
        if others and charset != "utf8mb4":  # the collation provision up would give the database
            collation_for_tables = (collations.choose(cursor, ctx.info.flavor) if ctx.info is not None
                                    else "utf8mb4_unicode_ci")
    if charset != "utf8mb4":
        yield Finding("charset", ERROR, f"database {ctx.database} defaults to {charset} ({collation}), not utf8mb4: "
                      "new tables will not store emoji or 4-byte characters",
                      "provision up --fix-charset", {"charset": charset, "collation": collation})
    else:
        yield Finding("charset", OK, f"database {ctx.database}: {charset}, {collation}",
                      details={"charset": charset, "collation": collation})
    if others:
        names = ", ".join(f"{t} ({c})" for t, c in others[:10])
        target = collation if charset == "utf8mb4" else collation_for_tables
        yield Finding("charset", WARN, f"{len(others)} table(s) are not utf8mb4: {names}",
                      f"ALTER TABLE <table> CONVERT TO CHARACTER SET utf8mb4 COLLATE {target};   (in a migration)",
                      {"tables": [t for t, _ in others]})


# --- the app user: accounts and auth plugin ---------------------------------------------------
def check_user_hosts(ctx: Context) -> Iterator[Finding]:
    conn = ctx.conn()
    if conn is None or not ctx.user or ctx.info is None:
        return
    with conn.cursor() as cursor:
        try:
            accounts = run(cursor, "diagnostics", "user_accounts", {"user": ctx.user})
            anonymous = [row[0] for row in run(cursor, "diagnostics", "anonymous_accounts")]
        except Exception as exc:
            if error_code(exc) is None:
                raise
            yield Finding("user_hosts", SKIP, f"cannot read mysql.user: {exc}")
            return
    hosts = [host for host, _plugin in accounts]
    needed = app_hosts(ctx.info)
    covered = [h for h in needed if h in hosts or "%" in hosts]
    where = f"clients on this machine appear to the server as {ctx.info.client_host!r}"
    if not hosts:
        yield Finding("user_hosts", ERROR, f"user {ctx.user} does not exist on the server",
                      "provision up   (creates it with its grants)")
    elif len(covered) < len(needed) and needed[0] not in covered:
        yield Finding("user_hosts", ERROR, f"user {ctx.user} exists for {', '.join(hosts)} but {where}",
                      "provision up   (adds the missing account)", {"hosts": hosts, "needed": list(needed)})
    else:
        yield Finding("user_hosts", OK, f"user {ctx.user}@{', '.join(hosts)}; {where}",
                      details={"hosts": hosts, "needed": list(needed)})
    shadowing = [h for h in anonymous if h in ("localhost", ctx.info.client_host)]
    if shadowing and hosts and all(h == "%" for h in hosts):
        yield Finding("user_hosts", ERROR, f"an anonymous account ''@{shadowing[0]} is more specific than "
                      f"{ctx.user}@'%', so {ctx.user}'s logins from {shadowing[0]} are taken as anonymous",
                      f"DROP USER ''@'{shadowing[0]}';   (as the server's admin)")


def check_test_grants(ctx: Context) -> Iterator[Finding]:
    """The app's test runner can make its test databases: the user holds each pattern on each host."""
    from ..names import shown_pattern

    conn = ctx.conn()
    if conn is None or not ctx.user or not ctx.database or ctx.info is None:
        return
    framework, patterns = runner_databases(ctx.settings, ctx.database)
    runner = f"{framework.title} ({', '.join(framework.evidence)})" if framework else "no test runner detected"
    if not patterns:
        yield Finding("test_grants", OK, f"{runner}: its test databases are covered by {ctx.database}_*",
                      details={"framework": framework.name if framework else None, "patterns": []})
        return
    with conn.cursor() as cursor:
        hosts = [host for (host, _plugin) in run(cursor, "diagnostics", "user_accounts", {"user": ctx.user})]
        wanted = [h for h in app_hosts(ctx.info) if h in hosts] or hosts
        missing = {host: [p for p in patterns if p not in held_patterns(cursor, ctx.user, host)] for host in wanted}
    missing = {host: gone for host, gone in missing.items() if gone}
    details = {"framework": framework.name if framework else None, "patterns": list(patterns),
               "missing": missing}
    names = ", ".join(shown_pattern(p) for p in patterns)
    if missing:
        where = "; ".join(f"{ctx.user}@{host}: {', '.join(shown_pattern(p) for p in gone)}"
                          for host, gone in missing.items())
        yield Finding("test_grants", ERROR, f"{runner}: the app user may not make its test databases ({where}); "
                      "its test runner fails with 'Access denied ... to database'",
                      "provision up   (grants them; nothing global)", details)
    else:
        yield Finding("test_grants", OK, f"{runner}: {ctx.user} may make its test databases {names}", details=details)


def check_auth_plugin(ctx: Context) -> Iterator[Finding]:
    conn = ctx.conn()
    if conn is None or not ctx.user:
        return
    with conn.cursor() as cursor:
        try:
            accounts = run(cursor, "diagnostics", "user_accounts", {"user": ctx.user})
        except Exception as exc:
            if error_code(exc) is None:
                raise
            return  # check_user_hosts says why
    plugins = sorted({plugin for _host, plugin in accounts if plugin})
    if not plugins:
        return
    python, missing = _app_python_missing(ctx, ["cryptography", "nacl", "pymysql", "MySQLdb"])
    driver = _driver(ctx, missing)
    for plugin in plugins:
        need = PLUGIN_NEEDS.get(plugin)
        if need is None:
            yield Finding("auth_plugin", OK, f"{ctx.user} authenticates with {plugin}, which every driver supports",
                          details={"plugin": plugin, "driver": driver})
            continue
        module, package = need
        if driver == "pymysql" and module in missing:
            yield Finding("auth_plugin", ERROR,
                          f"{ctx.user} authenticates with {plugin}, and PyMySQL needs the {module} module for it, "
                          f"which {python} cannot import (logins fail with 'cryptography package is required' "
                          "or 'nacl' errors)",
                          f"{python} -m pip install {package.split()[0]}",
                          {"plugin": plugin, "driver": driver, "python": python, "missing": module})
        else:
            yield Finding("auth_plugin", OK, f"{ctx.user} authenticates with {plugin}; the app's driver ({driver}) "
                          f"can use it", details={"plugin": plugin, "driver": driver, "python": python})


def app_python(project_dir: Path) -> str:
    """The app's interpreter: its virtualenv's python when it has one, else this one."""
    for name in (".venv", "venv", "env"):
        candidate = project_dir / name / "bin" / "python"
        if candidate.exists():
            return str(candidate)
    return sys.executable


def _app_python_missing(ctx: Context, modules: list[str]) -> tuple[str, list[str]]:
    python = app_python(ctx.settings.project_dir)
    if python not in ctx._python_missing:
        code = ("import importlib.util, sys\n"
                "print(' '.join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))")
        try:
            out = subprocess.run([python, "-c", code, *modules], capture_output=True, text=True, timeout=30)
            ctx._python_missing[python] = out.stdout.split() if out.returncode == 0 else []
        except (OSError, subprocess.SubprocessError):
            ctx._python_missing[python] = []
    return python, ctx._python_missing[python]


def _driver(ctx: Context, missing: list[str]) -> str:
    scheme = ctx.app_url.scheme if ctx.app_url else DRIVERS[ctx.settings.driver]
    if "pymysql" in scheme:
        return "pymysql"
    # mysql:// is MySQLdb (mysqlclient) for SQLAlchemy; apps without it use PyMySQL as MySQLdb
    return "mysqlclient" if "MySQLdb" not in missing else "pymysql"


# --- sql_mode -----------------------------------------------------------------------------
def check_sql_mode(ctx: Context) -> Iterator[Finding]:
    conn = ctx.conn()
    if conn is None:
        return
    wanted = find_app_sql_modes(ctx.settings.project_dir, exclude=ctx.state.path)
    if not wanted:
        yield Finding("sql_mode", OK, "the app's code sets no sql_mode")
        return
    with conn.cursor() as cursor:
        session_mode, global_mode = run(cursor, "diagnostics", "session_sql_mode")[0]
        rejected, accepted = {}, []
        try:
            for mode, places in wanted.items():
                try:
                    run(cursor, "diagnostics", "set_sql_mode", {"mode": mode})
                    accepted.append(mode)
                except Exception as exc:
                    if error_code(exc) is None:
                        raise
                    rejected[mode] = places
        finally:
            run(cursor, "diagnostics", "set_sql_mode", {"mode": session_mode})
    label = ctx.info.label if ctx.info else "the server"
    for mode, places in rejected.items():
        why = " (MySQL 8.0 removed it)" if mode in REMOVED_IN_MYSQL8 else ""
        yield Finding("sql_mode", ERROR, f"the app sets sql_mode {mode} ({', '.join(places[:3])}), which {label} "
                      f"refuses{why}: every connection that sets it fails with error 1231",
                      f"remove {mode} from the sql_mode in {places[0].rsplit(':', 1)[0]}",
                      {"mode": mode, "places": places, "server_sql_mode": global_mode})
    portable = [m for m in accepted if m in REMOVED_IN_MYSQL8]
    if portable:
        yield Finding("sql_mode", WARN, f"the app sets {', '.join(portable)}, which {label} accepts but MySQL 8.0 "
                      "and later refuse", f"remove it from {wanted[portable[0]][0].rsplit(':', 1)[0]}",
                      {"modes": portable})
    elif not rejected:
        yield Finding("sql_mode", OK, f"{label} accepts the sql_mode the app sets ({', '.join(accepted)})")


def find_app_sql_modes(project_dir: Path, *, exclude: Path | None = None, max_files: int = 3000) -> dict[str, list[str]]:
    """Modes named next to 'sql_mode' in the app's source: {mode: ['file:line', ...]}."""
    found: dict[str, list[str]] = {}
    seen = 0
    for root, dirs, files in os.walk(project_dir):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith(".")
                   and (exclude is None or Path(root, d) != exclude)]
        for name in files:
            path = Path(root, name)
            if path.suffix not in SOURCE_SUFFIXES and name != ".env":
                continue
            seen += 1
            if seen > max_files:
                return found
            try:
                if path.stat().st_size > 1_000_000:
                    continue
                lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                continue
            for number, line in enumerate(lines, 1):
                if "sql_mode" not in line.lower():
                    continue
                window = " ".join(lines[number - 1: number + 2])
                for token in re.findall(r"[A-Z][A-Z0-9_]{2,}", window):
                    if token in KNOWN_MODES:
                        place = f"{path.relative_to(project_dir)}:{number}"
                        if place not in found.setdefault(token, []):
                            found[token].append(place)
    return found


CHECKS: list[Check] = [
    check_state, check_server, check_backend, check_port, check_disk, check_env_url, check_app_login,
    check_charset, check_user_hosts, check_test_grants, check_auth_plugin, check_sql_mode, check_branches,
    check_migrations, check_locks,
]
