-- Statements of the migration workflow: reset, snapshots, shell.
-- {name} placeholders are identifiers, validated and backtick-quoted by provision/sql.py;
-- %(name)s placeholders are values, passed to the driver as parameters.

-- name: database_defaults
SELECT DEFAULT_CHARACTER_SET_NAME AS charset, DEFAULT_COLLATION_NAME AS collation
  FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %(database)s;

-- name: drop_database
DROP DATABASE IF EXISTS {database};

-- name: create_database
CREATE DATABASE {database} CHARACTER SET {charset} COLLATE {collation};

-- name: alter_database
ALTER DATABASE {database} CHARACTER SET {charset} COLLATE {collation};

-- name: tables
SELECT TABLE_NAME AS name, TABLE_TYPE AS type FROM information_schema.TABLES
 WHERE TABLE_SCHEMA = %(database)s ORDER BY TABLE_NAME;

-- name: triggers
SELECT TRIGGER_NAME AS name FROM information_schema.TRIGGERS
 WHERE TRIGGER_SCHEMA = %(database)s ORDER BY TRIGGER_NAME;

-- name: routines
SELECT ROUTINE_NAME AS name, ROUTINE_TYPE AS type FROM information_schema.ROUTINES
 WHERE ROUTINE_SCHEMA = %(database)s ORDER BY ROUTINE_TYPE, ROUTINE_NAME;

-- name: events
SELECT EVENT_NAME AS name FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %(database)s ORDER BY EVENT_NAME;

-- name: show_create_procedure
SHOW CREATE PROCEDURE {database}.{program};

-- name: show_create_function
SHOW CREATE FUNCTION {database}.{program};

-- name: show_create_event
SHOW CREATE EVENT {database}.{program};

-- name: drop_procedure
DROP PROCEDURE IF EXISTS {database}.{program};

-- name: drop_function
DROP FUNCTION IF EXISTS {database}.{program};

-- name: drop_event
DROP EVENT IF EXISTS {database}.{program};

-- name: count_rows
SELECT COUNT(*) FROM {database}.{table};

-- name: has_alembic_version
SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %(database)s AND TABLE_NAME = 'alembic_version';

-- name: alembic_version
SELECT version_num FROM {database}.alembic_version ORDER BY version_num;

-- name: show_create_table
SHOW CREATE TABLE {database}.{table};

-- name: show_create_view
SHOW CREATE VIEW {database}.{table};

-- name: show_create_trigger
SHOW CREATE TRIGGER {database}.{trigger};

-- name: drop_view
DROP VIEW IF EXISTS {database}.{table};

-- name: drop_trigger
DROP TRIGGER IF EXISTS {database}.{trigger};

-- name: use_database
USE {database};

-- name: insertable_columns
-- generated columns are computed by the server and cannot be inserted
SELECT COLUMN_NAME FROM information_schema.COLUMNS
 WHERE TABLE_SCHEMA = %(database)s AND TABLE_NAME = %(table)s
   AND EXTRA NOT LIKE '%%VIRTUAL GENERATED%%' AND EXTRA NOT LIKE '%%STORED GENERATED%%'
   AND EXTRA NOT LIKE '%%PERSISTENT%%'
 ORDER BY ORDINAL_POSITION;

-- name: consistent_snapshot
START TRANSACTION WITH CONSISTENT SNAPSHOT;

-- name: dump_session
SET SESSION time_zone = '+00:00', SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO';

-- name: lock_wait_timeout
SET SESSION lock_wait_timeout = %(seconds)s;

-- name: rename_pair
{source_db}.{source} TO {target_db}.{target}
