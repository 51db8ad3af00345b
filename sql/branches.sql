-- Branch databases: the live branch's tables are in the app's database; parked branches
-- live in databases named provision_br_<project>_<branch>_<random>, each with a
-- provision_branch table that labels it and keeps what RENAME TABLE cannot move.
-- {name} placeholders are identifiers, validated and backtick-quoted by provision/sql.py;
-- %(name)s placeholders are values, passed to the driver as parameters.

-- name: get_lock
SELECT GET_LOCK(%(name)s, %(seconds)s);

-- name: release_lock
SELECT RELEASE_LOCK(%(name)s);

-- name: databases_like
SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE %(pattern)s ORDER BY SCHEMA_NAME;

-- name: database_exists
SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %(database)s;

-- name: base_tables
SELECT TABLE_NAME FROM information_schema.TABLES
 WHERE TABLE_SCHEMA = %(database)s AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME;

-- name: size
SELECT COUNT(*), COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) FROM information_schema.TABLES
 WHERE TABLE_SCHEMA = %(database)s AND TABLE_TYPE = 'BASE TABLE' AND TABLE_NAME <> 'provision_branch';

-- name: views
SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = %(database)s ORDER BY TABLE_NAME;

-- name: triggers
SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %(database)s ORDER BY TRIGGER_NAME;

-- name: routines
SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES
 WHERE ROUTINE_SCHEMA = %(database)s ORDER BY ROUTINE_TYPE, ROUTINE_NAME;

-- name: events
SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %(database)s ORDER BY EVENT_NAME;

-- name: show_create_view
SHOW CREATE VIEW {database}.{object};

-- name: show_create_trigger
SHOW CREATE TRIGGER {database}.{object};

-- name: show_create_procedure
SHOW CREATE PROCEDURE {database}.{object};

-- name: show_create_function
SHOW CREATE FUNCTION {database}.{object};

-- name: show_create_event
SHOW CREATE EVENT {database}.{object};

-- name: drop_view
DROP VIEW IF EXISTS {database}.{object};

-- name: drop_trigger
DROP TRIGGER IF EXISTS {database}.{object};

-- name: drop_procedure
DROP PROCEDURE IF EXISTS {database}.{object};

-- name: drop_function
DROP FUNCTION IF EXISTS {database}.{object};

-- name: drop_event
DROP EVENT IF EXISTS {database}.{object};

-- name: use_database
USE {database};

-- name: session_mode
SET SESSION sql_mode = %(sql_mode)s, SESSION time_zone = %(time_zone)s;

-- name: current_mode
SELECT @@SESSION.sql_mode, @@SESSION.time_zone;

-- name: create_database
CREATE DATABASE {database} CHARACTER SET {charset} COLLATE {collation};

-- name: drop_database
DROP DATABASE IF EXISTS {database};

-- name: create_label
-- one row per object RENAME TABLE cannot move, plus the row that says whose database this is
CREATE TABLE {database}.provision_branch (
  seq INT NOT NULL PRIMARY KEY,
  kind VARCHAR(16) NOT NULL,
  name VARCHAR(255) NOT NULL,
  sql_mode TEXT,
  time_zone VARCHAR(64),
  definition LONGTEXT NOT NULL
) CHARACTER SET utf8mb4;

-- name: insert_label
INSERT INTO {database}.provision_branch (seq, kind, name, sql_mode, time_zone, definition)
VALUES (%(seq)s, %(kind)s, %(name)s, %(sql_mode)s, %(time_zone)s, %(definition)s);

-- name: read_label
SELECT kind, name, sql_mode, time_zone, definition FROM {database}.provision_branch ORDER BY seq;

-- name: has_label
SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %(database)s AND TABLE_NAME = 'provision_branch';

-- name: show_create_table
SHOW CREATE TABLE {database}.{table};

-- name: insertable_columns
-- generated columns are computed by the server and cannot be inserted
SELECT COLUMN_NAME FROM information_schema.COLUMNS
 WHERE TABLE_SCHEMA = %(database)s AND TABLE_NAME = %(table)s
   AND EXTRA NOT LIKE '%%VIRTUAL GENERATED%%' AND EXTRA NOT LIKE '%%STORED GENERATED%%'
   AND EXTRA NOT LIKE '%%PERSISTENT%%'
 ORDER BY ORDINAL_POSITION;

-- name: copy_session
-- rows are copied as they are: keys checked already, ids of 0 kept
SET SESSION foreign_key_checks = 0, SESSION unique_checks = 0,
    SESSION sql_mode = CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), 'NO_AUTO_VALUE_ON_ZERO');

-- name: copy_session_end
SET SESSION foreign_key_checks = 1, SESSION unique_checks = 1, SESSION sql_mode = %(sql_mode)s;

-- name: lock_wait_timeout
SET SESSION lock_wait_timeout = %(seconds)s;

-- name: has_alembic_version
SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %(database)s AND TABLE_NAME = 'alembic_version';

-- name: alembic_version
SELECT version_num FROM {database}.alembic_version ORDER BY version_num;

-- name: rename_pair
{source_db}.{source} TO {target_db}.{target}
