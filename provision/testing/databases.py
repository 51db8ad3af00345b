"""Ephemeral databases for test suites: a fresh database (or a copy of a migrated template)
per test, on a real server, dropped afterwards, swept after a crash.

Names: ``<prefix>_t_<host>_<worker>_<pid>_<random>``. ``host`` is a 4-hex tag of this
machine (hostname + pid namespace), ``worker`` the xdist worker (``gw0``) or ``main``,
``pid`` the process that owns the database. Two sessions never share a name, and a sweep
drops only names that parse, carry this host's tag and whose pid is gone: nothing of
anyone else's. ``Databases`` is the janitor of one process: it holds one admin
connection, creates, drops and sweeps.

Where: ``open_server(spec)`` turns ``auto``/``dev``/``native``/``docker``/an admin URL
into an ``EphemeralServer``. ``auto`` prefers the project's dev server (``.devdb`` state)
when it answers: its app user may create ``<database>_*`` databases, so the prefix there
is the app's database name. Then a throwaway native server, then docker.

TLS: our own loopback servers are connected to without TLS. Any other server keeps
PyMySQL's default negotiation, but the SSL context of the first connection is reused, so
a server that requires TLS still gets it without the ~40 ms CA-bundle load per connect.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import secrets
import socket
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator

from .. import collations
from .. import processes
from ..errors import ConfigError, ServerError
from ..names import escape_wildcards, quote, validate_database
from ..probe import Server, connect, error_code, login, server_info
from ..sql import render, run
from ..url import DatabaseURL, URLString
from .servers import EphemeralServer

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "provision"
_NAME = re.compile(r"(?P<prefix>[A-Za-z_][A-Za-z0-9_]*?)_t_(?P<host>[0-9a-f]{4})_(?P<worker>gw\d+|main)"
                   r"_(?P<pid>\d+)_(?P<rand>[0-9a-f]{6})")

__all__ = ["Databases", "EphemeralDatabase", "EphemeralServer", "ephemeral_database", "database_name", "parse_name"]


# --- names -----------------------------------------------------------------------------------
def host_tag() -> str:
    """4 hex digits for this machine; pids are only compared between equal tags."""
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        namespace = 0
    return hashlib.sha256(f"{socket.gethostname()}|{namespace}".encode()).hexdigest()[:4]


def worker_id() -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return worker if re.fullmatch(r"gw\d+", worker) else "main"


def database_name(prefix: str = DEFAULT_PREFIX, *, worker: str | None = None, pid: int | None = None,
                  host: str | None = None, rand: str | None = None) -> str:
    name = (f"{prefix}_t_{host or host_tag()}_{worker or worker_id()}_{pid or os.getpid()}"
            f"_{rand or secrets.token_hex(3)}")
    if len(name) > 64:
        raise ConfigError(f"the test database prefix {prefix!r} is too long ({name!r} has {len(name)} characters)",
                          "use a prefix of at most 30 characters")
    return validate_database(name)


def parse_name(name: str) -> dict[str, Any] | None:
    match = _NAME.fullmatch(name)
    if not match:
        return None
    parts = match.groupdict()
    parts["pid"] = int(parts["pid"])
    return parts


def is_orphan(name: str, prefix: str) -> bool:
    """One of our test databases whose owning process on this machine is gone."""
    parts = parse_name(name)
    return bool(parts and parts["prefix"] == prefix and parts["host"] == host_tag()
                and not processes.alive(parts["pid"]))


def like_pattern(prefix: str, kind: str = "t") -> str:
    return escape_wildcards(f"{prefix}_{kind}_") + "%"


# --- TLS -----------------------------------------------------------------------------------------
class Tls:
    """Connect options: none for our loopback servers; else the first connection's SSL context."""

    def __init__(self, local: bool):
        self.local = local
        self._options: dict[str, Any] | None = {"ssl_disabled": True} if local else None
        self._lock = threading.Lock()

    def options(self) -> dict[str, Any]:
        return dict(self._options or {})

    def learn(self, conn) -> None:
        with self._lock:
            if self._options is not None:
                return
            from pymysql.constants import CLIENT

            if getattr(conn, "ssl", False) and conn.server_capabilities & CLIENT.SSL:
                self._options = {"ssl": conn.ctx}  # TLS stays on (and required), the context is reused
            else:
                self._options = {"ssl_disabled": True}  # the server offers no TLS: nothing changes


# --- databases ----------------------------------------------------------------------------------
@dataclass
class EphemeralDatabase:
    """A database of one test: ``url`` (a ``str`` with the login, and its parts), ``name``, ``connect()``."""

    name: str
    url: URLString
    tls: Tls = field(repr=False, default_factory=lambda: Tls(False))

    def connect(self, *, multi_statements: bool = False, **kwargs):
        """A PyMySQL connection to this database (autocommit on, utf8mb4)."""
        if multi_statements:
            from pymysql.constants import CLIENT

            kwargs["client_flag"] = kwargs.get("client_flag", 0) | CLIENT.MULTI_STATEMENTS
        options = self.tls.options()
        options.update(kwargs)
        conn = connect(self.url, **options)
        self.tls.learn(conn)
        return conn

    def __str__(self) -> str:
        return str(self.url)


def _admin_connect(server: Server, tls: Tls):
    from pymysql.constants import CLIENT

    conn = login(server.admin, "ephemeral databases", database=None, client_flag=CLIENT.MULTI_STATEMENTS,
                 **tls.options())
    tls.learn(conn)
    return conn


class _Deferred:
    """Statements sent now whose results are read later: the server works while the test runs.

    PyMySQL has no asynchronous API, so this uses its two halves of ``query()``
    (``_execute_command`` and ``_read_query_result``); nothing else may use the connection
    in between, which ``Databases`` ensures by collecting before any other use.
    """

    def __init__(self, conn):
        self.conn = conn
        self.what: str | None = None

    def send(self, sql: str, what: str) -> None:
        from pymysql.constants import COMMAND

        assert self.what is None, "collect() the previous statements first"
        self.conn._execute_command(COMMAND.COM_QUERY, sql.encode(self.conn.encoding))
        self.what = what

    def collect(self) -> list:
        """Read the results of what was sent: one entry per statement (its rows, or None)."""
        if self.what is None:
            return []
        what, self.what = self.what, None
        results = []
        try:
            self.conn._read_query_result()
            results.append(self.conn._result.rows)
            while self.conn._result is not None and self.conn._result.has_next:
                self.conn.next_result()
                results.append(self.conn._result.rows)
        except Exception as exc:
            if error_code(exc) is None:
                raise
            raise ServerError(f"{what} failed: {exc}",
                              "run with --mysql-pool=0 to see it fail where it happens") from exc
        return results


class Databases:
    """Make, copy and drop the test databases of one process on one server.

    With ``pool`` > 0 (the default: 1, 2 with a template) that many databases are made
    ahead: ``create()`` takes a ready one and sends, without waiting, the statements that
    drop the databases released since and make the next one; the server runs them while
    the test runs, and the next ``create()`` reads their results. The critical path of a
    test is then reading an OK packet instead of two DDL round trips (bench/README.md).
    ``pool=0`` creates and drops inline.
    """

    def __init__(self, server: EphemeralServer | Server, *, prefix: str | None = None, template: Any = None,
                 keep: bool = False, pool: int | None = None, project_dir: Path | None = None,
                 lock_timeout: float = 600.0, restore: bool | None = None, ttl: int | None = None,
                 scheme: str | None = None):
        self.ephemeral = server if isinstance(server, EphemeralServer) else None
        self.scheme = scheme  # the test URLs' scheme (the dev URL's driver); None: the admin URL's
        self.server = server.server if isinstance(server, EphemeralServer) else server
        default_prefix = self.ephemeral.details.get("prefix") if self.ephemeral else None
        self.prefix = prefix or default_prefix or DEFAULT_PREFIX
        database_name(self.prefix)  # a prefix too long for a name fails here, with a hint
        from .templates import as_template

        self.template = as_template(template, base_dir=project_dir)
        self.keep = keep
        # with a template, used copies are restored instead of dropped (provision/testing/restore.py)
        self.restore = (self.template is not None if restore is None else restore) and not keep
        self.recycler = None  # restore.Recycler
        self.pool_size = (2 if self.template else 1) if pool is None else pool
        self.lock_timeout = lock_timeout
        self.ttl = ttl  # seconds: the run's databases are leased on the server (leases.py)
        self.lease = None
        self.renewer = None
        self.reaped: list[dict] = []
        self.lease_lost = False
        self.tls = Tls(self.server.local)
        self.conn = None
        self.info = None
        self.collation = None  # collations.choose: the one the dev database gets
        self.plan = None  # templates.CopyPlan
        self.template_name: str | None = None
        self.made: set[str] = set()  # given to tests, not released
        self.kept: list[str] = []
        self._stem: str | None = None
        self._deferred: _Deferred | None = None
        self._ready: list[str] = []  # made ahead, results read
        self._sent: list[str] = []  # made ahead, results not read yet
        self._released: list[str] = []  # to drop with the next batch

    # --- lifecycle ----------------------------------------------------------------------------
    def open(self) -> "Databases":
        self.conn = _admin_connect(self.server, self.tls)
        self.info = server_info(self.conn)
        with self.conn.cursor() as cursor:
            self.collation = collations.choose(cursor, self.info.flavor)
        swept = self.sweep()
        if swept:
            log.info("ephemeral: dropped %d database(s) of killed test runs: %s", len(swept), ", ".join(swept))
        self._reap_and_lease()
        if self.template is not None:
            self._prepare_template()
        if self.restore and self.plan is not None:
            from .restore import Recycler, restorer

            self.recycler = Recycler(_Deferred(self.conn), restorer(self.conn, self.plan, self.info.flavor, self.new_name()),
                                     self.plan, self.new_name, size=self.pool_size, inline=self.pool_size == 0)
            self.recycler.fill()
        elif self.pool_size > 0:
            self._deferred = _Deferred(self.conn)
            self._send_batch(self.pool_size)
        return self

    def close(self) -> None:
        if self.conn is None:
            return
        try:
            self._collect()
        except Exception as exc:  # the last batch failed; drop what may exist anyway
            log.warning("ephemeral: %s", exc)
        leftovers = set(self._ready) | set(self._sent) | set(self._released)
        if self.recycler is not None:
            leftovers |= self.recycler.close()
        for name in sorted(self.made):
            if self.keep:
                self.kept.append(name)
            else:
                leftovers.add(name)
        for name in sorted(leftovers):
            self._drop_now(name)
        self._ready, self._sent, self._released = [], [], []
        self._end_lease()
        self.conn.close()
        self.conn = None

    def __enter__(self) -> "Databases":
        return self.open()

    # --- leases on a shared server (leases.py) ---------------------------------------------------
    def _reap_and_lease(self) -> None:
        """Reap the expired test leases of any host; with a TTL, lease this process's databases.

        The lease names the prefix of this process's database names and is registered before
        any is made; a thread of this process renews it, so a run killed with -9 stops renewing.
        """
        from .. import leases

        if self.ephemeral is None or self.ephemeral.kind not in ("native", "docker"):  # throwaway: no one else
            self.reaped = [r.to_dict() for r in leases.reap(self.conn, purpose="test")]
            for reaped in self.reaped:
                log.info("ephemeral: reaped the expired test lease %s of %s@%s: %s", reaped["name"],
                         reaped["owner"], reaped["host"], ", ".join(reaped["databases"]) or "nothing left")
        if not self.ttl:
            return
        self.lease = leases.Lease(name=self.new_name().rsplit("_", 1)[0] + "_", kind="run", purpose="test",
                                  ttl=self.ttl)
        leases.register(self.conn, self.lease)  # a ServerError with the grant to ask for, if denied
        self.renewer = leases.Renewer(lambda: _admin_connect(self.server, self.tls), self.lease).start()

    def _end_lease(self) -> None:
        if self.renewer is not None:
            self.renewer.stop()
            self.lease_lost = self.renewer.lost.is_set()
            self.renewer = None
        if self.lease is not None and not self.kept:
            from .. import leases

            leases.release(self.conn, self.lease.name, self.lease.token)  # kept databases: reaped after the TTL
            self.lease = None

    def __exit__(self, *exc) -> None:
        self.close()

    # --- the work ----------------------------------------------------------------------------------
    def new_name(self) -> str:
        if self._stem is None:  # host tag and worker are fixed for the process; the pid may change (fork)
            self._stem = f"{self.prefix}_t_{host_tag()}_{worker_id()}_"
        return validate_database(f"{self._stem}{os.getpid()}_{secrets.token_hex(3)}")

    def create(self) -> EphemeralDatabase:
        """A fresh database (a copy of the template, if there is one)."""
        if self.recycler is not None:
            name = self.recycler.take()
        elif self._deferred is None:
            name = self.make(self.conn)
        else:
            self._collect()
            if not self._ready:  # more databases taken than made ahead: make one now
                self._send_batch(1)
                self._collect()
            name = self._ready.pop(0)
            self._send_batch(1)
        self.made.add(name)
        return self.database(name)

    def make_script(self, name: str) -> str:
        if self.plan is not None:
            from .templates import copy_script

            return copy_script(self.plan, name)
        return render("ephemeral", "create_database_as", database=name, charset="utf8mb4", collation=self.collation)

    def make(self, conn, name: str | None = None) -> str:
        """Make a database now, on ``conn`` (a multi-statement connection)."""
        name = name or self.new_name()
        with conn.cursor() as cursor:
            cursor.execute(self.make_script(name))
            while cursor.nextset():
                pass
        return name

    def database(self, name: str) -> EphemeralDatabase:
        url = replace(self.server.admin, database=name, scheme=self.scheme or self.server.admin.scheme,
                      query=tuple(self.server.admin.query) or (("charset", "utf8mb4"),))
        return EphemeralDatabase(name=name, url=URLString(url), tls=self.tls)

    def release(self, db: EphemeralDatabase | str) -> None:
        """The test is over: drop its database (with the next batch, when making ahead)."""
        name = db if isinstance(db, str) else db.name
        self.made.discard(name)
        if self.keep:
            self.kept.append(name)
        elif self.recycler is not None and name in self.recycler.owned:
            self.recycler.give_back(name)  # checked, and restored or replaced (restore.py)
        elif self._deferred is not None:
            self._released.append(name)
        else:
            self._drop_now(name)

    drop = release

    def _send_batch(self, count: int) -> None:
        names = [self.new_name() for _ in range(count)]
        drops = [render("ephemeral", "drop_database", database=name) for name in self._released]
        self._deferred.send(";\n".join(drops + [self.make_script(name) for name in names]),
                            f"making test database(s) {', '.join(names)} on {self.server.admin.redacted()}")
        self._released, self._sent = [], names

    def _collect(self) -> None:
        if self.recycler is not None:
            self.recycler.settle()
        if self._deferred is None:
            return
        sent, self._sent = self._sent, []
        try:
            self._deferred.collect()
        except BaseException:
            self._released.extend(sent)  # they may half exist: DROP IF EXISTS them later
            raise
        self._ready.extend(sent)

    def _drop_now(self, name: str) -> None:
        self._collect()
        with self.conn.cursor() as cursor:
            cursor.execute(render("ephemeral", "drop_database", database=name))
        self.made.discard(name)

    def sweep(self) -> list[str]:
        """Drop test databases whose owning process on this machine is gone."""
        self._collect()
        dropped = []
        with self.conn.cursor() as cursor:
            for (name,) in run(cursor, "ephemeral", "list_databases", {"pattern": like_pattern(self.prefix)}):
                if is_orphan(name, self.prefix):
                    cursor.execute(render("ephemeral", "drop_database", database=name))
                    dropped.append(name)
        return dropped

    # --- templates ------------------------------------------------------------------------------------
    def _prepare_template(self) -> None:
        from . import templates

        name = self.template.database_name(self.prefix, self.info.version)
        validate_database(name)
        self.template_name = name
        with self.conn.cursor() as cursor:
            got = run(cursor, "ephemeral", "get_lock", {"lock": name, "timeout": self.lock_timeout})[0][0]
            if got != 1:
                raise ServerError(f"waited {self.lock_timeout:.0f} s for another test run building template {name}",
                                  "check for a hung test run on this server")
            try:
                built = self._ensure_template(cursor, name)
            finally:
                run(cursor, "ephemeral", "release_lock", {"lock": name})
        plan = templates.capture(self.conn, name)
        templates.order_views(self.conn, plan, self.new_name())
        scratch = self.new_name()
        try:
            templates.prove_copy(self.conn, plan, scratch)
        finally:
            self._drop_now(scratch)
        self.plan = plan
        log.info("ephemeral: template %s %s (%d tables, %d seeded)", name,
                 "built" if built else "reused", len(plan.tables), len(plan.seeds))

    def _ensure_template(self, cursor, name: str) -> bool:
        from .templates import MARKER

        exists = run(cursor, "ephemeral", "database_charset", {"database": name})
        if exists:
            tables = {row[0] for row in run(cursor, "ephemeral", "tables", {"database": name})}
            if MARKER in tables:
                return False
            log.info("ephemeral: template %s is incomplete (a build was interrupted); rebuilding", name)
        cursor.execute(render("ephemeral", "drop_database", database=name))
        cursor.execute(render("ephemeral", "create_database_as", database=name, charset="utf8mb4",
                              collation=self.collation))
        try:
            self.template.setup(self.database(name))
            cursor.execute(f"CREATE TABLE {quote(name)}.{quote(MARKER)} (built_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)")
        except BaseException:
            cursor.execute(render("ephemeral", "drop_database", database=name))
            raise
        family = f"{self.prefix}_tpl_{self.template.family}_"
        for (other,) in run(cursor, "ephemeral", "list_databases", {"pattern": like_pattern(self.prefix, "tpl")}):
            if other.startswith(family) and other != name:
                cursor.execute(render("ephemeral", "drop_database", database=other))  # an older key
                log.info("ephemeral: dropped outdated template %s", other)
        return True


@contextlib.contextmanager
def ephemeral_database(server: Any = None, *, template: Any = None, prefix: str | None = None,
                       project_dir: Path | None = None) -> Iterator[EphemeralDatabase]:
    """A fresh database for the duration of the block, dropped after it.

    ``server``: None (``auto``: the dev server, else a throwaway native or docker server for
    the block), ``"native"``/``"docker"``/``"dev"``, an admin URL, a ``DatabaseURL``, a
    ``probe.Server`` or an ``EphemeralServer``. ``template``: an alembic.ini, a .sql file, a
    callable ``setup(db)`` or a ``templates.Template``: the database is a copy of it.
    """
    with contextlib.ExitStack() as stack:
        if server is None or isinstance(server, str):
            from .choose import open_server

            target = stack.enter_context(open_server(server or "auto", project_dir=project_dir,
                                                     template=template is not None))
        elif isinstance(server, DatabaseURL):
            target = EphemeralServer(kind="url", server=Server.from_url(server))
        else:
            target = server
        databases = stack.enter_context(Databases(target, prefix=prefix, template=template, pool=0,
                                                  project_dir=project_dir))
        db = databases.create()
        try:
            yield db
        finally:
            databases.release(db)
