#!/usr/bin/env bash
# Build a local MySQL/MariaDB test image from Debian packages only (no container registry).
#
#   docker/build-image.sh --flavor mariadb|mysql [--series X.Y] [--force] [--refresh] [--tag IMAGE]
#
#   mariadb        provision-test/mariadb:10.11  Debian bookworm: mariadb-server (MariaDB 10.11)
#   mariadb 11.8   provision-test/mariadb:11.8   Debian trixie: mariadb-server (MariaDB 11.8)
#   mysql          provision-test/mysql:9.7      Debian sid: mysql-server-core + mysql-client-core
#
#   --series   the server series (default: the first line of its flavor above); no Debian suite
#              reachable here ships MySQL 8.4 (see docker/README.md)
#   --force    rebuild the image even if it is up to date (reuses the cached root filesystem)
#   --refresh  also run debootstrap again (newer packages); implies --force
#   --tag      image name; its version must match the server's major.minor
#
# How: `debootstrap --variant=minbase` into a cache folder (kept, so rebuilds take seconds),
# a copy of it gets a config file, the `mysql` user and docker/entrypoint.sh, then
# `tar | docker import` turns it into an image labelled provision.recipe=<sha of build-image.sh
# and entrypoint.sh>. An image with the current label is left alone (a no-op in about a second);
# a changed recipe rebuilds it. The docker engine is started with docker/start-dockerd.sh when
# it is not up. Builds of one flavor are serialised with flock.
#
# Environment:
#   PROVISION_IMAGE_CACHE    cache base folder (default /var/cache/provision-test-images;
#                            each flavor uses <base>/<flavor>, trixie's <base>/<flavor>-trixie)
#   PROVISION_DEBIAN_MIRROR  Debian mirror URL (default: the one this machine's apt uses)
set -euo pipefail
umask 022  # everything in the image must be readable by the mysql user

START=$SECONDS
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF=$HERE/$(basename "${BASH_SOURCE[0]}")

log() { printf '[build-image %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; log "elapsed: $((SECONDS - START)) s"; exit 1; }

FLAVOR='' SERIES_WANTED='' FORCE=0 REFRESH=0 IMAGE=''
while [ $# -gt 0 ]; do
	case "$1" in
		--flavor) FLAVOR=${2:?--flavor needs mariadb or mysql}; shift ;;
		--flavor=*) FLAVOR=${1#*=} ;;
		--series) SERIES_WANTED=${2:?--series needs X.Y}; shift ;;
		--series=*) SERIES_WANTED=${1#*=} ;;
		--tag) IMAGE=${2:?--tag needs an image name}; shift ;;
		--tag=*) IMAGE=${1#*=} ;;
		--force) FORCE=1 ;;
		--refresh) FORCE=1 REFRESH=1 ;;
		-h|--help) sed -n '2,/^set -euo/p' "$SELF" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
		*) die "unknown argument: $1 (try --help)" ;;
	esac
	shift
done

# tzdata: time zone tables; xz-utils/zstd: initdb.d/*.sql.xz|*.sql.zst
case "$FLAVOR" in
	mariadb)
		case "${SERIES_WANTED:-10.11}" in
			10.11) SUITE=bookworm ;;
			11.8) SUITE=trixie ;;
			*) die "no MariaDB $SERIES_WANTED recipe: --series 10.11 (bookworm) or 11.8 (trixie)" ;;
		esac
		IMAGE=${IMAGE:-provision-test/mariadb:${SERIES_WANTED:-10.11}}
		PACKAGES=mariadb-server,tzdata,xz-utils,zstd
		SERVER=mariadbd VERSION_PKG=mariadb-server-core VERSION_ENV=MARIADB_VERSION
		CNF=etc/mysql/mariadb.conf.d/99-provision.cnf  # read after 50-server.cnf
		PORTS=3306 ;;
	mysql)
		# mysql-server (not -core) would only add systemd/debconf glue and a postinst
		# that initialises a datadir inside the image
		[ "${SERIES_WANTED:-9.7}" = 9.7 ] || die "no MySQL $SERIES_WANTED recipe: --series 9.7 (sid); no reachable Debian suite has MySQL 8.4"
		SUITE=sid IMAGE=${IMAGE:-provision-test/mysql:9.7}
		PACKAGES=mysql-server-core,mysql-client-core,mysql-common,tzdata,xz-utils,zstd
		SERVER=mysqld VERSION_PKG=mysql-server-core VERSION_ENV=MYSQL_VERSION
		CNF=etc/mysql/conf.d/zz-provision.cnf
		PORTS='3306 33060' ;;
	'') die "--flavor mariadb|mysql is required (try --help)" ;;
	*) die "--flavor must be mariadb or mysql, not '$FLAVOR'" ;;
esac
# the default series keeps the cache folder it always had; others get their own
case "$SUITE" in bookworm | sid) SUFFIX='' ;; *) SUFFIX=-$SUITE ;; esac
CACHE=${PROVISION_IMAGE_CACHE:-/var/cache/provision-test-images}/$FLAVOR$SUFFIX
ROOTFS=$CACHE/rootfs STAGE=$CACHE/stage
RECIPE=$({ cat "$SELF" "$HERE/entrypoint.sh"; echo "$FLAVOR $SUITE"; } | sha256sum | cut -c1-16)

up_to_date() {
	[ "$FORCE" = 0 ] &&
		[ "$(docker image inspect -f '{{ index .Config.Labels "provision.recipe" }}' "$IMAGE" 2>/dev/null)" = "$RECIPE" ]
}

docker info >/dev/null 2>&1 || "$HERE/start-dockerd.sh" || die "no docker engine"
if up_to_date; then
	log "$IMAGE is up to date (recipe $RECIPE); nothing to do (--force rebuilds it)"
	log "elapsed: $((SECONDS - START)) s"
	exit 0
fi

[ "$(id -u)" = 0 ] || die "building needs root (debootstrap, chroot)"
if ! command -v debootstrap >/dev/null; then
	log "installing debootstrap"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >&2 \
		|| { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >&2; } \
		|| die "could not install debootstrap"
fi

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
if ! flock -n 9; then
	log "another $FLAVOR build is running; waiting for it"
	flock -w 3600 9 || die "timed out waiting for $CACHE/.lock"
	if up_to_date; then log "$IMAGE was just built by the other run"; log "elapsed: $((SECONDS - START)) s"; exit 0; fi
fi

# --- the Debian mirror this machine's apt uses (the entry for $SUITE, else the host's own) ----
find_mirror() {
	local targets suite
	# shellcheck disable=SC2016  # $(...) is apt's own field syntax
	targets=$(apt-get indextargets --no-release-info --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' 'Identifier: Packages' 2>/dev/null) || return 1
	for suite in "$SUITE" "$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release)"; do
		awk -v s="$suite" '$2 == s && $3 == "main" { print $1; ok = 1; exit } END { exit !ok }' <<<"$targets" && return 0
	done
	return 1
}
MIRROR=${PROVISION_DEBIAN_MIRROR:-$(find_mirror || true)}
MIRROR=${MIRROR%/}
[ -n "$MIRROR" ] || die "no Debian mirror found in the apt sources; set PROVISION_DEBIAN_MIRROR"

umount_below() {  # debootstrap can leave /proc etc. mounted when it fails
	local m
	awk -v p="$1/" 'index($2, p) == 1 { print $2 }' /proc/mounts | sort -r \
		| while read -r m; do umount -l "$m" || true; done
}
wipe() { umount_below "$1"; rm -rf --one-file-system "$1"; }

# --- 1. cached root filesystem: debootstrap, trimmed -----------------------------------------
STAMP="suite=$SUITE mirror=$MIRROR packages=$PACKAGES"
if [ "$REFRESH" = 1 ] || [ ! -d "$ROOTFS" ] || [ "$(cat "$CACHE/rootfs.stamp" 2>/dev/null)" != "$STAMP" ]; then
	log "debootstrap $SUITE (minbase + $PACKAGES) from $MIRROR; takes a few minutes"
	rm -f "$CACHE/rootfs.stamp"
	wipe "$ROOTFS.new"
	mkdir -p "$CACHE/debs"
	if ! debootstrap --variant=minbase --components=main --include="$PACKAGES" \
		--cache-dir="$CACHE/debs" "$SUITE" "$ROOTFS.new" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1; then
		umount_below "$ROOTFS.new"
		tail -n 20 "$CACHE/debootstrap.log" >&2
		die "debootstrap failed (log: $CACHE/debootstrap.log)"
	fi
	umount_below "$ROOTFS.new"
	(
		cd "$ROOTFS.new"
		rm -rf var/cache/apt/*.bin var/cache/apt/archives/*.deb var/lib/apt/lists/* var/log/apt/* \
			var/log/*.log usr/share/doc/* usr/share/man/* usr/share/info/* usr/share/locale/* \
			usr/share/lintian/* var/lib/mysql/*  # the package's datadir: each container makes its own
		: >etc/resolv.conf  # docker provides its own
	)
	wipe "$ROOTFS"
	mv "$ROOTFS.new" "$ROOTFS"
	echo "$STAMP" >"$CACHE/rootfs.stamp"
else
	log "reusing the cached root filesystem $ROOTFS (--refresh runs debootstrap again)"
fi

# shellcheck disable=SC2016  # dpkg-query's own field syntax
VERSION=$(dpkg-query --admindir="$ROOTFS/var/lib/dpkg" -W -f '${Version}' "$VERSION_PKG") \
	|| die "$VERSION_PKG is not installed in $ROOTFS"
SERIES=$(sed -E 's/^[0-9]+://; s/^([0-9]+\.[0-9]+).*/\1/' <<<"$VERSION")
case "${IMAGE##*:}" in
	"$SERIES" | "$SERIES".*) ;;
	*) die "$SUITE has $VERSION_PKG $VERSION, which does not match $IMAGE (use --tag NAME:$SERIES)" ;;
esac

# --- 2. image contents: a fresh copy of the cached tree + the recipe's files ------------------
log "preparing the image tree ($VERSION_PKG $VERSION)"
wipe "$STAGE"
cp -a --reflink=auto "$ROOTFS" "$STAGE"
trap 'wipe "$STAGE"' EXIT
chroot "$STAGE" getent group mysql >/dev/null || chroot "$STAGE" groupadd --system --gid 999 mysql
chroot "$STAGE" getent passwd mysql >/dev/null \
	|| chroot "$STAGE" useradd --system --uid 999 --gid mysql --home-dir /var/lib/mysql \
		--no-create-home --shell /usr/sbin/nologin mysql
mkdir -p "$STAGE"/{var/lib/mysql,var/lib/mysql-files,run/mysqld,docker-entrypoint-initdb.d,"$(dirname "$CNF")"}
chroot "$STAGE" chown mysql:mysql /var/lib/mysql /var/lib/mysql-files /run/mysqld
chmod 1777 "$STAGE/var/lib/mysql" "$STAGE/run/mysqld"  # any --user works, as in the official images
chmod 0750 "$STAGE/var/lib/mysql-files"
cat >"$STAGE/$CNF" <<'EOF'
# provision-test image: what the official images' config does that matters to clients
[mysqld]
user = mysql
datadir = /var/lib/mysql
socket = /run/mysqld/mysqld.sock
pid-file = /run/mysqld/mysqld.pid
port = 3306
# all interfaces: docker's port publishing connects to the container's address
bind-address = 0.0.0.0
# no reverse DNS: accounts match client addresses ('%'), and connecting stays fast
skip-name-resolve
host-cache-size = 0
# Debian enables NUMA interleave; the syscalls it needs are denied in containers
loose-innodb-numa-interleave = OFF

[client]
socket = /run/mysqld/mysqld.sock
EOF
install -m 0755 "$HERE/entrypoint.sh" "$STAGE/usr/local/bin/docker-entrypoint.sh"
ln -sfn usr/local/bin/docker-entrypoint.sh "$STAGE/docker-entrypoint.sh"  # old-style path

# --- 3. import --------------------------------------------------------------------------------
log "importing as $IMAGE"
tar --numeric-owner --xattrs -C "$STAGE" -cf - . \
	| docker import \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'ENV LANG=C.UTF-8' \
		--change "ENV $VERSION_ENV=$VERSION" \
		--change "LABEL provision.recipe=$RECIPE provision.flavor=$FLAVOR provision.suite=$SUITE provision.server-version=$VERSION" \
		--change 'VOLUME /var/lib/mysql' \
		--change "EXPOSE $PORTS" \
		--change 'ENTRYPOINT ["docker-entrypoint.sh"]' \
		--change "CMD [\"$SERVER\"]" \
		--message "debootstrap $SUITE minbase + $PACKAGES (recipe $RECIPE)" \
		- "$IMAGE" >/dev/null
wipe "$STAGE"
docker run --rm --network none --entrypoint "$SERVER" "$IMAGE" --version >&2 \
	|| die "$IMAGE was imported but '$SERVER --version' fails in it"
# drop earlier builds of this flavor that no container uses any more (a container still running
# on one keeps it until the next build)
docker image prune -f --filter "label=provision.flavor=$FLAVOR" >/dev/null 2>&1 || true
log "built $IMAGE ($VERSION_PKG $VERSION, recipe $RECIPE): $(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{ printf "%.0f MB", $1 / 1e6 }')"
log "elapsed: $((SECONDS - START)) s"
