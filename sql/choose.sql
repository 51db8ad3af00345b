-- Asked by --backend auto of a server it found on the default port.

-- name: server_port
-- a socket found on this machine must belong to the server on the port the app will use
SELECT @@port;

-- name: app_names_taken
-- the system's server is used for a project only when its database and user are new there
SELECT (SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %(database)s),
       (SELECT COUNT(*) FROM mysql.user WHERE User = %(user)s);
