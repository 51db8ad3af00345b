"""Which server a test run's databases live on: ``auto`` (the dev server, else a throwaway native
server, else a throwaway docker server), ``dev``, ``native``, ``docker`` or an admin URL; under
pytest-xdist the workers of one run share one throwaway server."""
from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Iterator

from ..errors import ConfigError, ServerError
from ..probe import Server, connect, error_code, server_info
from ..url import parse
from .reaper import base_dir, reap, run_dir, sweep_servers
from .servers import EphemeralServer, ephemeral_server

log = logging.getLogger(__name__)


def dev_server(project_dir: Path | None = None) -> EphemeralServer | None:
    """The project's dev server (``provision up``), when its state exists and its URL logs in."""
    from ..project import current_url
    from ..config import load_settings
    from ..errors import ProvisionError
    from ..state import StateDir

    try:
        settings = load_settings({"project_dir": project_dir} if project_dir else {})
        state = StateDir(settings.state_path)
        if not state.exists():
            return None
        url = current_url(settings, state)
        local = bool(state.read().get("local"))
    except ProvisionError as exc:
        log.info("ephemeral: not using the dev server: %s", exc.message)
        return None
    server = Server.from_url(replace(url, database=""), local=local)
    try:
        conn = connect(url, tls=not local, timeout=2)
    except Exception as exc:
        if error_code(exc) is None:
            raise
        log.info("ephemeral: the dev server at %s:%s does not answer (%s)", url.host, url.port, exc)
        return None
    try:
        info = server_info(conn)
    finally:
        conn.close()
    return EphemeralServer(kind="dev", server=server, flavor=info.flavor, version=info.version,
                           details={"prefix": url.database})


def url_server(text: str) -> EphemeralServer:
    url = parse(text)
    return EphemeralServer(kind="url", server=Server.from_url(replace(url, database="")))


def docker_available() -> tuple[bool, str]:
    try:
        import docker  # noqa: F401
        import testcontainers  # noqa: F401
    except ModuleNotFoundError as exc:
        return False, f"{exc.name} is not installed (pip install 'provision[docker]')"
    try:
        client = docker.from_env(timeout=5)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:
        return False, f"no docker engine answers ({exc})"
    return True, "a docker engine answers"


@contextlib.contextmanager
def open_server(spec: str = "auto", *, image: str | None = None, project_dir: Path | None = None,
                share_key: str | None = None, owner_pid: int | None = None,
                search_path: str | None = None, template: bool = False) -> Iterator[EphemeralServer]:
    """A server for test databases, for the duration of the block.

    ``auto`` for a suite with a template (``template=True``) prefers a throwaway native server
    (tmpfs, durability off, performance_schema counting writes) to the dev server: restoring
    a copy after a test that wrote costs ~4 ms there against ~50 ms on a dev server on disk
    (every ALTER TABLE ... AUTO_INCREMENT and DELETE pays its fsyncs), which repays the
    throwaway server's start and the template's build (~1 s per session) after ~20 such tests
    (bench/bench_restore.py). Without a native server binary, the dev server still comes first.

    ``spec``: ``auto``, ``dev``, ``native``, ``docker`` or an admin URL. With ``share_key``
    (pytest-xdist), the processes of one run share one throwaway server: the first starts
    it on behalf of ``owner_pid`` (the controller, which removes it at the end), the others
    attach to it.
    """
    spec = (spec or "auto").strip()
    if "://" in spec:
        yield url_server(spec)
        return
    if spec not in ("auto", "dev", "native", "docker"):
        raise ConfigError(f"unknown --mysql-server {spec!r}",
                          "use auto, native, docker, dev, or an admin URL mysql://root:PASSWORD@HOST:PORT/")
    if spec == "auto" and template:
        from .servers import find_binary

        if find_binary(search_path) is not None:
            spec = "native"
    if spec in ("auto", "dev"):
        found = dev_server(project_dir)
        if found is not None:
            yield found
            return
        if spec == "dev":
            raise ServerError("no dev server answers for this project",
                              "run provision up (make dev-db) first, or use --mysql-server=native")
    kind = spec
    if spec == "auto":
        from .servers import find_binary

        if find_binary(search_path) is not None:
            kind = "native"
        else:
            ok, why = docker_available()
            if not ok:
                from ..backends.native import install_hint

                raise ServerError(f"no server for test databases: no dev server, no mysqld/mariadbd, and {why}",
                                  install_hint() + "; or pass --mysql-server=mysql://root:PASSWORD@HOST:PORT/")
            kind = "docker"
    from . import servers

    sweep_servers()
    if share_key is None:
        with ephemeral_server(kind, image, search_path=search_path, count_writes=template) as server:
            yield server
        return
    yield _shared(servers, kind, image, share_key, owner_pid or os.getppid(), search_path, template)


def _shared(servers, kind: str, image: str | None, key: str, owner_pid: int, search_path: str | None,
            count_writes: bool = False):
    import fcntl

    lock_path = base_dir() / f"lock-{key}"
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = EphemeralServer.attach(run_dir(key))
        if found is not None:
            return found
        if run_dir(key).exists():  # a failed start of a sibling: start afresh
            reap(run_dir(key))
        server = servers.start(kind, image=image, owner_pid=owner_pid, key=key, search_path=search_path,
                               count_writes=count_writes)
        server.owned = False  # the owner (the xdist controller) or its watchdog removes it
        server._watchdog = None
        return server
