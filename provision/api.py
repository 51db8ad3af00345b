"""The library API: what the CLI and the pytest plugin call.

``up`` = choose a backend, make the server reachable, converge the database, user and
grants, prove the URL by logging in with it, and only then write it to .env.
"""
from __future__ import annotations

import logging
import shutil
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator

from . import team
from .backends import get_backend
from .bootstrap import converge, converge_test_grants, login_check, plan, prove
from .choose import choose
from .config import DRIVERS, Settings, load_settings
from .envfile import read_key, write_key
from .errors import ProvisionError, StateError
from .probe import server_info
from .state import StateDir
from .url import DatabaseURL, app_url
from .project import app_password, current_url, recorded_backend, url_scheme  # noqa: F401 (the API)

log = logging.getLogger(__name__)


@dataclass
class UpResult:
    backend: str
    reason: str
    server_action: str
    server: str
    flavor: str
    version: str
    host: str
    port: int
    database: str
    user: str
    hosts: list[str]
    url: DatabaseURL = field(repr=False)
    env_file: str
    env_key: str
    env_action: str
    changes: list[str]
    proof: dict[str, str]
    installed: str | None = None  # the install command --install ran, if it ran one
    framework: dict[str, Any] | None = None  # frameworks.Detection.to_dict() of the app's test runner
    test_grants: list[str] = field(default_factory=list)  # GRANT patterns of its test databases
    namespace: str | None = None
    lease: dict[str, Any] | None = None  # name, ttl, expires (the server's UTC) when up holds a lease

    @property
    def changed(self) -> bool:
        return self.server_action != "already running" or bool(self.changes) or self.env_action != "unchanged"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["url"] = self.url.redacted()
        data["changed"] = self.changed
        return data


def _settings(settings: Settings | None, overrides: dict[str, Any]) -> Settings:
    return settings if settings is not None else load_settings(overrides)


def up(settings: Settings | None = None, *, confirm: Callable[[str], bool] | None = None,
       **overrides: Any) -> UpResult:
    """``confirm(command)`` is asked before ``--install`` runs a package manager (unless --yes)."""
    settings = _settings(settings, overrides)
    state = StateDir(settings.state_path)
    with state.lock():
        settings = team.recorded_namespace(settings, state)
        installed = None
        if settings.install:
            from . import install  # the package managers' code is loaded only when asked for

            installed = install.ensure_server(settings, state, confirm)
        choice = choose(settings, state)
        name, reason, settings = choice.backend, choice.reason, choice.apply(settings)
        log.debug("backend: %s (%s)", name, reason)
        backend = get_backend(name, settings, state)
        started = backend.start()
        # recorded at once: if a later step fails, down/destroy still find the server it started
        state.update(backend=name)
        server = started.server
        conn = server.connect()
        try:
            info = server_info(conn)
            from . import branches

            # a switch between branch databases that a crash interrupted is finished (or undone) first
            repaired = [f"branch databases: {line}" for line in
                        branches.repair_pending(state.path, settings.database, conn)]
            password = app_password(settings, state)
            url = app_url(driver_scheme=DRIVERS[settings.driver], user=settings.user, password=password,
                          host=server.host, port=server.port, database=settings.database)
            with conn.cursor() as cursor:
                target = plan(cursor, settings, info, password)
            lease = team.dev_lease(settings, state, target.hosts)
            with team.holding(conn, lease):  # registered before anything is made, under the reapers' lock
                changes = converge(conn, target, fix_charset=settings.fix_charset,
                                   login_works=login_check(url, tls=not server.local))
                test_changes, ours = converge_test_grants(conn, target, state.read().get("test_grants", {}))
                state.update(test_grants=ours)  # at once: only what provision granted is ever revoked
                changes += test_changes + repaired
            lease_info = team.lease_info(conn, lease)
        finally:
            conn.close()
        url_text = str(url)
        proof = prove(url_text, tls=not server.local, hosts=target.hosts)
        env_action = write_key(settings.env_path, settings.env_key, url_text, secret=bool(password))
        state.update(backend=name, host=server.host, port=server.port, database=settings.database,
                     user=settings.user, hosts=list(target.hosts), flavor=info.flavor, version=info.version,
                     driver=settings.driver, env_file=str(settings.env_path), env_key=settings.env_key,
                     url=url.redacted(), local=server.local, details=started.details,
                     namespace=settings.namespace, lease=lease.record() if lease else None)
        if not choice.from_state:  # why this server and port: status and doctor repeat it
            state.update(chosen_because=reason)
        if choice.owns_app_names or (settings.namespace and not lease):
            # made on the system's server, or a namespace (ours by its name): destroy drops them again
            state.update(owned_names={"database": settings.database, "user": settings.user,
                                      "hosts": list(target.hosts)})
        state.add_to_gitignore(settings.project_dir)
    return UpResult(
        backend=name, reason=reason, server_action=started.action, server=info.label, flavor=info.flavor,
        version=info.version, host=server.host, port=server.port, database=settings.database,
        user=settings.user, hosts=list(target.hosts), url=url, env_file=str(settings.env_path),
        env_key=settings.env_key, env_action=env_action, changes=changes, proof=proof, installed=installed,
        framework=target.framework.to_dict() if target.framework else None, test_grants=list(target.test_patterns),
        namespace=settings.namespace, lease=team.lease_summary(lease_info),
    )


def dry_run(settings: Settings | None = None, **overrides: Any) -> dict[str, Any]:
    """What ``up`` would do first: the backend it would choose and what --install would run.
    Nothing is installed, started or written."""
    settings = _settings(settings, overrides)
    state = StateDir(settings.state_path)
    from . import install

    result: dict[str, Any] = {"install": install.check(settings, state).to_dict()}
    try:
        choice = choose(settings, state, reserve=False)
        result["backend"], result["reason"] = choice.backend, choice.reason
    except ProvisionError as exc:
        result["backend"], result["reason"] = None, exc.message
    return result


def down(settings: Settings | None = None, **overrides: Any) -> str:
    """Stop the server this project started (data kept); an existing server is left alone."""
    settings = _settings(settings, overrides)
    state = StateDir(settings.state_path)
    if not state.exists():
        return f"nothing to stop: no provision state in {state.path}"
    with state.lock():
        backend = recorded_backend(settings, state)
        return backend.stop() if backend else "nothing to stop"


def destroy(settings: Settings | None = None, **overrides: Any) -> str:
    """Stop and remove the project's server and its data; snapshots are kept."""
    settings = _settings(settings, overrides)
    state = StateDir(settings.state_path)
    if not state.path.exists():
        return f"nothing to destroy: {state.path} does not exist"
    with state.lock():
        backend = recorded_backend(settings, state)
        ended = team.end_recorded_lease(backend, state.read().get("lease"))
        dropped = _drop_branch_databases(state, backend)
        message = backend.destroy() if backend else "no server recorded"
        if ended:
            message = f"{ended}; {message}"
        if dropped:
            message += f"; dropped {len(dropped)} parked branch database(s)"
        for child in state.path.iterdir():
            if child.name in ("snapshots", "lock"):
                continue  # snapshots are the user's data; the lock is held right now
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    return f"{message}; state removed from {state.path} (the .env file was left as it is)"


def _drop_branch_databases(state: StateDir, backend) -> list[str]:
    """The parked branch databases are provision's: dropped even on a server destroy leaves running."""
    from . import branches

    registry = branches.Registry(state.path)
    if backend is None or getattr(backend, "server", None) is None or not registry.path.exists():
        return []
    recorded = state.read()
    try:
        conn = backend.server().connect(timeout=5)
    except Exception as exc:  # a stopped native or docker server: its data goes with it anyway
        if backend.name in ("existing", "brew"):
            log.warning("the parked branch databases on the %s server were not dropped (%s); "
                        "drop the databases named %s%s_* by hand", backend.name, exc, branches.PREFIX,
                        branches.project_key(state.path, recorded.get("database", "")))
        return []
    try:
        return branches.drop_all(state.path, recorded.get("database", ""), conn)
    finally:
        conn.close()


def status(settings: Settings | None = None, **overrides: Any) -> dict[str, Any]:
    settings = _settings(settings, overrides)
    state = StateDir(settings.state_path)
    recorded = state.read()
    if not recorded.get("backend"):
        return {"state": "absent", "state_dir": str(state.path),
                "hint": "run provision up (or make dev-db) to set up the dev database"}
    backend = get_backend(recorded["backend"], settings, state)
    result = {**backend.status(), "why": recorded.get("chosen_because"),
              "database": recorded.get("database"), "user": recorded.get("user"),
              "url": recorded.get("url"), "env_file": recorded.get("env_file")}
    env_value = read_key(settings.resolve(recorded.get("env_file", settings.env_file)),
                         recorded.get("env_key", settings.env_key))
    result["env_matches"] = env_value is not None and env_value == str(current_url(settings, state))
    if recorded.get("lease"):
        result["lease"] = team.renew_recorded_lease(backend, recorded["lease"])
    return result


def reap(server_url: str, *, dry_run: bool = False, purpose: str | None = None) -> list[dict[str, Any]]:
    """Drop the databases and users of the expired leases on the server of ``server_url`` (an admin)."""
    return team.reap(server_url, dry_run=dry_run, purpose=purpose)


def server_log(settings: Settings | None = None, *, lines: int = 40, follow: bool = False,
               **overrides: Any) -> Iterator[str]:
    """The server's log: its last ``lines`` lines; with ``follow``, then new text as it is written."""
    settings = _settings(settings, overrides)
    state = StateDir(settings.state_path)
    backend = recorded_backend(settings, state)
    if backend is None:
        raise StateError.nothing_set_up(state.path, "server")
    follow_logs = getattr(backend, "follow_logs", None)  # optional: docker and native have it
    if follow and follow_logs is not None:
        yield from follow_logs(lines)
        return
    text = backend.logs_tail(lines)
    if not text:
        raise StateError(f"the {backend.name} backend has no server log to show",
                         "an existing server's log belongs to whoever runs it" if backend.name == "existing"
                         else "run provision status to see the server's state")
    yield text if text.endswith("\n") else text + "\n"


# --- the migration workflow (provision/project.py, snapshots.py, doctor/) -------------
def reset(settings: Settings | None = None, **overrides: Any) -> dict[str, Any]:
    """Drop and recreate the project's database (same character set, grants kept); prove the URL."""
    from .project import reset as _reset

    return _reset(_settings(settings, overrides))


def snapshot_save(name: str, settings: Settings | None = None, **overrides: Any) -> dict[str, Any]:
    from .snapshots import save

    return save(_settings(settings, overrides), name)


def snapshot_restore(name: str, settings: Settings | None = None, **overrides: Any) -> dict[str, Any]:
    from .snapshots import restore

    return restore(_settings(settings, overrides), name)


def snapshot_list(settings: Settings | None = None, **overrides: Any) -> list[dict[str, Any]]:
    from .snapshots import list_snapshots

    return list_snapshots(_settings(settings, overrides))


def snapshot_delete(name: str, settings: Settings | None = None, **overrides: Any) -> str:
    from .snapshots import delete

    return delete(_settings(settings, overrides), name)


def doctor(settings: Settings | None = None, **overrides: Any):
    """Run every check; a Report of findings (status, finding, fix). Changes nothing."""
    from .doctor import doctor as _doctor

    return _doctor(_settings(settings, overrides))


def kill_blockers(ids: list[int] | None = None, settings: Settings | None = None,
                  **overrides: Any) -> list[dict[str, Any]]:
    """End the sessions that block metadata-lock waiters (only ``ids`` when given)."""
    from .doctor import kill_blockers as _kill

    return _kill(_settings(settings, overrides), ids)


def shell(settings: Settings | None = None, *, root: bool = False, **overrides: Any) -> int:
    """Run the mysql/mariadb client logged in as the app user (or the admin); its exit code."""
    from .project import run_shell

    return run_shell(_settings(settings, overrides), root=root)


# --- branch databases (provision/branches.py, hooks.py, checkout.py) ----------------------------
def branch_switch(branch: str | None = None, settings: Settings | None = None, **overrides: Any) -> list[str]:
    """Make ``branch``'s database live (default: git's current branch); lines to show."""
    from . import branches
    from .checkout import switch_and_check
    from .errors import ConfigError

    settings = _settings(settings, overrides)
    branch = branch or branches.current_branch(settings.project_dir)
    if branch is None:
        raise ConfigError("git is on a detached HEAD (or this is not a git repository)",
                          "name the branch: provision branch switch BRANCH")
    return switch_and_check(settings, branch)


def branch_hook(previous: str, new: str, flag: str, settings: Settings | None = None,
                **overrides: Any) -> list[str]:
    """What the post-checkout hook runs; lines to show, never an error."""
    from .checkout import on_checkout

    try:
        settings = _settings(settings, overrides)
    except ProvisionError as exc:
        return [f"warning: the database was not switched: {exc.message}"]
    return on_checkout(settings, previous, new, flag)


def branch_list(settings: Settings | None = None, **overrides: Any) -> list[dict[str, Any]]:
    from . import branches
    from .project import open_project

    project = open_project(_settings(settings, overrides))
    with project.admin() as conn:
        with branches.locked(project, conn, None):
            branches.repair(project, conn)
        return branches.list_branches(project, conn)


def branch_drop(databases: list[str], settings: Settings | None = None, **overrides: Any) -> list[str]:
    """Drop parked branch databases (names from branch_list); never the live one."""
    from . import branches
    from .project import open_project

    project = open_project(_settings(settings, overrides))
    with project.admin() as conn:
        return branches.drop_parked(project, conn, databases)


def branch_adopt(branch: str | None = None, settings: Settings | None = None, **overrides: Any) -> str:
    from . import branches
    from .project import open_project

    settings = _settings(settings, overrides)
    branch = branch or branches.current_branch(settings.project_dir)
    if branch is None:
        raise StateError("git is on a detached HEAD", "name the branch: provision branch adopt BRANCH")
    project = open_project(settings)
    with project.admin() as conn:
        return branches.adopt(project, conn, branch)


def branch_forget(branch: str, settings: Settings | None = None, **overrides: Any) -> str:
    from . import branches
    from .project import open_project

    project = open_project(_settings(settings, overrides))
    with project.admin() as conn:
        return branches.forget(project, conn, branch)


def hooks_install(settings: Settings | None = None, **overrides: Any) -> list[str]:
    """Install the post-checkout hook and record the checked-out branch as the live one."""
    from . import branches, hooks

    settings = _settings(settings, overrides)
    lines = [hooks.install(settings.project_dir)]
    branch = branches.current_branch(settings.project_dir)
    if branch and StateDir(settings.state_path).read().get("backend"):
        registry = branches.Registry(settings.state_path).read()
        if registry["live"] is None:
            lines.append(branch_adopt(branch, settings))
    return lines


def hooks_uninstall(settings: Settings | None = None, **overrides: Any) -> str:
    from . import hooks

    return hooks.uninstall(_settings(settings, overrides).project_dir)
