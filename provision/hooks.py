"""The git post-checkout hook that switches branch databases, and its installer.

``install`` writes ``<hooks dir>/post-checkout`` (the hooks dir git itself uses: honours
``core.hooksPath`` and worktrees). A hook already there is kept next to it as
``post-checkout.pre-provision`` and run first, with the same arguments, and its exit
status is the hook's; ``uninstall`` puts it back. Ours never fails the checkout: the
provision part runs with ``|| true`` and provision itself turns every problem into one
warning line and exit 0.

The hook runs ``<python> -m provision branch hook PREV NEW FLAG`` in the worktree, so
each worktree is its own project (its own ``.devdb``): a worktree where ``provision up``
never ran is left alone.
"""
from __future__ import annotations

import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path

from .errors import ProvisionError

HOOK = "post-checkout"
CHAINED = "post-checkout.pre-provision"
MARK = "# provision post-checkout hook"


class HookError(ProvisionError):
    exit_code = 2

    @classmethod
    def not_a_repository(cls, where: Path) -> "HookError":
        return cls(f"{where} is not inside a git repository (git rev-parse --git-path hooks failed)",
                   "run provision hooks install in your app's clone (git init first if it has none)")


def hooks_dir(project_dir: Path) -> Path:
    try:
        result = subprocess.run(["git", "-C", str(project_dir), "rev-parse", "--git-path", "hooks"],
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        raise HookError.not_a_repository(project_dir) from None
    if result.returncode != 0:
        raise HookError.not_a_repository(project_dir)
    path = Path(result.stdout.strip())
    return path if path.is_absolute() else (Path(project_dir) / path).resolve()


def script(python: str) -> str:
    """The hook: the chained one first (its status is ours), then provision, which never fails it."""
    py = shlex.quote(python)
    return f"""#!/bin/sh
{MARK} (provision hooks install; provision hooks uninstall restores the one before it)
status=0
here=$(dirname "$0")
if [ -x "$here/{CHAINED}" ]; then
    "$here/{CHAINED}" "$@" || status=$?
fi
if [ "$3" = 1 ]; then
    if [ -x {py} ]; then
        {py} -m provision branch hook "$1" "$2" "$3" </dev/null || true
    else
        echo "provision: warning: the python this hook was installed with is gone; the branch database" \\
             "was not switched (run provision hooks install again)" >&2
    fi
fi
exit $status
"""


def is_ours(path: Path) -> bool:
    try:
        return MARK in path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def install(project_dir: Path, python: str | None = None) -> str:
    """Install (or refresh) the hook; a foreign hook is kept and chained. Idempotent."""
    folder = hooks_dir(project_dir)
    folder.mkdir(parents=True, exist_ok=True)
    hook, chained = folder / HOOK, folder / CHAINED
    kept = ""
    if hook.exists() and not is_ours(hook):
        if chained.exists():
            raise HookError(f"{hook} is not provision's, and {chained} exists already",
                            f"merge them by hand, remove {chained}, then run provision hooks install again")
        os.rename(hook, chained)
        kept = f"; the existing hook runs first ({chained.name})"
    text = script(python or sys.executable)
    if hook.exists() and hook.read_text(encoding="utf-8") == text:
        return f"{hook} is already installed"
    tmp = hook.with_name(f".{HOOK}.{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(tmp.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH | stat.S_IRUSR)
    os.replace(tmp, hook)
    return f"installed {hook}{kept}"


def uninstall(project_dir: Path) -> str:
    folder = hooks_dir(project_dir)
    hook, chained = folder / HOOK, folder / CHAINED
    if not hook.exists() or not is_ours(hook):
        return f"no provision hook in {folder}"
    if chained.exists():
        os.replace(chained, hook)
        return f"removed provision's hook; {hook} is the one that was there before"
    hook.unlink()
    return f"removed {hook}"


def installed(project_dir: Path) -> bool | None:
    """Whether provision's hook is installed; None outside a git repository."""
    try:
        return is_ours(hooks_dir(project_dir) / HOOK)
    except HookError:
        return None
