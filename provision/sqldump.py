"""SQL dumps without the server's tools: ``python_dump`` writes a database as SQL (SHOW CREATE
TABLE and INSERTs with driver-escaped values), ``split_statements`` reads a dump back into
statements the way the mysql client would (DELIMITER, quotes, comments)."""
from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import Iterable, Iterator

from .names import quote
from .sql import run

_INSERT_BYTES = 512 * 1024  # rows per INSERT statement, up to about this many bytes


def python_dump(conn, database: str, dump: Path) -> dict[str, int]:
    """Write ``database`` as SQL (tables, rows, routines, views, triggers, events) without a dump tool;
    return row counts."""
    import pymysql

    counts: dict[str, int] = {}
    with conn.cursor() as cursor:
        run(cursor, "workflow", "dump_session")
        run(cursor, "workflow", "consistent_snapshot")
        objects = run(cursor, "workflow", "tables", {"database": database})
        programs = stored_programs(cursor, database)
    with gzip.open(dump, "wt", encoding="utf-8", compresslevel=6) as out:
        out.write(f"-- provision snapshot of {database}\n"
                  "/*!40101 SET NAMES utf8mb4 */;\nSET FOREIGN_KEY_CHECKS=0;\nSET UNIQUE_CHECKS=0;\n"
                  "SET time_zone='+00:00';\nSET sql_mode='NO_AUTO_VALUE_ON_ZERO';\n\n")
        for table, kind in objects:
            if kind != "BASE TABLE":
                continue
            with conn.cursor() as cursor:
                create = run(cursor, "workflow", "show_create_table", database=database, table=table)[0][1]
                columns = [row[0] for row in run(cursor, "workflow", "insertable_columns",
                                                  {"database": database, "table": table})]
            out.write(f"DROP TABLE IF EXISTS {quote(table)};\n{create};\n")
            counts[table] = _write_rows(conn, pymysql.cursors.SSCursor, out, database, table, columns)
            out.write("\n")
        with conn.cursor() as cursor:
            # routines before views (a view may call a function), triggers and events after them
            routines = [p for p in programs if p[0] in ("procedure", "function")]
            _write_programs(cursor, out, routines)
            for table, kind in objects:
                if kind == "VIEW":
                    create = run(cursor, "workflow", "show_create_view", database=database, table=table)[0][1]
                    out.write(f"DROP VIEW IF EXISTS {quote(table)};\n{create};\n")
            _write_programs(cursor, out, [p for p in programs if p not in routines])
    conn.commit()
    return counts


def stored_programs(cursor, database: str) -> list[tuple[str, str, str, str, str | None]]:
    """(kind, name, sql_mode, CREATE statement, time zone or None) of the database's triggers,
    procedures, functions and events; triggers first, events last."""
    found: list[tuple[str, str, str, str, str | None]] = []
    for (trigger,) in run(cursor, "workflow", "triggers", {"database": database}):
        row = run(cursor, "workflow", "show_create_trigger", database=database, trigger=trigger)[0]
        found.append(("trigger", trigger, row[1], row[2], None))
    for name, kind in run(cursor, "workflow", "routines", {"database": database}):
        row = run(cursor, "workflow", f"show_create_{kind.lower()}", database=database, program=name)[0]
        found.append((kind.lower(), name, row[1], row[2], None))
    for (name,) in run(cursor, "workflow", "events", {"database": database}):
        row = run(cursor, "workflow", "show_create_event", database=database, program=name)[0]
        found.append(("event", name, row[1], row[3], row[2]))  # STARTS/ENDS are in the event's time zone
    return found


def _write_programs(cursor, out, programs) -> None:
    if not programs:
        return
    out.write("DELIMITER ;;\n")
    for _kind, _name, sql_mode, create, time_zone in programs:
        out.write(f"SET SESSION sql_mode = {cursor.mogrify('%s', (sql_mode,))};;\n")
        if time_zone is not None:
            out.write(f"SET SESSION time_zone = {cursor.mogrify('%s', (time_zone,))};;\n")
        out.write(f"{create.rstrip().removesuffix(';')};;\n")
    out.write("DELIMITER ;\n")


def _write_rows(conn, cursor_class, out, database: str, table: str, columns: list[str]) -> int:
    if not columns:
        return 0
    names = ", ".join(quote(c) for c in columns)
    prefix = f"INSERT INTO {quote(table)} ({names}) VALUES "
    count = 0
    batch: list[str] = []
    size = 0
    row_template = "(" + ",".join(["%s"] * len(columns)) + ")"
    with conn.cursor(cursor_class) as cursor, conn.cursor() as escaper:
        cursor.execute(f"SELECT {names} FROM {quote(database)}.{quote(table)}")
        for row in cursor:
            literal = escaper.mogrify(row_template, row)  # the driver's escaping, as execute() would do
            batch.append(literal)
            size += len(literal)
            count += 1
            if size >= _INSERT_BYTES:
                out.write(prefix + ",\n".join(batch) + ";\n")
                batch, size = [], 0
    if batch:
        out.write(prefix + ",\n".join(batch) + ";\n")
    return count



# --- SQL text -> statements ---------------------------------------------------------------
def split_statements(lines: Iterable[str]) -> Iterator[str]:
    """Statements of a SQL dump as the mysql client would send them (DELIMITER, quotes, comments)."""
    delimiter = ";"
    buffer = io.StringIO()
    quote_char: str | None = None
    in_comment = False
    for line in lines:
        if quote_char is None and not in_comment and _blank(buffer.getvalue()):
            stripped = line.strip()
            if stripped[:10].upper() == "DELIMITER " or stripped.upper() == "DELIMITER":
                parts = stripped.split(None, 1)
                if len(parts) == 2:
                    delimiter = parts[1]
                buffer = io.StringIO()
                continue
        start = i = 0
        length = len(line)
        while i < length:
            ch = line[i]
            if quote_char:
                if ch == "\\" and quote_char != "`":
                    i += 2
                    continue
                if ch == quote_char:
                    if i + 1 < length and line[i + 1] == quote_char:
                        i += 2
                        continue
                    quote_char = None
                i += 1
                continue
            if in_comment:
                if line.startswith("*/", i):
                    in_comment = False
                    i += 2
                    continue
                i += 1
                continue
            if ch in "'\"`":
                quote_char = ch
            elif line.startswith("/*", i) and not (line.startswith("/*!", i) or line.startswith("/*M!", i)):
                in_comment = True
                i += 2
                continue
            elif ch == "#" or (line.startswith("--", i) and (i + 2 >= length or line[i + 2] in " \t\r\n")):
                break  # the rest of the line is a comment
            elif line.startswith(delimiter, i):
                buffer.write(line[start:i])
                statement = buffer.getvalue().strip()
                if not _blank(statement):
                    yield statement
                buffer = io.StringIO()
                i += len(delimiter)
                start = i
                continue
            i += 1
        buffer.write(line[start:])
    rest = buffer.getvalue().strip()
    if not _blank(rest):
        yield rest


def _blank(text: str) -> bool:
    """Whitespace and comments only (-- and # to the end of the line, /* */ but not the executable
    /*! */ and /*M! */): the mysql client strips those, so a DELIMITER line after them is a command."""
    i, length = 0, len(text)
    while i < length:
        if text[i].isspace():
            i += 1
        elif text.startswith("/*", i) and not text.startswith(("/*!", "/*M!"), i):
            end = text.find("*/", i + 2)
            if end < 0:
                return True
            i = end + 2
        elif text[i] == "#" or (text.startswith("--", i) and (i + 2 >= length or text[i + 2] in " \t\r\n")):
            end = text.find("\n", i)
            if end < 0:
                return True
            i = end + 1
        else:
            return False
    return True
