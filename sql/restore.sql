-- Restoring a test database to its template's state (provision/testing/restore.py).
-- {name} placeholders are identifiers (validated, backtick-quoted by provision/sql.py);
-- %(name)s placeholders are values, filled in by the driver (cursor.mogrify).

-- name: table_fingerprint
-- One row per part of the schema: how many rows and an XOR of their 60-bit hashes. Any DDL
-- on the database (a table added, dropped, renamed or altered; an index, key, check, view,
-- trigger, routine or event changed) changes a row. The database's own name is removed from
-- definitions, so a copy and its template compare equal. QUOTE() keeps NULL apart from 'NULL'.
SELECT 'tables', COUNT(*), BIT_XOR(CAST(CONV(LEFT(SHA2(CONCAT_WS(',',
       QUOTE(TABLE_NAME), QUOTE(TABLE_TYPE), QUOTE(ENGINE), QUOTE(TABLE_COLLATION), QUOTE(CREATE_OPTIONS),
       QUOTE(TABLE_COMMENT)), 256), 15), 16, 10) AS UNSIGNED))
  FROM information_schema.TABLES WHERE TABLE_SCHEMA = %(database)s
UNION ALL
SELECT 'columns', COUNT(*), BIT_XOR(CAST(CONV(LEFT(SHA2(CONCAT_WS(',',
       QUOTE(TABLE_NAME), QUOTE(COLUMN_NAME), ORDINAL_POSITION, QUOTE(COLUMN_DEFAULT), QUOTE(IS_NULLABLE),
       QUOTE(COLUMN_TYPE), QUOTE(COLLATION_NAME), QUOTE(EXTRA), QUOTE(COLUMN_COMMENT), QUOTE(GENERATION_EXPRESSION)), 256), 15), 16, 10) AS UNSIGNED))
  FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %(database)s
UNION ALL
SELECT 'indexes', COUNT(*), BIT_XOR(CAST(CONV(LEFT(SHA2(CONCAT_WS(',',
       QUOTE(TABLE_NAME), QUOTE(INDEX_NAME), SEQ_IN_INDEX, QUOTE(COLUMN_NAME), NON_UNIQUE, QUOTE(SUB_PART),
       QUOTE(INDEX_TYPE)), 256), 15), 16, 10) AS UNSIGNED))
  FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = %(database)s
UNION ALL
SELECT 'foreign_keys', COUNT(*), BIT_XOR(CAST(CONV(LEFT(SHA2(CONCAT_WS(',',
       QUOTE(TABLE_NAME), QUOTE(CONSTRAINT_NAME), QUOTE(REFERENCED_TABLE_NAME), QUOTE(UPDATE_RULE),
       QUOTE(DELETE_RULE)), 256), 15), 16, 10) AS UNSIGNED))
  FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = %(database)s
UNION ALL
SELECT 'checks', COUNT(*), BIT_XOR(CAST(CONV(LEFT(SHA2(CONCAT_WS(',',
       QUOTE(CONSTRAINT_NAME), QUOTE(CHECK_CLAUSE)), 256), 15), 16, 10) AS UNSIGNED))
  FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = %(database)s
UNION ALL
SELECT 'views', COUNT(*), BIT_XOR(CAST(CONV(LEFT(SHA2(CONCAT_WS(',',
       QUOTE(TABLE_NAME), QUOTE(REPLACE(VIEW_DEFINITION, %(database)s, '')), QUOTE(CHECK_OPTION),
       QUOTE(SECURITY_TYPE)), 256), 15), 16, 10) AS UNSIGNED))
  FROM information_schema.VIEWS WHERE TABLE_SCHEMA = %(database)s
UNION ALL
SELECT 'triggers', COUNT(*), BIT_XOR(CAST(CONV(LEFT(SHA2(CONCAT_WS(',',
       QUOTE(TRIGGER_NAME), QUOTE(EVENT_MANIPULATION), QUOTE(EVENT_OBJECT_TABLE), QUOTE(ACTION_TIMING),
       ACTION_ORDER, QUOTE(REPLACE(ACTION_STATEMENT, %(database)s, ''))), 256), 15), 16, 10) AS UNSIGNED))
  FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %(database)s;

-- name: program_fingerprint
-- the same for stored routines and events (on MariaDB in mysql.proc and mysql.event)
SELECT 'routines', COUNT(*), BIT_XOR(CAST(CONV(LEFT(SHA2(CONCAT_WS(',',
       QUOTE(ROUTINE_NAME), QUOTE(ROUTINE_TYPE), QUOTE(REPLACE(ROUTINE_DEFINITION, %(database)s, ''))), 256), 15), 16, 10) AS UNSIGNED))
  FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = %(database)s
UNION ALL
SELECT 'events', COUNT(*), BIT_XOR(CAST(CONV(LEFT(SHA2(CONCAT_WS(',',
       QUOTE(EVENT_NAME), QUOTE(REPLACE(EVENT_DEFINITION, %(database)s, ''))), 256), 15), 16, 10) AS UNSIGNED))
  FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %(database)s;

-- name: program_fingerprint_mariadb
-- the same, read from MariaDB's own tables (half the cost of information_schema; needs SELECT on them)
SELECT 'routines', COUNT(*), BIT_XOR(CAST(CONV(LEFT(SHA2(CONCAT_WS(',',
       QUOTE(name), QUOTE(type), QUOTE(body), QUOTE(sql_mode), QUOTE(param_list)), 256), 15), 16, 10) AS UNSIGNED))
  FROM mysql.proc WHERE db = %(database)s
UNION ALL
SELECT 'events', COUNT(*), BIT_XOR(CAST(CONV(LEFT(SHA2(CONCAT_WS(',',
       QUOTE(name), QUOTE(body), QUOTE(status), QUOTE(interval_value), QUOTE(execute_at)), 256), 15), 16, 10) AS UNSIGNED))
  FROM mysql.event WHERE db = %(database)s;

-- name: table_ids_mariadb
-- InnoDB's id of each table: TRUNCATE and table rebuilds make a new one (needs PROCESS)
SELECT NAME, TABLE_ID FROM information_schema.INNODB_SYS_TABLES WHERE NAME LIKE %(prefix)s;

-- name: table_ids_mysql
SELECT NAME, TABLE_ID FROM information_schema.INNODB_TABLES WHERE NAME LIKE %(prefix)s;

-- name: write_counts
-- performance_schema: rows written per table since the server started (inserts, updates and
-- deletes through the handler, failed ones too; cascades inside InnoDB are not counted:
-- see restore.py). Columns: all writes, those that may move AUTO_INCREMENT, those that may cascade.
SELECT OBJECT_NAME, COUNT_WRITE, COUNT_INSERT + COUNT_UPDATE, COUNT_UPDATE + COUNT_DELETE
  FROM performance_schema.table_io_waits_summary_by_table
 WHERE OBJECT_SCHEMA = %(database)s AND OBJECT_TYPE = 'TABLE';

-- name: lost_mariadb
-- instances or handles performance_schema had no room for: their writes went uncounted
SELECT COALESCE(SUM(VARIABLE_VALUE), 0) FROM information_schema.GLOBAL_STATUS
 WHERE VARIABLE_NAME IN ('PERFORMANCE_SCHEMA_TABLE_INSTANCES_LOST', 'PERFORMANCE_SCHEMA_TABLE_HANDLES_LOST');

-- name: lost_mysql
SELECT COALESCE(SUM(VARIABLE_VALUE), 0) FROM performance_schema.global_status
 WHERE VARIABLE_NAME IN ('Performance_schema_table_instances_lost', 'Performance_schema_table_handles_lost');

-- name: write_instrumented
-- whether the table I/O of ordinary tables is counted
SELECT (SELECT COUNT(*) FROM performance_schema.setup_instruments
         WHERE NAME = 'wait/io/table/sql/handler' AND ENABLED = 'YES')
     * (SELECT COUNT(*) FROM performance_schema.setup_consumers
         WHERE NAME = 'global_instrumentation' AND ENABLED = 'YES');

-- name: auto_increments
SELECT TABLE_NAME, AUTO_INCREMENT FROM information_schema.TABLES
 WHERE TABLE_SCHEMA = %(database)s AND TABLE_TYPE = 'BASE TABLE';

-- name: cascading_keys
-- foreign keys whose actions write to the referencing table inside the engine
SELECT TABLE_NAME, REFERENCED_TABLE_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS
 WHERE CONSTRAINT_SCHEMA = %(database)s
   AND (DELETE_RULE IN ('CASCADE', 'SET NULL', 'SET DEFAULT') OR UPDATE_RULE IN ('CASCADE', 'SET NULL', 'SET DEFAULT'));

-- name: delete_rows
DELETE FROM {database}.{table};

-- name: drop_trigger
DROP TRIGGER IF EXISTS {database}.{trigger};

-- name: triggers
SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %(database)s
 ORDER BY EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER;
