-- The lease registry on a shared server: which databases and users provision made, for whom,
-- and until when. Every time is the server's own (UTC_TIMESTAMP(6)): hosts with skewed clocks
-- agree on what expired.
-- {name} placeholders are identifiers (validated, backtick-quoted by provision/sql.py);
-- %(name)s placeholders are values passed to the driver.

-- name: create_schema
CREATE DATABASE IF NOT EXISTS {schema} CHARACTER SET utf8mb4;

-- name: create_table
-- name: the leased database; with kind 'namespace' also the databases named <name>_*,
-- with kind 'run' the databases whose names start with <name> (a test run's prefix, ending in _)
CREATE TABLE IF NOT EXISTS {schema}.leases (
    name VARCHAR(64) NOT NULL PRIMARY KEY,
    kind VARCHAR(16) NOT NULL,
    users TEXT NOT NULL,
    namespace VARCHAR(64) NULL,
    owner VARCHAR(128) NOT NULL,
    host VARCHAR(255) NOT NULL,
    pid INT NOT NULL,
    purpose VARCHAR(8) NOT NULL,
    ttl_seconds BIGINT NOT NULL,
    created DATETIME(6) NOT NULL,
    renewed DATETIME(6) NOT NULL,
    expires DATETIME(6) NOT NULL,
    state VARCHAR(8) NOT NULL DEFAULT 'live',
    token CHAR(32) NOT NULL,
    KEY expires (expires)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- name: register
-- a new lease, or the same name taken over again (a rerun of up): live, renewed, new token
INSERT INTO {schema}.leases
    (name, kind, users, namespace, owner, host, pid, purpose, ttl_seconds, created, renewed, expires, state, token)
VALUES (%(name)s, %(kind)s, %(users)s, %(namespace)s, %(owner)s, %(host)s, %(pid)s, %(purpose)s, %(ttl)s,
        UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) + INTERVAL %(ttl)s SECOND, 'live', %(token)s)
ON DUPLICATE KEY UPDATE kind = VALUES(kind), users = VALUES(users), namespace = VALUES(namespace),
    owner = VALUES(owner), host = VALUES(host), pid = VALUES(pid), purpose = VALUES(purpose),
    ttl_seconds = VALUES(ttl_seconds), renewed = VALUES(renewed), expires = VALUES(expires),
    state = 'live', token = VALUES(token);

-- name: renew
-- compare-and-set on the row: a lease a reaper has claimed (state 'reaping') is not revived
UPDATE {schema}.leases
   SET renewed = UTC_TIMESTAMP(6), expires = UTC_TIMESTAMP(6) + INTERVAL ttl_seconds SECOND
 WHERE name = %(name)s AND token = %(token)s AND state = 'live';

-- name: claim
-- a reaper's compare-and-set: only a lease that is expired at this instant is claimed. The claim's
-- own token always changes the row, so a lease left 'reaping' by a reaper that died is claimed again
UPDATE {schema}.leases SET state = 'reaping', token = %(claim)s
 WHERE name = %(name)s AND expires <= UTC_TIMESTAMP(6);

-- name: expire
-- the holder ends its own lease now (destroy); the reaper's claim follows
UPDATE {schema}.leases SET expires = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND
 WHERE name = %(name)s AND token = %(token)s AND state = 'live';

-- name: release
DELETE FROM {schema}.leases WHERE name = %(name)s AND token = %(token)s;

-- name: forget
DELETE FROM {schema}.leases WHERE name = %(name)s AND state = 'reaping' AND token = %(claim)s;

-- name: get
SELECT name, kind, users, namespace, owner, host, pid, purpose, ttl_seconds, created, renewed, expires, state,
       TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), expires) / 1e6 AS seconds_left
  FROM {schema}.leases WHERE name = %(name)s;

-- name: all
SELECT name, kind, users, namespace, owner, host, pid, purpose, ttl_seconds, created, renewed, expires, state,
       TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), expires) / 1e6 AS seconds_left
  FROM {schema}.leases ORDER BY name;

-- name: expired
SELECT name FROM {schema}.leases WHERE expires <= UTC_TIMESTAMP(6) ORDER BY expires;

-- name: databases_like
SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE %(pattern)s ORDER BY SCHEMA_NAME;

-- name: database_exists
SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %(name)s;

-- name: drop_database
DROP DATABASE IF EXISTS {database};

-- name: drop_user
DROP USER IF EXISTS %(user)s@%(host)s;

-- name: get_lock
-- held by the server for this connection; released when the connection ends, even by kill -9
SELECT GET_LOCK(%(lock)s, %(timeout)s);

-- name: release_lock
SELECT RELEASE_LOCK(%(lock)s);
