"""A project on a team's shared server: its namespace and its lease, as ``up``, ``status``,
``destroy`` and ``reap`` use them (the registry itself is leases.py, the names namespaces.py)."""
from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import Any, Iterator

from . import leases
from .config import Settings, parse_ttl
from .state import StateDir


def recorded_namespace(settings: Settings, state: StateDir) -> Settings:
    """A later up without --namespace keeps the namespace the last one used (as it keeps the server)."""
    recorded = state.read().get("namespace")
    if settings.namespace or not recorded or "namespace" in settings.explicit:
        return settings
    from .namespaces import apply

    database, user = apply(settings.database, settings.user, recorded)
    return replace(settings, namespace=recorded, database=database, user=user)


def dev_lease(settings: Settings, state: StateDir, hosts) -> leases.Lease | None:
    """The lease ``up`` holds: --ttl, else the TTL a previous up recorded for this database."""
    recorded = state.read().get("lease") or {}
    if settings.ttl is not None:
        ttl = parse_ttl(settings.ttl)
    elif recorded.get("name") == settings.database:
        ttl = recorded["ttl"]
    else:
        return None
    # a namespace's lease covers its test databases too (<database>_*): its user's grants do
    return leases.Lease(name=settings.database, kind="namespace" if settings.namespace else "database",
                        purpose="dev", ttl=ttl, users=tuple((settings.user, host) for host in hosts),
                        namespace=settings.namespace)


@contextlib.contextmanager
def holding(conn, lease: leases.Lease | None) -> Iterator[None]:
    """Register the lease under the lock reapers take and keep the lock for the block (the converge):
    a reaper never drops what up is making, and a crash leaves nothing unleased."""
    if lease is None:
        yield
        return
    with leases.locked(conn, lease.name):
        leases.register(conn, lease)
        yield


def lease_info(conn, lease: leases.Lease | None) -> dict[str, Any] | None:
    return leases.get(conn, lease.name) if lease else None


def lease_summary(lease: dict[str, Any] | None) -> dict[str, Any] | None:
    if lease is None:
        return None
    return {"name": lease["name"], "ttl_seconds": lease["ttl_seconds"], "expires": lease["expires"],
            "renewed": lease["renewed"], "owner": lease["owner"], "host": lease["host"]}


def end_recorded_lease(backend, lease: dict[str, Any] | None) -> str | None:
    """destroy on a shared server: drop what the project's lease covers, and the lease."""
    if backend is None or not lease:
        return None
    conn = backend.server().connect()
    try:
        ended = leases.end(conn, lease["name"], lease["token"])
    finally:
        conn.close()
    if ended is None:
        return f"lease {lease['name']} was already gone (reaped or taken over)"
    dropped = [f"database {name}" for name in ended.databases] + [f"user {user}" for user in ended.users]
    return f"ended lease {lease['name']}: dropped " + (", ".join(dropped) or "nothing left")


def renew_recorded_lease(backend, lease: dict[str, Any]) -> dict[str, Any]:
    """Renew the lease the last up recorded (status renews, as up does); report, never fail."""
    try:
        conn = backend.server().connect(timeout=5)
    except Exception as exc:
        return {"name": lease["name"], "state": "unknown", "error": f"cannot reach the server: {exc}"}
    try:
        if not leases.renew(conn, lease["name"], lease["token"]):
            return {"name": lease["name"], "state": "lost",
                    "hint": "it expired and was reaped (or taken over): run provision up to make it again"}
        return {**lease_summary(leases.get(conn, lease["name"])), "state": "renewed"}
    except Exception as exc:  # status reports, it does not fail
        return {"name": lease["name"], "state": "unknown", "error": str(exc)}
    finally:
        conn.close()


def reap(server_url: str, *, dry_run: bool = False, purpose: str | None = None) -> list[dict[str, Any]]:
    """Drop the databases and users of the expired leases on the server of ``server_url`` (an admin)."""
    from .probe import login
    from .url import parse

    conn = login(parse(server_url), "reap", database=None)  # TLS when the server offers it: a shared server
    try:
        return [reaped.to_dict() for reaped in leases.reap(conn, dry_run=dry_run, purpose=purpose)]
    finally:
        conn.close()
