-- Ephemeral test databases: make, copy, drop and sweep them.
-- {name} placeholders are identifiers (validated, backtick-quoted by provision/sql.py);
-- %(name)s placeholders are values passed to the driver.

-- name: list_databases
-- our names only: the pattern is '<prefix>\_t\_%' or '<prefix>\_tpl\_%'
SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE %(pattern)s ORDER BY SCHEMA_NAME;

-- name: create_database
CREATE DATABASE {database};

-- name: create_database_as
CREATE DATABASE {database} CHARACTER SET {charset} COLLATE {collation};

-- name: drop_database
DROP DATABASE IF EXISTS {database};

-- name: database_charset
SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA
 WHERE SCHEMA_NAME = %(database)s;

-- name: get_lock
-- a server-side lock: released by the server when the holder's connection dies
SELECT GET_LOCK(%(lock)s, %(timeout)s);

-- name: release_lock
SELECT RELEASE_LOCK(%(lock)s);

-- name: tables
SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = %(database)s
 ORDER BY TABLE_NAME;

-- name: show_create_table
SHOW CREATE TABLE {database}.{table};

-- name: show_create_view
SHOW CREATE VIEW {database}.{table};

-- name: triggers
SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %(database)s
 ORDER BY EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER;

-- name: show_create_trigger
SHOW CREATE TRIGGER {database}.{trigger};

-- name: routines
SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = %(database)s
 ORDER BY ROUTINE_TYPE, ROUTINE_NAME;

-- name: show_create_procedure
SHOW CREATE PROCEDURE {database}.{routine};

-- name: show_create_function
SHOW CREATE FUNCTION {database}.{routine};

-- name: events
SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %(database)s ORDER BY EVENT_NAME;

-- name: show_create_event
SHOW CREATE EVENT {database}.{event};

-- name: insertable_columns
-- generated columns cannot be inserted into; invisible ones are missed by SELECT *
SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS
 WHERE TABLE_SCHEMA = %(database)s AND EXTRA NOT LIKE '%%GENERATED%%'
 ORDER BY TABLE_NAME, ORDINAL_POSITION;

-- name: has_rows
SELECT EXISTS (SELECT 1 FROM {database}.{table});

-- name: fingerprint_columns
SELECT TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA,
       CHARACTER_SET_NAME, COLLATION_NAME
  FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %(database)s ORDER BY TABLE_NAME, ORDINAL_POSITION;

-- name: fingerprint_indexes
SELECT TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME, NON_UNIQUE, INDEX_TYPE
  FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = %(database)s
 ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX;

-- name: fingerprint_foreign_keys
SELECT TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME
  FROM information_schema.KEY_COLUMN_USAGE
 WHERE TABLE_SCHEMA = %(database)s AND REFERENCED_TABLE_NAME IS NOT NULL
 ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION;

-- name: fingerprint_tables
-- (AUTO_INCREMENT is compared through SHOW CREATE TABLE: MySQL 8 caches it here)
SELECT TABLE_NAME, TABLE_TYPE, ENGINE, TABLE_COLLATION
  FROM information_schema.TABLES WHERE TABLE_SCHEMA = %(database)s ORDER BY TABLE_NAME;

-- name: fingerprint_triggers
SELECT TRIGGER_NAME, EVENT_MANIPULATION, EVENT_OBJECT_TABLE, ACTION_TIMING, ACTION_STATEMENT
  FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %(database)s ORDER BY TRIGGER_NAME;

-- name: fingerprint_routines
SELECT ROUTINE_NAME, ROUTINE_TYPE, ROUTINE_DEFINITION
  FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = %(database)s ORDER BY ROUTINE_NAME;

-- name: fingerprint_events
SELECT EVENT_NAME, EVENT_DEFINITION, EVENT_TYPE, INTERVAL_VALUE, INTERVAL_FIELD, STATUS, ON_COMPLETION
  FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %(database)s ORDER BY EVENT_NAME;

-- name: checksum_table
CHECKSUM TABLE {database}.{table};
