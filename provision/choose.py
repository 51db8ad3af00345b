"""``--backend auto``: pick a backend, and say which and why.

Order: the last run's backend (its state wins); a server already answering on the
port that accepts the admin login (the seed's system MySQL); then what can start a
server here. On Linux native comes before docker (no daemon, no image to pull); on
macOS docker, brew, then native, as a Mac user would expect.
"""
from __future__ import annotations

import sys

from .backends import get_backend
from .backends.existing import admin_url
from .backends.native import install_hint
from .config import Settings
from .errors import ServerError
from .ports import is_listening, port_holder
from .probe import ACCESS_DENIED, connect, error_code
from .state import StateDir


def start_order() -> tuple[str, ...]:
    return ("docker", "brew", "native") if sys.platform == "darwin" else ("native", "docker")


def choose_backend(settings: Settings, state: StateDir) -> tuple[str, str]:
    if settings.backend != "auto":
        return settings.backend, "chosen with --backend"
    recorded = state.read().get("backend")
    if recorded:
        return recorded, f"the last run used it; state in {state.path}"
    if settings.server_url:
        return "existing", "--server-url was given"
    answering = _answering_server(settings)
    if answering:
        return "existing", answering
    reasons = []
    for name in start_order():
        try:
            ok, why = get_backend(name, settings, state).available()
        except ModuleNotFoundError:  # a backend this installation does not have
            continue
        if ok:
            return name, f"no server on {settings.host}:{settings.port}; {why}"
        reasons.append(f"{name}: {why}")
    raise ServerError(
        f"no MySQL server answers on {settings.host}:{settings.port} and none can be started here ("
        + "; ".join(reasons) + ")",
        install_hint() + ", then run provision up again",
    )


def _answering_server(settings: Settings) -> str | None:
    """A reason to use the server on the port, None when nothing listens; raises when unusable."""
    if not is_listening(settings.host, settings.port):
        return None
    admin = admin_url(settings)
    try:
        # read_timeout: something that accepts TCP but never greets must not hang us
        connect(admin, timeout=3, read_timeout=3).close()
    except Exception as exc:
        code = error_code(exc)
        if code is None:
            raise
        where = f"{settings.host}:{settings.port}"
        if code == ACCESS_DENIED:
            raise ServerError(
                f"a MySQL server answers on {where} but refused root with a blank password",
                f"pass its admin login: provision up --server-url mysql://root:PASSWORD@{where}/ ; "
                f"or start a project server on another port: provision up --port {settings.port + 1}",
            ) from exc
        holder = port_holder(settings.port) or "a process"
        raise ServerError(
            f"port {settings.port} on {settings.host} is held by {holder}, which is not a MySQL server "
            "provision can log in to",
            f"stop it, or use another port: provision up --port {settings.port + 1}",
        ) from exc
    return f"a server already answers on {settings.host}:{settings.port} and accepts {admin.user}'s login"
