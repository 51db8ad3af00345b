-- Statements that converge the app's database, user and grants.
-- {name} placeholders are identifiers, validated and backtick-quoted by provision/sql.py;
-- %(name)s placeholders are values, passed to the driver as parameters.

-- name: server_info
SELECT VERSION() AS version, @@version_comment AS comment, @@skip_name_resolve AS skip_name_resolve,
       SUBSTRING_INDEX(USER(), '@', -1) AS client_host, CURRENT_USER() AS admin;

-- name: database_charset
SELECT DEFAULT_CHARACTER_SET_NAME AS charset, DEFAULT_COLLATION_NAME AS collation
  FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %(database)s;

-- name: create_database
CREATE DATABASE IF NOT EXISTS {database} CHARACTER SET utf8mb4 COLLATE {collation};

-- name: alter_database_charset
ALTER DATABASE {database} CHARACTER SET utf8mb4 COLLATE {collation};

-- name: user_hosts
SELECT Host AS host FROM mysql.user WHERE User = %(user)s;

-- name: create_user
CREATE USER %(user)s@%(host)s IDENTIFIED BY %(password)s;

-- name: set_password
ALTER USER %(user)s@%(host)s IDENTIFIED BY %(password)s;

-- name: drop_user
DROP USER IF EXISTS %(user)s@%(host)s;

-- name: show_grants
SHOW GRANTS FOR %(user)s@%(host)s;

-- name: grant_database
GRANT ALL PRIVILEGES ON {pattern}.* TO %(user)s@%(host)s;

-- name: revoke_database
REVOKE ALL PRIVILEGES ON {pattern}.* FROM %(user)s@%(host)s;

-- name: requires_tls
-- MariaDB 10.5.2+ and MySQL 5.7+; older servers lack it (and never require TLS)
SELECT @@require_secure_transport;
