"""Installing a MySQL or MariaDB server, only when asked (``provision up --install``).

What runs here, by system (``sudo`` in front when not root):

    macOS, or --backend brew   brew install <formula>        (--formula, else mysql: the seed's)
    Debian, Ubuntu             apt-get install -y --no-upgrade mariadb-server
                               (mysql-server with --formula mysql...); "apt-get update" first
                               only when apt knows no candidate for it (a fresh image)
    Fedora, RHEL               dnf install -y mariadb-server (mysql-server with --formula mysql...)

MariaDB is the Linux default: Debian has no mysql-server, and Ubuntu's MySQL ships an
AppArmor profile that keeps mysqld out of the native backend's project data directory.
``--no-upgrade`` makes a run where the package is already there a no-op, not an upgrade.

Installing happens only when no server can be found or started (``missing_server``
says why), with ``--install`` and a yes (``--yes``, or the CLI's prompt on a terminal).
The command is logged at warning level before it runs (so it shows even with --json);
the package manager's own output goes to stderr. ``--dry-run`` only shows the plan.
"""
from __future__ import annotations

import collections
import logging
import os
import platform as _platform
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import progress
from .backends import get_backend
from .backends.brew import find_brew, no_brew_error, validate_formula
from .choose import start_order
from .config import Settings
from .errors import ConfigError, ServerError
from .ports import is_listening
from .state import StateDir

log = logging.getLogger(__name__)

DEBIAN_LIKE = {"debian", "ubuntu"}
FEDORA_LIKE = {"fedora", "rhel", "centos"}


@dataclass(frozen=True)
class Platform:
    system: str  # platform.system(): "Darwin", "Linux", ...
    distro: tuple[str, ...]  # /etc/os-release ID, then ID_LIKE
    root: bool

    @property
    def label(self) -> str:
        if self.system == "Darwin":
            return "macOS"
        return f"{self.system} ({self.distro[0]})" if self.distro else self.system


def detect(os_release: Path = Path("/etc/os-release")) -> Platform:
    distro: list[str] = []
    try:
        fields = dict(line.split("=", 1) for line in os_release.read_text().splitlines() if "=" in line)
    except OSError:
        fields = {}
    for key in ("ID", "ID_LIKE"):
        distro += shlex.split(fields.get(key, "").lower()) if fields.get(key) else []
    return Platform(system=_platform.system(), distro=tuple(distro), root=os.geteuid() == 0)


@dataclass(frozen=True)
class InstallPlan:
    manager: str  # "brew", "apt-get", "dnf"
    package: str
    commands: tuple[tuple[str, ...], ...]
    where: str  # the system, for messages

    @property
    def text(self) -> str:
        return " && ".join(shlex.join(command) for command in self.commands)


def install_commands(manager: str, package: str, *, sudo: bool, update: bool = False,
                     brew: str = "brew") -> tuple[tuple[str, ...], ...]:
    """The commands that install ``package`` with ``manager``; pure, for the plan and its tests."""
    prefix: tuple[str, ...] = ("sudo",) if sudo else ()
    if manager == "brew":
        return ((brew, "install", package),)  # Homebrew refuses to run as root: never sudo
    if manager == "apt-get":
        install = (*prefix, "apt-get", "install", "-y", "--no-upgrade", package)
        return ((*prefix, "apt-get", "update"), install) if update else (install,)
    if manager == "dnf":
        return ((*prefix, "dnf", "install", "-y", package),)
    raise ValueError(f"unknown package manager {manager!r}")


def plan_install(settings: Settings, platform: Platform | None = None, *,
                 which: Callable[[str], str | None] = shutil.which) -> InstallPlan:
    """What ``--install`` runs on this machine; ServerError when nothing here can install."""
    platform = platform or detect()
    wants_mysql = (settings.formula or "").startswith("mysql")
    if settings.backend == "brew" or platform.system == "Darwin":
        brew = find_brew()
        if brew is None:
            raise no_brew_error()
        formula = validate_formula(settings.formula or "mysql")
        return InstallPlan("brew", formula, install_commands("brew", formula, sudo=False, brew=str(brew)),
                           f"{platform.label} (Homebrew)")
    sudo = not platform.root
    if sudo and not which("sudo"):
        raise ServerError(
            f"installing a server on {platform.label} needs root, and sudo is not installed",
            "run provision up --install as root, or install the server yourself",
        )
    distro = set(platform.distro)
    managers = [m for m, family in (("apt-get", DEBIAN_LIKE), ("dnf", FEDORA_LIKE)) if distro & family]
    managers += [m for m in ("apt-get", "dnf") if m not in managers]
    manager = next((m for m in managers if which(m)), None)
    if manager is None:
        raise ServerError(
            f"provision does not know how to install a server on {platform.label} (no brew, apt-get or dnf)",
            "install MySQL or MariaDB with the system's package manager so that mysqld or mariadbd is on "
            "PATH, or use Docker: --backend docker",
        )
    package = "mysql-server" if wants_mysql else "mariadb-server"
    update = manager == "apt-get" and not _apt_has_candidate(package)
    return InstallPlan(manager, package, install_commands(manager, package, sudo=sudo, update=update),
                       f"{platform.label} ({manager})")


def _apt_has_candidate(package: str) -> bool:
    """Does apt know a version of ``package`` (installed or installable)? Read-only, no root."""
    try:
        out = subprocess.run(["apt-cache", "policy", package], capture_output=True, text=True,
                             timeout=60, env={**os.environ, "LC_ALL": "C"}).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    for line in out.splitlines():
        key, _, value = line.strip().partition(":")
        if key == "Candidate":
            return value.strip() not in ("", "(none)")
    return False


def run_install(plan: InstallPlan) -> list[str]:
    """Run the plan's commands, each logged before it runs. Their output lines are progress
    (a spinner's text on a terminal, shown with --debug elsewhere); a failure shows its tail.
    Returns the last lines of the last command's output."""
    tail: list[str] = []
    env = dict(os.environ)
    if plan.manager == "apt-get":
        env.setdefault("DEBIAN_FRONTEND", "noninteractive")  # passes through when root (sudo resets it)
    for command in plan.commands:
        # the start line is a warning: it shows even with --json
        with progress.step(log, f"installing: running {shlex.join(command)}", logging.WARNING):
            code, tail = _run_reporting(command, env)
        if code != 0:
            raise ServerError(
                f"{shlex.join(command)} failed (exit {code}); its output ends with:\n"
                + "\n".join("    " + line for line in tail),
                "fix what it reports (or run it yourself), then run provision up again",
            )
    return tail


def _run_reporting(command: tuple[str, ...], env: dict[str, str]) -> tuple[int, list[str]]:
    """Run ``command``, each output line a progress update; its exit code and last lines.
    (sudo asks for a password on the terminal itself, not through these pipes.)"""
    tail: collections.deque[str] = collections.deque(maxlen=20)
    try:
        process = subprocess.Popen(list(command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env=env, text=True, errors="replace")
    except OSError as exc:
        raise ServerError(f"cannot run {shlex.join(command)}: {exc}",
                          "install the server yourself, then run provision up again") from None
    with process:
        for line in process.stdout:
            line = line.rstrip()
            if line:
                tail.append(line)
                progress.update(log, line)
    return process.returncode, list(tail)


def missing_server(settings: Settings, state: StateDir) -> str | None:
    """Why a server must be installed before ``up`` can work; None when one can be found or started."""
    if settings.backend in ("existing", "docker"):
        return None  # nothing to install on this machine for these
    if settings.backend == "auto":
        if state.read().get("backend") or settings.server_url:
            return None
        if is_listening(settings.host, settings.port):
            return None  # choose_backend decides whether it is usable
        names = start_order()
    else:
        names = (settings.backend,)
    reasons = []
    for name in names:
        try:
            ok, why = get_backend(name, settings, state).available()
        except ModuleNotFoundError:  # a backend this installation does not have
            continue
        if ok:
            return None
        reasons.append(f"{name}: {why}")
    return "; ".join(reasons) or "no backend can start a server here"


@dataclass(frozen=True)
class InstallCheck:
    """For --dry-run: what --install would run here, and whether it is needed."""

    command: str | None  # None: nothing here can install
    needed: bool
    reason: str  # why it is (not) needed, or why nothing can install

    def to_dict(self) -> dict:
        return {"command": self.command, "needed": self.needed, "reason": self.reason}


def check(settings: Settings, state: StateDir) -> InstallCheck:
    missing = missing_server(settings, state)
    try:
        plan = plan_install(settings)
    except ServerError as exc:
        return InstallCheck(None, missing is not None, f"{exc.message} ({exc.hint})")
    if missing is None:
        return InstallCheck(plan.text, False, "a server can be found or started without installing")
    return InstallCheck(plan.text, True, missing)


def ensure_server(settings: Settings, state: StateDir, confirm: Callable[[str], bool] | None = None) -> str | None:
    """With --install: install a server when none can be found; say what was run (None: nothing)."""
    missing = missing_server(settings, state)
    if missing is None:
        log.info("install: not needed, a server can be found or started")
        return None
    plan = plan_install(settings)
    log.info("install: no server here (%s); %s would install %s", missing, plan.manager, plan.package)
    if not settings.yes:
        if confirm is None:
            raise ConfigError(
                f"installing {plan.package} on {plan.where} needs a yes: {plan.text}",
                "rerun with --yes (provision up --install --yes), or run it on a terminal to be asked",
            )
        if not confirm(plan.text):
            raise ServerError(f"{plan.package} was not installed (the answer was no), and no server can be "
                              f"started: {missing}", f"install it yourself ({plan.text}), then run provision up")
    tail = run_install(plan)
    still = missing_server(settings, state)
    if still is not None:
        raise ServerError(
            f"{plan.text} ran, but still no server can be started: {still}; its output ends with:\n"
            + "\n".join("    " + line for line in tail[-8:]),
            "the server binaries must be on PATH or in the usual places (/usr/sbin)",
        )
    return plan.text
