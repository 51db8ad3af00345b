"""Leases: a registry on the server of what provision made there, for whom and until when.

On a shared server (a team's, a CI service, a managed one) nobody's laptop knows what a
crashed CI runner on another host left behind. So the server keeps the record, in the
table ``provision.leases``: the database (or the name prefix of a test run's databases),
the users made with it, owner, host, pid, purpose (dev or test), created, renewed and
expires. Every time is the server's (``UTC_TIMESTAMP``): clocks of hosts do not matter.

A lease is registered *before* its database and users are made, so a crash at any point
leaves nothing without a lease. ``up``/``status`` renew a dev lease; a pytest run renews
its test lease from a thread of the process that owns the databases (``Renewer``), so a
run killed with -9 stops renewing and expires.

``reap`` drops the databases and users of expired leases and nothing else. Concurrent
reapers and renewals on several hosts are kept apart by the server:

- a reaper takes the lease's named lock (``GET_LOCK``, without waiting: another reaper has
  it), then claims the lease with a compare-and-set ``UPDATE ... WHERE expires <= now``:
  a renewal that landed first makes the claim match no row, and the lease is skipped;
- a renewal is the compare-and-set ``UPDATE ... WHERE state = 'live'``: a lease a reaper
  claimed is never revived (the holder learns it lost the lease);
- ``up`` holds the same named lock while it registers and converges, so a reaper never
  drops a database that ``up`` is (re)making.
"""
from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import logging
import os
import secrets
import socket
import threading
from dataclasses import dataclass, field
from typing import Any, Iterator

from .config import parse_ttl  # noqa: F401  (re-exported: the plugin's --mysql-ttl)
from .errors import ConfigError, ServerError
from .names import escape_wildcards, validate_database
from .sql import run

log = logging.getLogger(__name__)

REGISTRY = "provision"  # the schema that holds the leases table
KINDS = ("database", "namespace", "run")
PURPOSES = ("dev", "test")
NO_SUCH_TABLE, TABLE_DENIED, DB_DENIED = 1146, 1142, 1044
UNKNOWN_DATABASE = 1049  # MySQL says this where MariaDB says NO_SUCH_TABLE (found by the server matrix)
_NEVER = {"mysql", "information_schema", "performance_schema", "sys", REGISTRY}


def lock_name(lease: str) -> str:
    # GET_LOCK names are at most 64 characters on MySQL; a lease name alone may be 64
    return "provision.lease." + hashlib.sha256(lease.encode()).hexdigest()[:40]


def owner_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name for this uid (a container): the uid says enough
        return f"uid{os.getuid()}"


@dataclass(frozen=True)
class Lease:
    """What a holder registers: ``name`` and ``kind`` say which databases, ``users`` which accounts."""

    name: str
    purpose: str
    ttl: int
    kind: str = "database"
    users: tuple[tuple[str, str], ...] = ()
    namespace: str | None = None
    owner: str = field(default_factory=owner_name)
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    token: str = field(default_factory=lambda: secrets.token_hex(16))

    def __post_init__(self):
        if self.kind not in KINDS or self.purpose not in PURPOSES:
            raise ValueError(f"lease kind {self.kind!r} / purpose {self.purpose!r}")
        _check_name(self.name, self.kind)

    def params(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "users": json.dumps([list(u) for u in self.users]),
                "namespace": self.namespace, "owner": self.owner[:128], "host": self.host[:255], "pid": self.pid,
                "purpose": self.purpose, "ttl": self.ttl, "token": self.token}

    def record(self) -> dict[str, Any]:
        """What a holder keeps to renew later (no secrets: the token only proves it is the same lease)."""
        return {"name": self.name, "token": self.token, "ttl": self.ttl, "kind": self.kind}


def _check_name(name: str, kind: str) -> None:
    if kind == "run":
        # a prefix such as ohdevel_t_ab12_main_4242_: its own databases only, never a bare word
        if not name.endswith("_") or len(name) < 8:
            raise ValueError(f"a run lease needs a name prefix ending in '_', not {name!r}")
        validate_database(name.rstrip("_"))
    else:
        validate_database(name)
    if name.lower().rstrip("_") in _NEVER:
        raise ConfigError(f"refusing a lease on {name!r}: it is a system schema or the lease registry")


# --- the registry --------------------------------------------------------------------------------
def ensure_registry(conn) -> None:
    """Create the ``provision`` schema and its ``leases`` table when they are missing."""
    with conn.cursor() as cursor:
        run(cursor, "leases", "create_schema", schema=REGISTRY)
        run(cursor, "leases", "create_table", schema=REGISTRY)


def registry_missing(exc: BaseException) -> bool:
    """The error says there is no registry here (or this login may not see it)."""
    from .probe import error_code

    return error_code(exc) in (NO_SUCH_TABLE, UNKNOWN_DATABASE, TABLE_DENIED, DB_DENIED)


@contextlib.contextmanager
def locked(conn, lease_name: str, *, timeout: float = 30.0) -> Iterator[None]:
    """Hold the lease's server-side lock (what reapers take) for the block."""
    with conn.cursor() as cursor:
        got = run(cursor, "leases", "get_lock", {"lock": lock_name(lease_name), "timeout": timeout})[0][0]
    if got != 1:
        raise ServerError(f"waited {timeout:.0f} s for the lock of lease {lease_name} (a reaper or another up "
                          "holds it)", "run it again in a moment")
    try:
        yield
    finally:
        with conn.cursor() as cursor:
            run(cursor, "leases", "release_lock", {"lock": lock_name(lease_name)})


def register(conn, lease: Lease) -> None:
    """Record the lease (or take over an existing one of that name), live for ``ttl`` from now.
    The registry is made on the first registration on a server (not checked every time: 2 DDL round trips)."""
    from .probe import error_code

    with conn.cursor() as cursor:
        try:
            try:
                run(cursor, "leases", "register", lease.params(), schema=REGISTRY)
                return
            except Exception as exc:
                if error_code(exc) not in (NO_SUCH_TABLE, UNKNOWN_DATABASE):
                    raise
            ensure_registry(conn)
            run(cursor, "leases", "register", lease.params(), schema=REGISTRY)
        except Exception as exc:
            if error_code(exc) not in (TABLE_DENIED, DB_DENIED):
                raise
            raise ServerError.registry_denied(conn.user, exc) from exc


def renew(conn, name: str, token: str) -> bool:
    """Push the lease's expiry ``ttl`` past now. False: it is gone or claimed by a reaper."""
    with conn.cursor() as cursor:
        cursor.execute(_render("renew"), {"name": name, "token": token})
        return cursor.rowcount == 1


def release(conn, name: str, token: str) -> None:
    """The holder cleaned up itself: the lease goes (only if it is still this holder's)."""
    with conn.cursor() as cursor:
        run(cursor, "leases", "release", {"name": name, "token": token}, schema=REGISTRY)


def get(conn, name: str) -> dict[str, Any] | None:
    with conn.cursor() as cursor:
        cursor.execute(_render("get"), {"name": name})
        row = cursor.fetchone()
        columns = [c[0] for c in cursor.description] if row else []
    return _as_dict(columns, row) if row else None


def list_leases(conn) -> list[dict[str, Any]]:
    with conn.cursor() as cursor:
        cursor.execute(_render("all"), {})
        columns = [c[0] for c in cursor.description]
        return [_as_dict(columns, row) for row in cursor.fetchall()]


def _render(name: str) -> str:
    from .sql import render

    return render("leases", name, schema=REGISTRY)


def _as_dict(columns, row) -> dict[str, Any]:
    data = dict(zip(columns, row))
    data["users"] = [tuple(u) for u in json.loads(data["users"] or "[]")]
    for key in ("created", "renewed", "expires"):
        data[key] = data[key].isoformat() + "Z" if data.get(key) else None
    data["seconds_left"] = float(data["seconds_left"]) if data.get("seconds_left") is not None else None
    return data


# --- reaping ---------------------------------------------------------------------------------------
@dataclass
class Reaped:
    """One expired lease a reaper handled: what it dropped (or, dry, would drop)."""

    name: str
    kind: str
    purpose: str
    owner: str
    host: str
    expired: str
    databases: list[str]
    users: list[str]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def covered_databases(cursor, name: str, kind: str) -> list[str]:
    """The databases a lease covers that exist now."""
    found = []
    if kind in ("database", "namespace"):
        found += [row[0] for row in run(cursor, "leases", "database_exists", {"name": name})]
    if kind == "namespace":
        found += [row[0] for row in run(cursor, "leases", "databases_like",
                                        {"pattern": escape_wildcards(name + "_") + "%"})]
    if kind == "run":
        found += [row[0] for row in run(cursor, "leases", "databases_like",
                                        {"pattern": escape_wildcards(name) + "%"})]
    return [db for db in dict.fromkeys(found) if db.lower() not in _NEVER]


def reap(conn, *, dry_run: bool = False, purpose: str | None = None) -> list[Reaped]:
    """Drop the databases and users of every lease expired now (of ``purpose``, if given).

    ``conn``: an admin connection (autocommit). Returns what was dropped. A lease that is
    renewed, or that another reaper is working on, is left alone.
    """
    with conn.cursor() as cursor:
        try:
            cursor.execute(_render("expired"), {})
        except Exception as exc:
            if registry_missing(exc):
                return []  # no registry here: nothing was ever leased (or this login cannot see it)
            raise
        names = [row[0] for row in cursor.fetchall()]
    done = []
    for name in names:
        reaped = _reap_one(conn, name, dry_run=dry_run, purpose=purpose)
        if reaped is not None:
            done.append(reaped)
    return done


def end(conn, name: str, token: str) -> Reaped | None:
    """The holder is done (``provision destroy``): expire its own lease now and reap it, by the
    reaper's rules (the lock, the claim), so what it covers goes exactly as a reaper would drop it."""
    with conn.cursor() as cursor:
        cursor.execute(_render("expire"), {"name": name, "token": token})
        if cursor.rowcount != 1:
            return None  # not ours any more (reaped, or taken over by another up)
    return _reap_one(conn, name, dry_run=False, purpose=None)


def _reap_one(conn, name: str, *, dry_run: bool, purpose: str | None) -> Reaped | None:
    lock = lock_name(name)
    with conn.cursor() as cursor:
        if run(cursor, "leases", "get_lock", {"lock": lock, "timeout": 0})[0][0] != 1:
            return None  # another reaper (or an up re-making it) holds it
        try:
            lease = get(conn, name)
            if lease is None or lease["seconds_left"] > 0 or (purpose and lease["purpose"] != purpose):
                return None  # gone, renewed since the list was read, or not ours to reap
            if not _plausible(lease):
                return None  # a row provision would never write (edited by hand): touch nothing
            claim = {"name": name, "claim": secrets.token_hex(16)}
            if not dry_run:
                cursor.execute(_render("claim"), claim)
                if cursor.rowcount != 1:
                    return None  # renewed in between: the compare-and-set matched nothing
            databases = covered_databases(cursor, name, lease["kind"])
            users = [f"{user}@{host}" for user, host in lease["users"]]
            if not dry_run:
                for database in databases:
                    run(cursor, "leases", "drop_database", database=database)
                for user, host in lease["users"]:
                    run(cursor, "leases", "drop_user", {"user": user, "host": host})
                cursor.execute(_render("forget"), claim)
            log.info("reap: %s lease %s of %s@%s expired %s: %s", lease["purpose"], name, lease["owner"],
                     lease["host"], lease["expires"], ", ".join(databases + users) or "nothing left to drop")
            return Reaped(name=name, kind=lease["kind"], purpose=lease["purpose"], owner=lease["owner"],
                          host=lease["host"], expired=lease["expires"], databases=databases, users=users)
        finally:
            run(cursor, "leases", "release_lock", {"lock": lock})


def _plausible(lease: dict[str, Any]) -> bool:
    """The registry is read back as untrusted: the same checks as when a lease is made."""
    from .names import validate_user

    try:
        if lease["kind"] not in KINDS:
            raise ValueError(lease["kind"])
        _check_name(lease["name"], lease["kind"])
        for user, _host in lease["users"]:
            validate_user(user)  # never root, mysql.sys and the like
    except (ValueError, ConfigError) as exc:
        log.warning("reap: skipping lease %r: %s", lease.get("name"), exc)
        return False
    return True


# --- renewing from a live process ------------------------------------------------------------------
class Renewer:
    """Renews one lease every third of its TTL from a daemon thread of this process.

    The thread dies with the process, so a run killed with -9 stops renewing and its lease
    expires. It uses a connection of its own (``connect()`` makes one) and never the
    caller's. ``lost`` is set when a renewal found the lease claimed or gone.
    """

    def __init__(self, connect, lease: Lease):
        self.connect = connect
        self.lease = lease
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.renewals = 0

    def start(self) -> "Renewer":
        self._thread = threading.Thread(target=self._loop, name=f"provision-lease-{self.lease.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        period = max(0.2, self.lease.ttl / 3)
        conn = None
        while not self._stop.wait(period):
            try:
                conn = conn or self.connect()
                if renew(conn, self.lease.name, self.lease.token):
                    self.renewals += 1
                    continue
                log.warning("lease %s was claimed by a reaper or removed: its databases are gone", self.lease.name)
                self.lost.set()
                return
            except Exception as exc:  # the server went away for a moment: try again next period
                log.warning("renewing lease %s failed: %s", self.lease.name, exc)
                with contextlib.suppress(Exception):
                    conn.close()
                conn = None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
