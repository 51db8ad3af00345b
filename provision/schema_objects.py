"""What ``RENAME TABLE`` cannot move to another database: views, triggers, routines, events.

Checked on MariaDB 10.11 and MySQL 9.7: renaming a table that has triggers into another
database fails with 1435 (*Trigger in wrong schema*), a view with 1450 (*Changing schema
... is not allowed*), and routines and events belong to their database. Foreign keys are
different: they follow their tables (a key between two tables renamed together still
points at its neighbour), so they need nothing here.

``read`` keeps each object as the server's own CREATE statement (with the ``sql_mode`` and
``time_zone`` it was made under), ``drop`` removes them, ``create`` makes them again in
another database. Statements are read with the database as the default one, so they
name their tables without a schema and land wherever they are replayed.
"""
from __future__ import annotations

from dataclasses import dataclass

from .sql import run

# creation order: routines before the views and triggers that call them, events last
KINDS = ("procedure", "function", "view", "trigger", "event")


@dataclass(frozen=True)
class SchemaObject:
    kind: str
    name: str
    definition: str
    sql_mode: str | None = None
    time_zone: str | None = None


def read(cursor, database: str, kinds: tuple[str, ...] = KINDS) -> list[SchemaObject]:
    """The views, triggers, routines and events of ``database`` (only ``kinds``), in creation order."""
    run(cursor, "branches", "use_database", database=database)  # statements without the schema name
    found: list[SchemaObject] = []
    for kind, name in run(cursor, "branches", "routines", {"database": database}):
        kind = kind.lower()
        row = run(cursor, "branches", f"show_create_{kind}", database=database, object=name)[0]
        if row[2] is None:
            raise PermissionError(f"the admin login cannot read the body of {kind} {database}.{name}")
        found.append(SchemaObject(kind, name, row[2], row[1]))
    for (name,) in run(cursor, "branches", "views", {"database": database}):
        found.append(SchemaObject("view", name, run(cursor, "branches", "show_create_view", database=database,
                                                     object=name)[0][1]))
    for (name,) in run(cursor, "branches", "triggers", {"database": database}):
        row = run(cursor, "branches", "show_create_trigger", database=database, object=name)[0]
        found.append(SchemaObject("trigger", name, row[2], row[1]))
    for (name,) in run(cursor, "branches", "events", {"database": database}):
        row = run(cursor, "branches", "show_create_event", database=database, object=name)[0]
        found.append(SchemaObject("event", name, row[3], row[1], row[2]))
    return sorted((o for o in found if o.kind in kinds), key=lambda o: KINDS.index(o.kind))


def drop(cursor, database: str, objects: list[SchemaObject]) -> None:
    for obj in reversed(objects):
        run(cursor, "branches", f"drop_{obj.kind}", database=database, object=obj.name)


def create(cursor, database: str, objects: list[SchemaObject], *, keep_going: bool = False
           ) -> list[tuple[SchemaObject, Exception]]:
    """Make ``objects`` in ``database``, replacing any of the same name (so a repair can replay it).

    With ``keep_going``, an object the server refuses is skipped and returned with its error
    (a switch that already moved the tables must finish); otherwise the error is raised.
    """
    failed: list[tuple[SchemaObject, Exception]] = []
    if not objects:
        return failed

    def make(obj: SchemaObject) -> None:
        try:
            _create_one(cursor, obj, mode, zone)
        except Exception as exc:
            if not keep_going:
                raise
            failed.append((obj, exc))

    run(cursor, "branches", "use_database", database=database)
    mode, zone = run(cursor, "branches", "current_mode")[0]
    try:
        drop(cursor, database, objects)
        pending = [o for o in objects if o.kind != "view"]
        views = [o for o in objects if o.kind == "view"]
        for obj in [o for o in pending if o.kind in ("procedure", "function")]:
            make(obj)
        while views:  # a view may select from another: create until nothing more can be
            stuck = []
            for obj in views:
                try:
                    _create_one(cursor, obj, mode, zone)
                except Exception:
                    stuck.append(obj)
            if len(stuck) == len(views):
                for obj in stuck:
                    make(obj)  # raises the real error, or records it
                break
            views = stuck
        for obj in [o for o in pending if o.kind in ("trigger", "event")]:
            make(obj)
    finally:
        run(cursor, "branches", "session_mode", {"sql_mode": mode, "time_zone": zone})
    return failed


def _create_one(cursor, obj: SchemaObject, mode: str, zone: str) -> None:
    run(cursor, "branches", "session_mode", {"sql_mode": obj.sql_mode if obj.sql_mode is not None else mode,
                                             "time_zone": obj.time_zone or zone})
    cursor.execute(obj.definition)
