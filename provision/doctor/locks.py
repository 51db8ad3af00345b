"""The doctor's metadata-lock check, and ``kill_blockers`` (the one doctor action that changes
something; the CLI asks first)."""
from __future__ import annotations

import contextlib
import logging
from typing import Any, Iterator

from ..config import Settings
from ..probe import error_code
from ..sql import run
from .findings import ERROR, OK, WARN, Context, Finding, load_context

log = logging.getLogger(__name__)

IDLE_TRANSACTION_WARN = 60  # seconds an idle session may keep a transaction open before we mention it


def kill_blockers(settings: Settings, ids: list[int] | None = None) -> list[dict[str, Any]]:
    """End the sessions that block metadata-lock waiters now (only those in ``ids`` when given)."""
    ctx = load_context(settings)
    if ctx.admin is None:
        return []
    killed = []
    try:
        for finding in check_locks(ctx):
            for blocker in finding.details.get("blockers", []):
                if ids is not None and blocker["id"] not in ids:
                    continue
                with ctx.admin.cursor() as cursor:
                    try:
                        run(cursor, "diagnostics", "kill", {"id": blocker["id"]})
                    except Exception as exc:
                        if error_code(exc) != 1094:  # unknown thread: it ended by itself
                            raise
                killed.append(blocker)
                log.info("killed session %s (%s)", blocker["id"], blocker["user"])
    finally:
        ctx.admin.close()
    return killed



def check_locks(ctx: Context) -> Iterator[Finding]:
    conn = ctx.conn()
    if conn is None:
        return
    with conn.cursor() as cursor:
        own = conn.thread_id()
        sessions = {row[0]: _session(row) for row in run(cursor, "diagnostics", "processlist") if row[0] != own}
        transactions = {row[0]: {"trx_started": str(row[1]), "trx_age": int(row[2] or 0), "trx_query": row[3]}
                        for row in run(cursor, "diagnostics", "open_transactions")}
        for session_id, trx in transactions.items():
            if session_id in sessions:
                sessions[session_id].update(trx)
        waiters = [s for s in sessions.values() if "metadata lock" in (s["state"] or "").lower()
                   and (ctx.database is None or s["db"] == ctx.database or ctx.database in (s["info"] or ""))]
        if not waiters:
            idle = [s for s in sessions.values() if s["command"] == "Sleep" and s.get("trx_age", 0)
                    >= IDLE_TRANSACTION_WARN and (ctx.database is None or s["db"] in (ctx.database, None))]
            if idle:
                yield Finding("locks", WARN, "no session waits for a lock, but " + "; ".join(
                    f"session {s['id']} ({s['user']}@{s['host']}) has been idle in an open transaction for "
                    f"{s['trx_age']} s" for s in idle[:3]) + ": the next ALTER on a table it read will wait for it",
                    "commit or roll back in that client, or KILL " + str(idle[0]["id"]),
                    {"idle_transactions": idle})
            else:
                yield Finding("locks", OK, "no session waits for a metadata lock")
            return
        edges, source = _lock_edges(cursor, waiters, sessions)
    blockers: dict[int, dict[str, Any]] = {}
    lines = []
    for waiter in waiters:
        holding = [sessions[b] for b, obj in edges.get(waiter["id"], []) if b in sessions]
        objects = sorted({obj for _b, obj in edges.get(waiter["id"], []) if obj})
        on = f" on {', '.join(objects)}" if objects else ""
        query = _short(waiter["info"])
        if holding:
            names = "; ".join(_describe_session(s) for s in holding)
            lines.append(f"session {waiter['id']} ({query}) has waited {waiter['time']} s for a metadata lock{on} "
                         f"held by {names}")
            for s in holding:
                blockers[s["id"]] = s
        else:
            lines.append(f"session {waiter['id']} ({query}) has waited {waiter['time']} s for a metadata lock{on}; "
                         "the holder cannot be seen")
    ids = sorted(blockers)
    if ids:
        fix = (f"provision doctor --kill-blockers   (asks, then ends session{'s' if len(ids) > 1 else ''} "
               f"{', '.join(map(str, ids))});  or KILL {ids[0]};  or commit/roll back in the client that holds it")
    else:
        fix = ("find the session with an open transaction in SHOW PROCESSLIST and end it; for exact holders "
               "enable performance_schema (MySQL) or INSTALL SONAME 'metadata_lock_info' (MariaDB)")
    likely = " (likely: sessions with a transaction open since before the wait; the server shows no lock table)" \
        if source == "innodb_trx" and ids else ""
    yield Finding("locks", ERROR, "; ".join(lines) + likely + ". A migration that hangs is waiting like this.",
                  fix, {"waiters": waiters, "blockers": [blockers[i] for i in ids], "source": source})


def _session(row) -> dict[str, Any]:
    session_id, user, host, db, command, time, state, info = row
    return {"id": int(session_id), "user": user, "host": (host or "").rsplit(":", 1)[0], "db": db,
            "command": command, "time": int(time or 0), "state": state, "info": info}


def _describe_session(s: dict[str, Any]) -> str:
    if s["command"] == "Sleep":
        doing = f"idle for {s['time']} s" + (f" in a transaction open for {s['trx_age']} s"
                                             if "trx_age" in s else "")
    else:
        doing = f"running {_short(s['info'])} for {s['time']} s"
    return f"session {s['id']} (user {s['user']}@{s['host']}, {doing})"


def _short(text: str | None, limit: int = 70) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _lock_edges(cursor, waiters, sessions) -> tuple[dict[int, list[tuple[int, str]]], str]:
    """waiter id -> [(blocking session id, 'schema.table')], and where that came from."""
    waiting_ids = {w["id"] for w in waiters}
    edges: dict[int, list[tuple[int, str]]] = {}
    with contextlib.suppress(Exception):
        if run(cursor, "diagnostics", "performance_schema_on")[0][0]:
            rows = run(cursor, "diagnostics", "pfs_lock_waits")
            for waiting, schema, table, blocking, _kind in rows:
                if waiting in waiting_ids and blocking != waiting:
                    edges.setdefault(int(waiting), []).append((int(blocking), f"{schema}.{table}"))
            if edges:
                return _prefer_non_waiting(edges, waiting_ids), "performance_schema"
    with contextlib.suppress(Exception):
        if run(cursor, "diagnostics", "mdl_plugin_active"):
            held: dict[tuple[str, str], set[int]] = {}
            for thread, _mode, schema, table in run(cursor, "diagnostics", "mdl_info"):
                held.setdefault((schema, table), set()).add(int(thread))
            for waiter in waiters:
                for obj, threads in held.items():
                    if waiter["id"] in threads:
                        for other in threads - {waiter["id"]}:
                            edges.setdefault(waiter["id"], []).append((other, ".".join(obj)))
            if edges:
                return _prefer_non_waiting(edges, waiting_ids), "metadata_lock_info"
    # no lock tables: sessions whose transaction began before the waiter started waiting
    for waiter in waiters:
        for s in sessions.values():
            if s["id"] in waiting_ids or "trx_age" not in s:
                continue
            if s["trx_age"] >= waiter["time"]:
                edges.setdefault(waiter["id"], []).append((s["id"], ""))
    return edges, "innodb_trx"


def _prefer_non_waiting(edges, waiting_ids):
    """A queued waiter holds locks too; name the sessions that are not waiting when there are any."""
    result = {}
    for waiter, pairs in edges.items():
        active = [(b, o) for b, o in pairs if b not in waiting_ids]
        result[waiter] = active or pairs
    return result


