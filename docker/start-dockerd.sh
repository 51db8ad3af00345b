#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine; start one if needed (idempotent).
#
#   docker/start-dockerd.sh
#
# - engine already answering (`docker info`, or the python docker SDK when there is no
#   docker CLI): exit 0 at once
# - dockerd not installed: print the install command and exit 1
# - systemd is PID 1: `systemctl start docker`; otherwise `dockerd` is started in the
#   background (setsid nohup, detached from this shell) and logs to $PROVISION_DOCKERD_LOG
# - then wait up to $PROVISION_DOCKERD_TIMEOUT seconds for the engine; on failure print the
#   log tail and exit 1
#
# Environment:
#   PROVISION_DOCKERD_LOG      default /var/log/provision-dockerd.log
#   PROVISION_DOCKERD_TIMEOUT  default 60 (seconds)
set -euo pipefail

LOG=${PROVISION_DOCKERD_LOG:-/var/log/provision-dockerd.log}
TIMEOUT=${PROVISION_DOCKERD_TIMEOUT:-60}

say() { printf '[start-dockerd] %s\n' "$*" >&2; }

SUDO=()
if [ "$(id -u)" != 0 ]; then SUDO=(sudo); fi

engine_up() {
	if command -v docker >/dev/null 2>&1; then
		docker info >/dev/null 2>&1
	else
		python3 -c 'import docker; docker.from_env(timeout=5).ping()' >/dev/null 2>&1
	fi
}

if engine_up; then
	exit 0
fi

if ! command -v dockerd >/dev/null 2>&1 && [ ! -x /usr/sbin/dockerd ] && [ ! -x /usr/bin/dockerd ]; then
	say "dockerd is not installed; install it with:"
	printf '  %sapt-get install -y docker.io\n' "${SUDO[*]:+${SUDO[*]} }" >&2
	exit 1
fi

if [ -d /run/systemd/system ]; then
	say "starting docker.service with systemctl"
	"${SUDO[@]}" systemctl start docker || say "systemctl start docker failed (see: journalctl -u docker)"
	LOG_HINT="journalctl -u docker"
elif pgrep -x dockerd >/dev/null 2>&1; then
	say "a dockerd process is already running; waiting for it to answer"
	LOG_HINT=$LOG
else
	say "starting dockerd in the background (log: $LOG)"
	# the redirection must happen with root rights too, hence the inner shell
	# shellcheck disable=SC2016  # $1 is expanded by that inner shell
	"${SUDO[@]}" sh -c 'setsid nohup dockerd >>"$1" 2>&1 </dev/null &' sh "$LOG"
	LOG_HINT=$LOG
fi

deadline=$((SECONDS + TIMEOUT))
until engine_up; do
	if [ "$SECONDS" -ge "$deadline" ]; then
		say "ERROR: the docker engine did not answer within ${TIMEOUT}s"
		if [ -r "$LOG_HINT" ]; then
			say "last lines of $LOG_HINT:"
			tail -n 30 "$LOG_HINT" >&2
		else
			say "see: $LOG_HINT"
		fi
		exit 1
	fi
	sleep 1
done
say "docker engine is up"
