-- Read-only statements of provision doctor (KILL excepted, which --kill-blockers runs after confirmation).
-- {name} placeholders are identifiers, validated and backtick-quoted by provision/sql.py;
-- %(name)s placeholders are values, passed to the driver as parameters.

-- name: user_accounts
SELECT Host AS host, plugin FROM mysql.user WHERE User = %(user)s ORDER BY Host;

-- name: anonymous_accounts
SELECT Host AS host FROM mysql.user WHERE User = '' ORDER BY Host;

-- name: columns
SELECT LOWER(TABLE_NAME), LOWER(COLUMN_NAME) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %(database)s;

-- name: table_charsets
SELECT t.TABLE_NAME, t.TABLE_COLLATION FROM information_schema.TABLES t
 WHERE t.TABLE_SCHEMA = %(database)s AND t.TABLE_TYPE = 'BASE TABLE'
   AND t.TABLE_COLLATION NOT LIKE 'utf8mb4%%'
 ORDER BY t.TABLE_NAME;

-- name: session_sql_mode
SELECT @@SESSION.sql_mode, @@GLOBAL.sql_mode;

-- name: set_sql_mode
SET SESSION sql_mode = %(mode)s;

-- name: processlist
SELECT ID, USER, HOST, DB, COMMAND, TIME, STATE, INFO FROM information_schema.PROCESSLIST ORDER BY ID;

-- name: open_transactions
SELECT trx_mysql_thread_id, trx_started, TIMESTAMPDIFF(SECOND, trx_started, NOW()) AS age, trx_query
  FROM information_schema.INNODB_TRX ORDER BY trx_started;

-- name: performance_schema_on
SELECT @@performance_schema;

-- name: pfs_lock_waits
-- pending metadata locks and the granted locks on the same object held by other sessions
SELECT w_t.PROCESSLIST_ID AS waiting, w.OBJECT_SCHEMA, w.OBJECT_NAME, b_t.PROCESSLIST_ID AS blocking,
       g.LOCK_TYPE
  FROM performance_schema.metadata_locks w
  JOIN performance_schema.threads w_t ON w_t.THREAD_ID = w.OWNER_THREAD_ID
  JOIN performance_schema.metadata_locks g
    ON g.OBJECT_TYPE = w.OBJECT_TYPE AND g.OBJECT_SCHEMA <=> w.OBJECT_SCHEMA AND g.OBJECT_NAME <=> w.OBJECT_NAME
   AND g.LOCK_STATUS = 'GRANTED' AND g.OWNER_THREAD_ID <> w.OWNER_THREAD_ID
  JOIN performance_schema.threads b_t ON b_t.THREAD_ID = g.OWNER_THREAD_ID
 WHERE w.LOCK_STATUS = 'PENDING' AND w.OBJECT_TYPE = 'TABLE' AND b_t.PROCESSLIST_ID IS NOT NULL;

-- name: mdl_plugin_active
SELECT 1 FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'METADATA_LOCK_INFO' AND PLUGIN_STATUS = 'ACTIVE';

-- name: mdl_info
-- MariaDB's metadata_lock_info plugin lists granted locks only
SELECT THREAD_ID, LOCK_MODE, TABLE_SCHEMA, TABLE_NAME FROM information_schema.METADATA_LOCK_INFO
 WHERE LOCK_TYPE = 'Table metadata lock';

-- name: kill
KILL CONNECTION %(id)s;
