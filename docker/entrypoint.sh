#!/bin/bash
# Entrypoint of the provision-test/mariadb and provision-test/mysql images; docker/build-image.sh
# installs it as /usr/local/bin/docker-entrypoint.sh. One script for both flavors: the server
# found in the image (mariadbd or mysqld) decides.
#
# It re-implements the env contract of the official mysql/mariadb images:
#   MYSQL_ROOT_PASSWORD | MYSQL_ALLOW_EMPTY_PASSWORD | MYSQL_RANDOM_ROOT_PASSWORD   (one required)
#   MYSQL_ROOT_HOST (default '%'), MYSQL_DATABASE, MYSQL_USER + MYSQL_PASSWORD (ALL on the db),
#   MYSQL_INITDB_SKIP_TZINFO, every one of them also as VAR_FILE=/path (docker secrets) and
#   with the MARIADB_* spellings (MARIADB_ROOT_PASSWORD, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD,
#   MARIADB_RANDOM_ROOT_PASSWORD, ...; a MARIADB_* value wins over its MYSQL_* twin).
#   /docker-entrypoint-initdb.d/*.sh|*.sql|*.sql.gz|*.sql.xz|*.sql.zst run once, in name order.
# The datadir (a VOLUME) is initialised only when it has no 'mysql' schema: a temporary
# socket-only server (--skip-networking) applies the settings, then the real server is exec'ed,
# so a first start logs "ready for connections" twice, as the official images do.
# Arguments starting with '-' go to the server: `docker run IMAGE --character-set-server=utf8mb4`.
# The root password is never logged (except a generated MYSQL_RANDOM_ROOT_PASSWORD, as in the
# official images) and never put on a command line: the client reads it from a pipe.
set -euo pipefail
shopt -s nullglob
export LC_ALL=C  # stable initdb.d order

_log() { printf '%s [%s] [Entrypoint]: %s\n' "$(date --rfc-3339=seconds)" "$1" "$2"; }
note() { _log Note "$*"; }
warn() { _log Warn "$*" >&2; }
die()  { _log ERROR "$*" >&2; exit 1; }

if [ -x /usr/sbin/mariadbd ]; then
	FLAVOR=mariadb SERVER=mariadbd CLIENT=mariadb TZINFO=mariadb-tzinfo-to-sql NAME=MariaDB
else
	FLAVOR=mysql SERVER=mysqld CLIENT=mysql TZINFO=mysql_tzinfo_to_sql NAME=MySQL
fi

# file_env VAR: VAR from $VAR or from the file named by $VAR_FILE (exclusive)
file_env() {
	local var=$1 fvar="${1}_FILE" val=
	if [ -n "${!var:-}" ] && [ -n "${!fvar:-}" ]; then die "Both $var and $fvar are set (but are exclusive)"; fi
	if [ -n "${!var:-}" ]; then val=${!var}; elif [ -n "${!fvar:-}" ]; then val=$(<"${!fvar}"); fi
	export "$var=$val"
	unset "$fvar"
}

# env_pair MYSQL_X MARIADB_Y [DEFAULT]: both names end up with one value; MARIADB_Y wins
env_pair() {
	file_env "$1"
	file_env "$2"
	local val=${!2:-${!1:-${3:-}}}
	export "$1=$val" "$2=$val"
}

sql_str() {  # $1 as the inside of a '...' SQL string literal
	local s=${1//\\/\\\\}
	s=${s//$'\n'/\\n}
	printf '%s' "${s//\'/\\\'}"
}
sql_id() { printf '%s' "${1//\`/\`\`}"; }  # $1 as the inside of a `...` identifier

client_cnf() {  # option file for the client; $1 = password (may be empty)
	printf '[client]\nuser=root\n'
	if [ -n "$1" ]; then
		local p=${1//\\/\\\\}
		p=${p//$'\n'/\\n}
		printf 'password="%s"\n' "${p//\"/\\\"}"
	fi
}

# process_sql [--no-password] [client args] < statements: run SQL as root over the unix socket.
# The password travels through a pipe (--defaults-extra-file=/dev/fd/N), never through argv.
process_sql() {
	local pw=$MYSQL_ROOT_PASSWORD
	case "${1:-}" in --no-password|--dont-use-mysql-root-password) pw=; shift ;; esac
	if [ -n "$MYSQL_DATABASE" ]; then set -- --database="$MYSQL_DATABASE" "$@"; fi
	"$CLIENT" --defaults-extra-file=<(client_cnf "$pw") --protocol=socket --socket="$SOCKET" --comments "$@"
}
# names used by initdb.d/*.sh scripts written for the official images
docker_process_sql() { process_sql "$@"; }
mysql_note() { note "$@"; }
mysql_warn() { warn "$@"; }

setup_env() {  # effective paths (config files + arguments) and the env contract
	local help
	help=$("$@" --verbose --help --log-bin-index="$(mktemp -u)" 2>/dev/null) \
		|| die "$SERVER rejected its configuration: $("$@" --verbose --help 2>&1 >/dev/null | tail -n 5)"
	cfg() { awk -v k="$1" '/^[^ \t]/ && $1 == k { sub(/^[^ \t]+[ \t]+/, ""); print; exit }' <<<"$help"; }
	DATADIR=$(cfg datadir); DATADIR=${DATADIR%/}
	SOCKET=$(cfg socket)
	PIDFILE=$(cfg pid-file)
	FILEPRIV=$(cfg secure-file-priv)
	if [ -z "$DATADIR" ] || [ -z "$SOCKET" ]; then die "could not read datadir/socket from '$SERVER --verbose --help'"; fi

	env_pair MYSQL_ROOT_PASSWORD        MARIADB_ROOT_PASSWORD
	env_pair MYSQL_ALLOW_EMPTY_PASSWORD MARIADB_ALLOW_EMPTY_ROOT_PASSWORD
	env_pair MYSQL_RANDOM_ROOT_PASSWORD MARIADB_RANDOM_ROOT_PASSWORD
	env_pair MYSQL_ROOT_HOST            MARIADB_ROOT_HOST '%'
	env_pair MYSQL_DATABASE             MARIADB_DATABASE
	env_pair MYSQL_USER                 MARIADB_USER
	env_pair MYSQL_PASSWORD             MARIADB_PASSWORD
	env_pair MYSQL_INITDB_SKIP_TZINFO   MARIADB_INITDB_SKIP_TZINFO
}

verify_env() {
	if [ -z "$MYSQL_ROOT_PASSWORD" ] && [ -z "$MYSQL_ALLOW_EMPTY_PASSWORD" ] && [ -z "$MYSQL_RANDOM_ROOT_PASSWORD" ]; then
		die $'Database is uninitialized and password option is not specified\n    You need to specify one of the following as an environment variable:\n    - MYSQL_ROOT_PASSWORD\n    - MYSQL_ALLOW_EMPTY_PASSWORD\n    - MYSQL_RANDOM_ROOT_PASSWORD'
	fi
	if [ "$MYSQL_USER" = root ]; then
		die 'MYSQL_USER="root", MYSQL_USER and MYSQL_PASSWORD are for configuring a regular user and cannot be used for the root user'
	fi
	if [ -n "$MYSQL_USER" ] && [ -z "$MYSQL_PASSWORD" ]; then
		warn 'MYSQL_USER specified, but missing MYSQL_PASSWORD; MYSQL_USER will not be created'
	elif [ -z "$MYSQL_USER" ] && [ -n "$MYSQL_PASSWORD" ]; then
		warn 'MYSQL_PASSWORD specified, but missing MYSQL_USER; MYSQL_PASSWORD will be ignored'
	fi
	ls /docker-entrypoint-initdb.d/ >/dev/null  # fail early on an unreadable mount
}

init_datadir() {
	note "Initializing database files"
	if [ "$FLAVOR" = mysql ]; then
		"$@" --initialize-insecure --default-time-zone=SYSTEM
	else
		local -a user=()
		# `docker run --user N`: the config's user=mysql would make it chown, which N may not
		if [ "$(id -u)" != "$(id -u mysql)" ]; then user=(--user=); fi
		mariadb-install-db --datadir="$DATADIR" --rpm --auth-root-authentication-method=normal \
			--skip-test-db --default-time-zone=SYSTEM --enforce-storage-engine= --skip-log-bin \
			--expire-logs-days=0 --loose-innodb-buffer-pool-load-at-startup=0 \
			--loose-innodb-buffer-pool-dump-at-shutdown=0 "${user[@]}" "${@:2}"
	fi
	note "Database files initialized"
}

temp_server_start() {
	# socket only: nobody outside can connect before the accounts are set up
	"$@" --skip-networking --default-time-zone=SYSTEM --socket="$SOCKET" &
	TEMP_PID=$!
	local _
	for _ in $(seq 600); do  # up to 60 s
		if process_sql --no-password --database=mysql --connect-timeout=2 <<<'SELECT 1' >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$TEMP_PID" 2>/dev/null || die "Unable to start server (it exited)."
		sleep 0.1
	done
	die "Unable to start server."
}

temp_server_stop() {
	kill "$TEMP_PID"
	wait "$TEMP_PID" || warn "the temporary server exited with status $?"
}

setup_db() {
	if [ -z "$MYSQL_INITDB_SKIP_TZINFO" ]; then
		note "Loading time zone tables"
		{
			echo 'SET SESSION sql_log_bin = 0;'
			"$TZINFO" /usr/share/zoneinfo 2>/dev/null \
				| sed 's/Local time zone must be set--see zic manual page/FCTY/'
		} | process_sql --no-password --database=mysql
	fi
	if [ -n "$MYSQL_RANDOM_ROOT_PASSWORD" ]; then
		MYSQL_ROOT_PASSWORD=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
		export MYSQL_ROOT_PASSWORD MARIADB_ROOT_PASSWORD=$MYSQL_ROOT_PASSWORD
		note "GENERATED ROOT PASSWORD: $MYSQL_ROOT_PASSWORD"
	fi

	local pw host sql_root='' sql_db='' sql_user='' drop_hostname='' proxy="''@''"
	pw=$(sql_str "$MYSQL_ROOT_PASSWORD")
	host=$(sql_str "$MYSQL_ROOT_HOST")
	if [ "$FLAVOR" = mariadb ]; then
		drop_hostname="EXECUTE IMMEDIATE CONCAT('DROP USER IF EXISTS root@\\'', @@hostname, '\\'');"
		proxy="''@'%'"
	fi
	if [ -n "$MYSQL_ROOT_HOST" ] && [ "$MYSQL_ROOT_HOST" != localhost ]; then
		sql_root="CREATE USER 'root'@'$host' IDENTIFIED BY '$pw';
			GRANT ALL ON *.* TO 'root'@'$host' WITH GRANT OPTION;
			GRANT PROXY ON $proxy TO 'root'@'$host' WITH GRANT OPTION;"
	fi
	if [ -n "$MYSQL_DATABASE" ]; then
		note "Creating database $MYSQL_DATABASE"
		sql_db="CREATE DATABASE IF NOT EXISTS \`$(sql_id "$MYSQL_DATABASE")\`;"
	fi
	if [ -n "$MYSQL_USER" ] && [ -n "$MYSQL_PASSWORD" ]; then
		local user db
		user=$(sql_str "$MYSQL_USER")
		note "Creating user $MYSQL_USER"
		sql_user="CREATE USER '$user'@'%' IDENTIFIED BY '$(sql_str "$MYSQL_PASSWORD")';"
		if [ -n "$MYSQL_DATABASE" ]; then
			note "Giving user $MYSQL_USER access to schema $MYSQL_DATABASE"
			db=$(sql_id "$MYSQL_DATABASE")
			sql_user+=" GRANT ALL ON \`${db//_/\\_}\`.* TO '$user'@'%';"
		fi
	fi

	note "Securing system users (equivalent to running mysql_secure_installation)"
	process_sql --no-password --database=mysql <<-EOSQL
		SET autocommit = 1;
		SET @@SESSION.SQL_LOG_BIN = 0;
		DROP USER IF EXISTS 'root'@'127.0.0.1', 'root'@'::1';
		${drop_hostname}
		ALTER USER 'root'@'localhost' IDENTIFIED BY '${pw}';
		${sql_root}
		DROP DATABASE IF EXISTS test;
		${sql_db}
		${sql_user}
	EOSQL
}

process_init_files() {
	local f
	for f; do
		case "$f" in
			*.sh)
				if [ -x "$f" ]; then
					note "$0: running $f"; "$f"
				else
					note "$0: sourcing $f"
					set +u  # scripts written for the official images expect a lenient shell
					# shellcheck disable=SC1090  # user-provided script
					. "$f"
					set -u
				fi ;;
			*.sql)     note "$0: running $f"; process_sql <"$f" ;;
			*.sql.gz)  note "$0: running $f"; gunzip -c "$f" | process_sql ;;
			*.sql.xz)  note "$0: running $f"; xzcat "$f" | process_sql ;;
			*.sql.zst) note "$0: running $f"; zstd -dc "$f" | process_sql ;;
			*)         warn "$0: ignoring $f" ;;
		esac
	done
}

main() {
	if [ "${1:0:1}" = - ]; then set -- "$SERVER" "$@"; fi  # `docker run IMAGE --foo`
	case "$1" in mysqld|mariadbd|/usr/sbin/mysqld|/usr/sbin/mariadbd) ;; *) exec "$@" ;; esac
	local a
	for a; do case "$a" in -'?'|--help|--print-defaults|-V|--version) exec "$@" ;; esac; done

	setup_env "$@"
	if [ "$(id -u)" = 0 ]; then
		note "Entrypoint script for $NAME Server ${MYSQL_VERSION:-${MARIADB_VERSION:-}} started."
		local -a dirs=("$DATADIR" "${SOCKET%/*}")
		if [ -n "$PIDFILE" ]; then dirs+=("${PIDFILE%/*}"); fi
		if [ -n "$FILEPRIV" ] && [ "$FILEPRIV" != NULL ]; then dirs+=("$FILEPRIV"); fi
		mkdir -p "${dirs[@]}"
		# named volumes and bind mounts may arrive owned by root
		find "${dirs[@]}" \! -user mysql -exec chown --no-dereference mysql:mysql '{}' +
		note "Switching to dedicated user 'mysql'"
		exec setpriv --reuid=mysql --regid=mysql --init-groups "${BASH_SOURCE[0]}" "$@"
	fi

	if [ ! -d "$DATADIR/mysql" ]; then
		verify_env
		init_datadir "$@"
		note "Starting temporary server"
		temp_server_start "$@"
		note "Temporary server started."
		setup_db
		process_init_files /docker-entrypoint-initdb.d/*
		note "Stopping temporary server"
		temp_server_stop
		note "Temporary server stopped"
		note "$NAME init process done. Ready for start up."
	fi
	# the server does not need the secrets in its environment
	unset MYSQL_ROOT_PASSWORD MARIADB_ROOT_PASSWORD MYSQL_PASSWORD MARIADB_PASSWORD
	exec "$@"
}

main "$@"
