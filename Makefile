# The two commands: `make dev-db` (a working DATABASE_URL) and `make test`.
# Both install what they need, or stop with the exact command to run.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# images the Docker tests use; people with a registry set these to mysql:8.4 / mariadb:10.11
PROVISION_TEST_MYSQL_IMAGE ?= provision-test/mysql:9.7
PROVISION_TEST_MARIADB_IMAGE ?= provision-test/mariadb:10.11
export PROVISION_TEST_MYSQL_IMAGE PROVISION_TEST_MARIADB_IMAGE
# the server matrix: the docker, bootstrap, doctor, snapshot and ephemeral suites run on each image
PROVISION_TEST_IMAGES ?= $(PROVISION_TEST_MARIADB_IMAGE) provision-test/mariadb:11.8 $(PROVISION_TEST_MYSQL_IMAGE)
export PROVISION_TEST_IMAGES
# testcontainers here: Ryuk cannot be pulled, and /.dockerenv would send it to the bridge gateway
export TESTCONTAINERS_RYUK_DISABLED ?= true
export TESTCONTAINERS_CONNECTION_MODE ?= docker_host
export TC_HOST ?= 127.0.0.1

.PHONY: dev-db dev-db-down test bench server-binary docker-engine docker-images clean
.PHONY: check-fresh

# YES=1: install a server without asking when none can be found (for scripts); on a terminal
# `make dev-db` asks first
dev-db: $(VENV)/.installed
	$(BIN)/provision up $(if $(filter 1 y yes true,$(YES)),--install --yes) $(ARGS)

dev-db-down: $(VENV)/.installed
	$(BIN)/provision down

test: $(VENV)/.installed-test server-binary docker-images
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.installed-test server-binary docker-images
	@# with bytecode caches, as a user's install has (some machines set PYTHONDONTWRITEBYTECODE)
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python bench/run.py $(BENCH_ARGS)

# --- the virtualenv -----------------------------------------------------------------------
$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null || { \
		echo "error: Python 3.10 or newer is needed as '$(PYTHON)'"; \
		echo "hint: $(SUDO) apt-get install -y python3 python3-venv   (macOS: brew install python)"; exit 1; }
	@$(PYTHON) -m venv $(VENV) >/dev/null 2>&1 || { rm -rf $(VENV); \
		echo "error: '$(PYTHON) -m venv' failed: the venv module is missing"; \
		echo "hint: $(SUDO) apt-get install -y python3-venv"; exit 1; }
	@# a current pip installs the package ~2.6 s faster than the one ensurepip ships (23.x), for ~1.5 s
	@# (bench/bench_first_run.py); a venv without pip, filled by the bundled wheel, was slower still
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[docker]'
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[docker,test]'
	@touch $@ $(VENV)/.installed

# --- what the tests need on the machine ---------------------------------------------------
server-binary:
	@if command -v mariadbd >/dev/null || command -v mysqld >/dev/null \
		|| [ -x /usr/sbin/mariadbd ] || [ -x /usr/sbin/mysqld ]; then exit 0; fi; \
	if [ "$$(uname)" = Darwin ]; then echo "error: no MySQL server installed"; \
		echo "hint: brew install mariadb"; exit 1; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing mariadb-server (the native backend's tests run real servers)"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q mariadb-server mariadb-client \
			|| { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q mariadb-server mariadb-client; }; \
	else echo "error: no MySQL/MariaDB server binary (mariadbd or mysqld) is installed"; \
		echo "hint: $(SUDO) apt-get install -y mariadb-server docker.io   (all that make test needs)"; exit 1; fi

docker-engine:
	@if ! command -v dockerd >/dev/null && [ ! -x /usr/sbin/dockerd ] && [ ! -x /usr/bin/dockerd ] \
		&& [ "$$(uname)" != Darwin ] && ! docker info >/dev/null 2>&1; then \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing docker.io (the docker backend's tests run a real engine)"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io \
			|| { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io; }; \
	else echo "error: no Docker engine is installed"; \
		echo "hint: $(SUDO) apt-get install -y mariadb-server docker.io   (all that make test needs)"; exit 1; fi; fi
	@bash docker/start-dockerd.sh

# the README's two commands on a bare Debian bookworm in containers (docker/check-fresh.sh)
check-fresh: docker-engine
	bash docker/check-fresh.sh

# builds the local images only when the tests use them (a registry image is the user's to pull)
docker-images: docker-engine
	@if [ "$(PROVISION_TEST_MARIADB_IMAGE)" = provision-test/mariadb:10.11 ]; then \
		bash docker/build-image.sh --flavor mariadb; fi
	@if [ "$(PROVISION_TEST_MYSQL_IMAGE)" = provision-test/mysql:9.7 ]; then \
		bash docker/build-image.sh --flavor mysql; fi
	@case " $(PROVISION_TEST_IMAGES) " in *" provision-test/mariadb:11.8 "*) \
		bash docker/build-image.sh --flavor mariadb --series 11.8;; esac

clean:
	rm -rf $(VENV) .pytest_cache bench/results
