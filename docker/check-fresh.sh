#!/usr/bin/env bash
# The README's two commands on a bare Debian bookworm machine (`make check-fresh`).
#
#   docker/check-fresh.sh [--case a|b|c]... [--refresh]
#
#   (a) a clean clone, `make dev-db YES=1`, then the URL in .env must log in with utf8mb4
#   (b) the distro's mariadb-server installed and running first (root on unix_socket, 3306),
#       then the same; the server's other databases must be untouched
#   (c) `make test` with a small selection of tests (installs mariadb-server and docker.io,
#       starts dockerd, builds the test images) with PROVISION_TEST_STRICT=1
#
# The machine: `debootstrap --variant=minbase` of bookworm with python3, python3-venv, make, git
# and ca-certificates only (no server, no Docker, no venv), cached in
# $PROVISION_IMAGE_CACHE/fresh like the test images' root filesystems and imported as
# provision-test/fresh:bookworm (rebuilt when this script changes). Each case runs in its own
# container from it, on a clone of this repository's committed HEAD (uncommitted changes are not
# part of the check).
#
# Network: each container has its own network namespace (Docker's bridge), so the servers the
# cases start listen on the container's own 127.0.0.1:3306, never the host's, and the cases can
# run while something on the host uses 3306; apt and pip reach the registries through the
# bridge's NAT (checked first). CHECK_FRESH_NETWORK=host runs them on the host's network instead
# (for a machine whose bridge cannot reach the registries): then the host's port 3306 must be
# free and is held under a lock (/run/lock/provision-port-3306.lock) while (a) and (b) run.
# (c) is privileged (dockerd needs it) with its own /var/lib/docker (an anonymous volume), and
# shares the host's test-image cache so the images build from the cached root filesystems.
#
# Prints one summary line at the end; exits 1 when a case fails (its log tail is shown).
#
# Environment:
#   PROVISION_IMAGE_CACHE   cache base folder (default /var/cache/provision-test-images)
#   PROVISION_DEBIAN_MIRROR Debian mirror URL (default: the one this machine's apt uses)
#   CHECK_FRESH_NETWORK     bridge (default) or host
#   CHECK_FRESH_TESTS       pytest arguments for (c)
#   CHECK_FRESH_LOGS        where each case's log goes (default: a temporary folder, kept on failure)
set -euo pipefail
umask 022

START=$SECONDS
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
SELF=$HERE/$(basename "${BASH_SOURCE[0]}")
IMAGE=provision-test/fresh:bookworm
SUITE=bookworm
PACKAGES=python3,python3-venv,make,git,ca-certificates
CACHE=${PROVISION_IMAGE_CACHE:-/var/cache/provision-test-images}
ROOTFS=$CACHE/fresh/rootfs
NETWORK=${CHECK_FRESH_NETWORK:-bridge}
TESTS=${CHECK_FRESH_TESTS:-tests/integration/test_native.py::TestFirstUp::test_url_logs_in_with_utf8mb4_and_least_privilege tests/integration/test_docker_backend.py::TestFirstUp::test_the_url_in_env_logs_in_from_the_bridge_gateway}

log() { printf '[check-fresh %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

CASES=() REFRESH=0
while [ $# -gt 0 ]; do
	case "$1" in
		--case) CASES+=("${2:?--case needs a, b or c}"); shift ;;
		--case=*) CASES+=("${1#*=}") ;;
		--refresh) REFRESH=1 ;;
		-h|--help) sed -n '2,/^set -euo/p' "$SELF" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
		*) die "unknown argument: $1 (try --help)" ;;
	esac
	shift
done
[ ${#CASES[@]} -gt 0 ] || CASES=(a b c)
for c in "${CASES[@]}"; do case "$c" in a|b|c) ;; *) die "--case must be a, b or c, not '$c'" ;; esac; done
case "$NETWORK" in bridge|host) ;; *) die "CHECK_FRESH_NETWORK must be bridge or host" ;; esac
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, privileged containers)"
docker info >/dev/null 2>&1 || "$HERE/start-dockerd.sh" || die "no docker engine"

# --- the bare machine: a cached minbase root filesystem, imported once per recipe -------------
RECIPE=$({ cat "$SELF"; echo "$PACKAGES"; } | sha256sum | cut -c1-16)
find_mirror() {
	# shellcheck disable=SC2016  # $(...) is apt's own field syntax
	apt-get indextargets --no-release-info --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' 'Identifier: Packages' \
		2>/dev/null | awk -v s="$SUITE" '$2 == s && $3 == "main" { print $1; ok = 1; exit } END { exit !ok }'
}
umount_below() {
	awk -v p="$1/" 'index($2, p) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do umount -l "$m" || true; done
}
build_rootfs() {
	local mirror=${PROVISION_DEBIAN_MIRROR:-$(find_mirror || echo http://deb.debian.org/debian)}
	local stamp="suite=$SUITE mirror=${mirror%/} packages=$PACKAGES"
	if [ "$REFRESH" = 0 ] && [ -d "$ROOTFS" ] && [ "$(cat "$CACHE/fresh/rootfs.stamp" 2>/dev/null)" = "$stamp" ]; then
		return 0
	fi
	command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >&2 \
		|| die "debootstrap is missing: apt-get install -y debootstrap"
	log "debootstrap $SUITE (minbase + $PACKAGES) from $mirror"
	mkdir -p "$CACHE/fresh/debs"
	umount_below "$ROOTFS.new"; rm -rf --one-file-system "$ROOTFS.new"
	if ! debootstrap --variant=minbase --components=main --include="$PACKAGES" --cache-dir="$CACHE/fresh/debs" \
		"$SUITE" "$ROOTFS.new" "${mirror%/}" >"$CACHE/fresh/debootstrap.log" 2>&1; then
		umount_below "$ROOTFS.new"
		tail -n 20 "$CACHE/fresh/debootstrap.log" >&2
		die "debootstrap failed (log: $CACHE/fresh/debootstrap.log)"
	fi
	umount_below "$ROOTFS.new"
	# like a fresh cloud image: no package lists (apt-get update comes first), the host's resolver
	rm -rf "$ROOTFS.new"/var/lib/apt/lists/* "$ROOTFS.new"/var/cache/apt/*.bin "$ROOTFS.new"/var/cache/apt/archives/*.deb
	: >"$ROOTFS.new/etc/resolv.conf"
	rm -rf --one-file-system "$ROOTFS"
	mv "$ROOTFS.new" "$ROOTFS"
	echo "$stamp" >"$CACHE/fresh/rootfs.stamp"
}
ensure_image() {
	mkdir -p "$CACHE/fresh"
	exec 8>"$CACHE/fresh/.lock"
	flock -w 1800 8 || die "timed out waiting for $CACHE/fresh/.lock"
	if [ "$REFRESH" = 0 ] && [ "$(docker image inspect -f '{{ index .Config.Labels "provision.recipe" }}' "$IMAGE" 2>/dev/null)" = "$RECIPE" ] \
		&& [ -d "$ROOTFS" ]; then
		exec 8>&-
		return 0
	fi
	build_rootfs
	log "importing $IMAGE"
	tar --numeric-owner -C "$ROOTFS" -cf - . | docker import \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'ENV LANG=C.UTF-8' \
		--change "LABEL provision.recipe=$RECIPE provision.fresh=$SUITE" \
		--change 'CMD ["bash"]' - "$IMAGE" >/dev/null
	exec 8>&-
}

# --- the cases ----------------------------------------------------------------------------------
# shared by (a) and (b): the URL in .env logs in with utf8mb4, checked with the distro's own
# client (not provision's code); its fields parsed by Python's urllib
CHECK_URL='
url=$(sed -n "s/^DATABASE_URL=//p" .env)
[ -n "$url" ] || { echo "no DATABASE_URL in .env"; exit 1; }
eval "$(python3 - "$url" <<"PY"
import shlex, sys
from urllib.parse import unquote, urlsplit
u = urlsplit(sys.argv[1])
for k, v in (("user", u.username), ("pass", u.password or ""), ("host", u.hostname), ("port", u.port or 3306), ("db", u.path.lstrip("/"))):
    print(f"U_{k}={shlex.quote(unquote(str(v)))}")
PY
)"
export MYSQL_PWD=$U_pass
got=$(mariadb --protocol=tcp -h "$U_host" -P "$U_port" -u "$U_user" --default-character-set=utf8mb4 -N -B "$U_db" \
	-e "SELECT CONCAT_WS(\" \", CURRENT_USER(), DATABASE(), @@character_set_connection, @@character_set_database)")
echo "login with $url: $got"
case "$got" in *" $U_db utf8mb4 utf8mb4") ;; *) echo "expected utf8mb4 for $U_db"; exit 1 ;; esac
'
CLONE='git -c advice.detachedHead=false clone -q /src.bundle /app && cd /app && git log -1 --format="checking commit %h %s"'
APT_CACHE="$CACHE/fresh/apt-archives"

# the host's own certificate authorities (a TLS-inspecting proxy's, say) and the variables that
# point pip at them: the registries must be reachable from the container as from the host
PREAMBLE='if [ -d /host-ca ]; then cp /host-ca/*.crt /usr/local/share/ca-certificates/ 2>/dev/null && update-ca-certificates >/dev/null 2>&1; fi'
PASS_ENV=()
for var in PIP_CERT REQUESTS_CA_BUNDLE SSL_CERT_FILE PIP_INDEX_URL PIP_DEFAULT_TIMEOUT; do
	[ -z "${!var:-}" ] || PASS_ENV+=(-e "$var=${!var}")
done

case_script() {
	echo "$PREAMBLE"
	case "$1" in
		a) printf '%s\n' "set -euo pipefail" "$CLONE" "make dev-db YES=1" \
			"apt-get install -y -q mariadb-client >/dev/null 2>&1 || true" "$CHECK_URL" ;;
		b) printf '%s\n' "set -euo pipefail" \
			"apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q mariadb-server >/dev/null" \
			"service mariadb start" \
			"mariadb -N -B -e 'SHOW DATABASES' | sort >/tmp/before; mariadb -N -B -e 'CREATE DATABASE keepme; CREATE TABLE keepme.t (v int); INSERT INTO keepme.t VALUES (42)'" \
			"$CLONE" "make dev-db YES=1" "$CHECK_URL" \
			"[ \"\$(mariadb -N -B -e 'SELECT v FROM keepme.t')\" = 42 ] || { echo 'keepme.t changed'; exit 1; }" \
			"mariadb -N -B -e 'SHOW DATABASES' | grep -vx -e ohdevel -e keepme | sort | diff /tmp/before - && echo 'the system server keeps its other databases'" \
			".venv/bin/provision status" ;;
		c) printf '%s\n' "set -euo pipefail" "$CLONE" "export PROVISION_TEST_STRICT=1 CI=true" \
			"mkdir -p /etc/docker && echo '{\"cgroup-parent\": \"provision-check-fresh\"}' >/etc/docker/daemon.json" \
			"make test PYTEST_ARGS=$(printf '%q' "$TESTS -q -p no:cacheprovider")" ;;
	esac
}

run_case() {  # run_case NAME LOGFILE
	local name=$1 logfile=$2 args=(--rm -i --name "provision-check-fresh-$name-$$" --label dev.provision.owned=true
		-v "$LOGS/src.bundle:/src.bundle:ro" -v "$APT_CACHE:/var/cache/apt/archives")
	if [ "$NETWORK" = host ]; then args+=(--network host); fi
	if [ -d /usr/local/share/ca-certificates ]; then args+=(-v /usr/local/share/ca-certificates:/host-ca:ro); fi
	args+=("${PASS_ENV[@]}")
	if [ "$name" = c ]; then
		args+=("${DOCKERD_NEEDS[@]}" -v /var/lib/docker -v "$CACHE:$CACHE"
			-e PROVISION_IMAGE_CACHE="$CACHE")
	fi
	mkdir -p "$APT_CACHE/partial"
	local status=0
	case_script "$name" | docker run "${args[@]}" "$IMAGE" bash -s >"$logfile" 2>&1 || status=$?
	# the inner engine's (empty) cgroup parent, made in the shared cgroup tree: ours to remove
	if [ "$name" = c ]; then rmdir /sys/fs/cgroup/*/provision-check-fresh 2>/dev/null || true; fi
	return "$status"
}

port_3306_guard() {  # host networking: the cases' servers would bind the host's 3306
	exec 7>/run/lock/provision-port-3306.lock
	flock -w 600 7 || die "port 3306 is locked by another run (/run/lock/provision-port-3306.lock)"
	if (exec 3<>/dev/tcp/127.0.0.1/3306) 2>/dev/null; then
		die "CHECK_FRESH_NETWORK=host: something listens on the host's 127.0.0.1:3306; stop it or use the bridge network"
	fi
}

ensure_image
# what a dockerd inside (c) needs: --privileged; where this engine itself runs with a reduced
# capability set (in a container), every capability it has, no seccomp/AppArmor filter and a
# writable cgroup tree (the inner engine files its containers under its own cgroup parent)
DOCKERD_NEEDS=(--privileged)
if ! docker run --rm --privileged "$IMAGE" true >/dev/null 2>&1; then
	DOCKERD_NEEDS=(--cap-add ALL --security-opt seccomp=unconfined --security-opt apparmor=unconfined
		--security-opt systempaths=unconfined -v /sys/fs/cgroup:/sys/fs/cgroup:rw)
	bounding=$(awk '/^CapBnd/ { print $2 }' /proc/self/status)
	(( (16#$bounding >> 24) & 1 )) || DOCKERD_NEEDS+=(--cap-drop SYS_RESOURCE)
fi
if [ "$NETWORK" = bridge ] && ! docker run --rm "$IMAGE" bash -c 'exec 3<>/dev/tcp/deb.debian.org/80' 2>/dev/null; then
	die "a container on Docker's bridge network cannot reach deb.debian.org; rerun with CHECK_FRESH_NETWORK=host"
fi
LOGS=${CHECK_FRESH_LOGS:-$(mktemp -d /tmp/check-fresh.XXXXXX)}
mkdir -p "$LOGS"
# the committed HEAD, as a bundle: a worktree's .git points outside the folder a container sees
git -C "$REPO" bundle create -q "$LOGS/src.bundle" HEAD 2>/dev/null || git -C "$REPO" bundle create "$LOGS/src.bundle" HEAD 2>/dev/null
SUMMARY=() FAILED=0
for name in "${CASES[@]}"; do
	began=$SECONDS
	log "case ($name): running (log: $LOGS/$name.log)"
	if [ "$NETWORK" = host ] && [ "$name" != c ]; then port_3306_guard; fi
	if run_case "$name" "$LOGS/$name.log"; then
		SUMMARY+=("$name ok $((SECONDS - began))s")
	else
		SUMMARY+=("$name FAILED $((SECONDS - began))s")
		FAILED=1
		log "case ($name) failed; its log ends with:"
		tail -n 25 "$LOGS/$name.log" >&2
	fi
	exec 7>&-  # the port-3306 lock, when host networking took it
done
[ "$FAILED" = 1 ] || [ -n "${CHECK_FRESH_LOGS:-}" ] || rm -rf "$LOGS"
echo "check-fresh: $(IFS=,; echo "${SUMMARY[*]}" | sed 's/,/, /g'); total $((SECONDS - START))s$([ "$FAILED" = 0 ] || echo "; logs in $LOGS")"
exit "$FAILED"
