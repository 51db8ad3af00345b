"""Converge the app's database, user and grants; then prove the URL by logging in with it.

Every run re-applies the desired state and reports what it changed, so a second run
reports nothing. Nothing here knows which backend made the server.
"""
from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from typing import Callable, Mapping

from . import collations
from .config import Settings
from .errors import BootstrapError, ServerError
from .frameworks import Detection, name_templates, resolve
from .names import grant_pattern, shown_pattern, template_grant_pattern
from .probe import ACCESS_DENIED, ServerInfo, connect, describe_login_error, error_code, login
from .sql import run
from .url import DatabaseURL, parse

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class Plan:
    """What the app needs: computed once, applied by ``converge``."""

    database: str
    user: str
    password: str
    hosts: tuple[str, ...]
    collation: str
    # the app's test runner and the GRANT patterns of the databases it makes (beyond <database>_*)
    framework: Detection | None = None
    test_patterns: tuple[str, ...] = ()


def app_hosts(info: ServerInfo) -> tuple[str, ...]:
    """The hosts the app's connections come from, as the server names them.

    ``info.client_host`` is what the server saw for the admin's connection, which takes
    the app's route (same host and port). Locally that is '127.0.0.1' with
    skip-name-resolve and 'localhost' without; 'localhost' is added for socket clients
    such as the mysql CLI. Anything else (Docker's bridge gateway, a remote client) gets
    '%': the gateway address is not stable across networks.
    """
    seen = info.client_host
    if seen == "localhost" and info.skip_name_resolve:
        # the admin came over the socket, but the app's TCP login will arrive as the bare IP
        return ("127.0.0.1", "localhost")
    if seen in LOOPBACK_HOSTS:
        return (seen,) if seen == "localhost" else (seen, "localhost")
    return ("%",)


def plan(cursor, settings: Settings, info: ServerInfo, password: str) -> Plan:
    framework, patterns = runner_databases(settings)
    return Plan(
        database=settings.database,
        user=settings.user,
        password=password,
        hosts=app_hosts(info),
        collation=collations.choose(cursor, info.flavor, settings.collation, server=info.label),
        framework=framework,
        test_patterns=patterns,
    )


def runner_databases(settings: Settings, database: str | None = None) -> tuple[Detection | None, tuple[str, ...]]:
    """The app's test runner and the GRANT patterns its test databases need.

    Names the ``<database>_*`` grant already covers (Rails' ``<database>_test`` when the
    dev database is the app's base name) are left out: no redundant grants.
    """
    database = database or settings.database
    framework = resolve(settings.framework, settings.project_dir)
    patterns = (template_grant_pattern(t, database) for t in name_templates(framework, settings.test_databases))
    base = grant_pattern(database)
    kept = tuple(p for p in dict.fromkeys(patterns) if p != base and not p.startswith(base + "\\_"))
    if settings.namespace:  # on a shared server a grant must not reach another namespace's databases
        shared = [p for p in kept if not _namespace_bound(p, base)]
        if shared:
            log.warning("namespace %s: not granting %s (the test databases' names are not the namespace's own; "
                        "set test_databases to names that contain {database})", settings.namespace,
                        ", ".join(shared))
        kept = tuple(p for p in kept if p not in shared)
    return framework, kept


def _namespace_bound(pattern: str, base: str) -> bool:
    """The pattern names the namespaced database whole (``test\\_ohdevel\\_alice\\_%``) with no
    wildcard before it: a fixed name (Laravel's ``testing``) or ``ohdevel\\_alice%`` (which
    matches ``ohdevel_alice2``) would be shared with other namespaces, so it is not granted."""
    at = pattern.find(base)
    if at < 0 or re.search(r"(?<!\\)[%_]", pattern[:at].replace("\\\\", "")):
        return False
    rest = pattern[at + len(base):]
    return rest == "" or rest.startswith(("\\_", "-"))


def converge(conn, target: Plan, *, fix_charset: bool, login_works: Callable[[], bool]) -> list[str]:
    """Apply ``target`` over an admin connection; return a line for each change made."""
    changes: list[str] = []
    with conn.cursor() as cursor:
        changes += _converge_database(cursor, target, fix_charset)
        existing = {row[0] for row in run(cursor, "bootstrap", "user_hosts", {"user": target.user})}
        for host in target.hosts:
            if host not in existing:
                _create_user(cursor, target, host)
                changes.append(f"user {target.user}@{host}: created, with grants on {target.database} "
                               f"and {target.database}_*")
            else:
                changes += _converge_grants(cursor, target, host)
        made_before = [host for host in target.hosts if host in existing]
        if made_before and not login_works():
            for host in made_before:
                run(cursor, "bootstrap", "set_password", _who(target, host) | {"password": target.password})
            changes.append(f"user {target.user}: password reset to the one in the URL "
                           f"({', '.join(made_before)})")
    return changes


def _converge_database(cursor, target: Plan, fix_charset: bool) -> list[str]:
    rows = run(cursor, "bootstrap", "database_charset", {"database": target.database})
    if not rows:
        run(cursor, "bootstrap", "create_database", database=target.database, collation=target.collation)
        return [f"database {target.database}: created (utf8mb4, {target.collation})"]
    charset, collation = rows[0]
    if charset == "utf8mb4":
        return []
    if not fix_charset:
        raise BootstrapError(
            f"database {target.database} exists with character set {charset} ({collation}), not utf8mb4; "
            "nothing was changed",
            "rerun with --fix-charset to change its default to utf8mb4 (existing tables keep theirs; "
            "convert each with ALTER TABLE ... CONVERT TO CHARACTER SET utf8mb4)",
        )
    run(cursor, "bootstrap", "alter_database_charset", database=target.database, collation=target.collation)
    return [f"database {target.database}: default character set changed from {charset} to utf8mb4 "
            f"({target.collation})"]


def _who(target: Plan, host: str) -> dict[str, str]:
    return {"user": target.user, "host": host}


def _patterns(target: Plan) -> tuple[str, str]:
    # the database itself, and <database>_% so test suites can make their own databases
    return grant_pattern(target.database), grant_pattern(target.database) + "\\_%"


def _grant(cursor, target: Plan, host: str, *, held: frozenset[str] = frozenset()) -> None:
    for pattern in _patterns(target):
        if f"GRANT ALL PRIVILEGES ON `{pattern}`.*" not in held:
            run(cursor, "bootstrap", "grant_database", _who(target, host), pattern=pattern)


def _create_user(cursor, target: Plan, host: str) -> None:
    run(cursor, "bootstrap", "create_user", _who(target, host) | {"password": target.password})
    try:
        _grant(cursor, target, host)
    except Exception as exc:
        # never leave a user without its grants: remove it, report the cause
        run(cursor, "bootstrap", "drop_user", _who(target, host))
        if error_code(exc) is None:
            raise
        raise BootstrapError(
            f"granting {target.user}@{host} access to {target.database} failed: {exc.args[-1]}; "
            "the user was removed again, nothing is half-made",
            "the admin login needs the GRANT OPTION privilege on the database (root has it); "
            "pass another admin with --server-url",
        ) from exc


def _converge_grants(cursor, target: Plan, host: str) -> list[str]:
    before = {row[0] for row in run(cursor, "bootstrap", "show_grants", _who(target, host))}
    held = frozenset(line.split(" TO ")[0] for line in before)
    if all(f"GRANT ALL PRIVILEGES ON `{pattern}`.*" in held for pattern in _patterns(target)):
        return []  # GRANT takes a privilege flush each time: skip it when nothing is missing
    _grant(cursor, target, host, held=held)
    after = {row[0] for row in run(cursor, "bootstrap", "show_grants", _who(target, host))}
    if after == before:
        return []
    return [f"user {target.user}@{host}: grants on {target.database} and {target.database}_* restored"]


# a database-level grant as SHOW GRANTS prints it: GRANT ALL PRIVILEGES ON `pattern`.* TO ...
_DB_GRANT = re.compile(r"^GRANT ALL PRIVILEGES ON `((?:[^`]|``)+)`\.\* TO ")


def held_patterns(cursor, user: str, host: str) -> set[str]:
    """The database patterns ``user@host`` holds ALL PRIVILEGES on, as SHOW GRANTS prints them."""
    rows = run(cursor, "bootstrap", "show_grants", {"user": user, "host": host})
    return {match.group(1).replace("``", "`") for (line,) in rows if (match := _DB_GRANT.match(line))}


def converge_test_grants(conn, target: Plan, ours: Mapping[str, list[str]]
                         ) -> tuple[list[str], dict[str, list[str]]]:
    """Grant the test runner's patterns; revoke the ones provision granted that are no longer wanted.

    ``ours`` is what provision granted before (per host, from the state): only those are
    ever revoked. A pattern that was already held when provision came is never ours, so a
    grant made by hand survives. Returns the changes and the new ``ours`` to record.
    """
    changes: list[str] = []
    recorded = {host: list(patterns) for host, patterns in ours.items()}  # hosts not converged keep theirs
    wanted = target.test_patterns
    with conn.cursor() as cursor:
        for host in target.hosts:
            held = held_patterns(cursor, target.user, host)
            added = [p for p in wanted if p not in held]
            for pattern in added:
                run(cursor, "bootstrap", "grant_database", _who(target, host), pattern=pattern)
            mine = set(ours.get(host, ()))
            gone = [p for p in mine if p not in wanted and p in held]
            for pattern in gone:
                run(cursor, "bootstrap", "revoke_database", _who(target, host), pattern=pattern)
            recorded[host] = sorted((mine & set(wanted)) | set(added))
            runner = f" for {target.framework.title}" if target.framework else ""
            if added:
                changes.append(f"user {target.user}@{host}: test databases{runner} granted: "
                               + ", ".join(shown_pattern(p) for p in added))
            if gone:
                changes.append(f"user {target.user}@{host}: test-database grants no longer wanted revoked: "
                               + ", ".join(shown_pattern(p) for p in sorted(gone)))
    return changes, recorded


def login_check(url: DatabaseURL, *, tls: bool) -> Callable[[], bool]:
    """A callable that says whether the app's login works (False only for access denied)."""

    def works() -> bool:
        try:
            connect(url, tls=tls, database=None).close()
        except Exception as exc:
            if error_code(exc) == ACCESS_DENIED:
                return False
            # e.g. an ed25519 account and no PyNaCl: a clear error, not the driver's traceback
            raise describe_login_error(exc, url, "the app's URL") from exc
        return True

    return works


def prove(url_text: str, *, tls: bool, hosts: tuple[str, ...]) -> dict[str, str]:
    """Log in with exactly ``url_text`` and show the URL does what the app needs."""
    url = parse(url_text)  # the string that will be written, parsed back: no shortcut
    try:
        conn = login(url, "proof", tls=tls)
    except ServerError as exc:
        raise BootstrapError(
            f"the new URL does not log in: {exc.message}",
            "nothing was written to .env; run with --debug and check the user's hosts "
            f"({', '.join(hosts)}) against where this client connects from",
        ) from exc
    table = f"_provision_probe_{secrets.token_hex(4)}"
    try:
        with conn.cursor() as cursor:
            current_user, database, charset, collation = run(cursor, "prove", "whoami")[0]
            user, _, host = current_user.rpartition("@")
            problems = []
            if user != url.user:
                problems.append(f"logged in as {current_user}, not as {url.user}")
            if database != url.database:
                problems.append(f"the session's database is {database}, not {url.database}")
            if charset != "utf8mb4":
                problems.append(f"the database's character set is {charset}, not utf8mb4")
            if problems:
                raise BootstrapError("the new URL does not behave: " + "; ".join(problems),
                                     "nothing was written to .env; run provision doctor")
            run(cursor, "prove", "create_scratch", table=table)
            run(cursor, "prove", "drop_scratch", table=table)
    finally:
        conn.close()
    return {"current_user": current_user, "charset": charset, "collation": collation, "account_host": host}
