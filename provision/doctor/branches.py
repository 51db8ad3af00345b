"""The doctor's look at branch databases: whose tables the app database holds, against git's branch."""
from __future__ import annotations

from typing import Iterator

from .findings import ERROR, OK, SKIP, WARN, Context, Finding


def check_branches(ctx: Context) -> Iterator[Finding]:
    from .. import branches, hooks

    if not ctx.recorded.get("backend"):
        return
    state = branches.status(ctx.state.path, ctx.settings.project_dir)
    installed = hooks.installed(ctx.settings.project_dir)
    details = {**state, "hook_installed": installed}
    journal = state["journal"]
    if journal:
        yield Finding("branches", ERROR, f"a switch of {journal['database']} from {journal['from']} to "
                      f"{journal['to']} was interrupted (journal {state['journal_path']}); every branch's tables "
                      "are still on the server", "provision branch list   (any provision command repairs it first)",
                      details)
        return
    if state["live"] is None:
        if installed:
            yield Finding("branches", WARN, "the post-checkout hook is installed but provision does not know "
                          f"which branch {ctx.database}'s tables belong to", "provision branch adopt", details)
        else:
            yield Finding("branches", SKIP, "branch databases are off: every branch shares one database",
                          "provision hooks install   (then each branch keeps its own)", details)
        return
    parked = f"; parked: {', '.join(state['parked'])}" if state["parked"] else ""
    if state["git_branch"] is None or state["in_progress"]:
        why = state["in_progress"] or "detached HEAD"
        yield Finding("branches", OK, f"{ctx.database} holds {state['live']}'s tables ({why}){parked}",
                      details=details)
    elif state["git_branch"] != state["live"]:
        yield Finding("branches", WARN, f"{ctx.database} holds {state['live']}'s tables but git is on "
                      f"{state['git_branch']} (the hook did not run, or could not switch){parked}",
                      "provision branch switch", details)
    elif not installed:
        yield Finding("branches", WARN, f"{ctx.database} holds {state['live']}'s tables{parked}, but the "
                      "post-checkout hook is not installed: a checkout will not switch them",
                      "provision hooks install", details)
    else:
        yield Finding("branches", OK, f"{ctx.database} holds {state['live']}'s tables, git's branch{parked}",
                      details=details)
