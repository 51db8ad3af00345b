"""What the post-checkout hook does: switch the branch database, then check Alembic.

It never fails the checkout and never waits long: locks are waited for at most
``HOOK_TIMEOUT`` seconds, the server login at most ``CONNECT_TIMEOUT``, and every problem
becomes one warning with the command to run afterwards. It does nothing where switching
would be wrong: a file checkout (flag 0), a worktree without provision state, a detached
HEAD, and a rebase or bisect in progress (HEAD moves commit by commit then; the branch's
database stays live, and it is still the right one when the rebase ends).
"""
from __future__ import annotations

import logging
from . import branches
from .config import Settings
from .errors import ProvisionError
from .state import StateDir

log = logging.getLogger(__name__)

HOOK_TIMEOUT = 10.0
CONNECT_TIMEOUT = 5.0


def on_checkout(settings: Settings, previous: str, new: str, flag: str) -> list[str]:
    """Lines to show after ``git checkout`` (warnings included). Never raises."""
    if flag != "1" or settings.branches == "off":
        return []
    project_dir = settings.project_dir
    branch = None
    try:
        if not StateDir(settings.state_path).read().get("backend"):
            return []  # provision never ran in this worktree: not a project
        if branches.in_progress(project_dir):
            return []
        branch = branches.current_branch(project_dir)
        live = branches.Registry(settings.state_path).read()["live"]
        if branch is None:
            return [f"detached HEAD: the database keeps {live}'s tables"] if live else []
        return switch_and_check(settings, branch, live_hint=branches.git(project_dir, "rev-parse", "--abbrev-ref",
                                                                         "@{-1}"),
                                timeout=HOOK_TIMEOUT)
    except ProvisionError as exc:
        return [f"warning: the database was not switched to {branch or 'this branch'}: {exc.message}"
                + (f" ({exc.hint})" if exc.hint else "")]
    except KeyboardInterrupt:
        return [f"warning: interrupted; run provision branch switch to finish switching to {branch or 'this branch'}"]
    except Exception as exc:  # a driver or OS error: git's checkout is done, say what to run
        return [f"warning: the database was not switched to {branch or 'this branch'}: {exc} "
                "(provision branch switch tries again; provision doctor says more)"]


def switch_and_check(settings: Settings, branch: str, *, live_hint: str | None = None,
                     timeout: float | None = None) -> list[str]:
    from .project import open_project

    project = open_project(settings)
    with project.admin(timeout=CONNECT_TIMEOUT) as conn:
        result = branches.switch(project, conn, branch, mode=settings.branches, live_hint=live_hint,
                                 timeout=timeout)
        lines = [f"repaired: {line}" for line in result.repaired]
        if result.action != "already live":
            lines.append(result.describe())
        lines += alembic_lines(settings, conn, project.database)
    return lines


def alembic_lines(settings: Settings, conn, database: str) -> list[str]:
    """The doctor's Alembic findings that need action, with their fix."""
    from .doctor.alembic import alembic_findings

    lines = []
    for finding in alembic_findings(settings.project_dir, conn, database, settings):
        if finding.status in ("warn", "error"):
            lines.append(f"{finding.check}: {finding.finding}" + (f"\n  run: {finding.fix}" if finding.fix else ""))
    return lines

