-- Run once over the socket on a freshly initialised native data directory, as root
-- with the empty password the initialiser leaves: give root a generated password,
-- and a TCP account on 127.0.0.1 (the server runs with skip-name-resolve).

-- name: create_tcp_root
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY %(password)s;

-- name: set_tcp_root_password
ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY %(password)s;

-- name: grant_tcp_root
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;

-- name: set_root_password
ALTER USER 'root'@'localhost' IDENTIFIED BY %(password)s;

-- name: other_root_hosts
-- mariadb-install-db also makes password-less root@::1 and root@<hostname>
SELECT Host FROM mysql.user WHERE User = 'root' AND Host NOT IN ('localhost', '127.0.0.1');
