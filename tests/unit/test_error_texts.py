"""Error texts written once (errors.py classmethods) keep the caller's kind and exit code."""
from pathlib import Path

from provision.branches import BranchError
from provision.errors import ConfigError, InitError, ServerError, SnapshotError, StateError


def test_shared_texts_keep_the_callers_kind():
    assert isinstance(BranchError.no_database("app"), BranchError)
    assert SnapshotError.no_database("app").exit_code == 7
    assert StateError.no_snapshot(Path("/s/master")).exit_code == 6
    assert InitError.unknown_driver("x").exit_code == ConfigError.unknown_driver("x").exit_code == 2


def test_texts_say_what_was_checked_and_end_with_the_fix():
    missing = SnapshotError.no_snapshot(Path("/state/snapshots/master"))
    assert missing.message == "no snapshot named master (looked in /state/snapshots)"
    assert "snapshot list" in missing.hint
    locked = BranchError.tables_locked("app", "switched")
    assert locked.message.endswith("nothing was switched") and "--kill-blockers" in locked.hint
    taken = ServerError.port_taken(3307, "pid 42")
    assert "in use by pid 42" in taken.message and "--port 3308" in taken.hint
    assert ConfigError.unknown_framework("rails", ["django", "none"]).hint == "choose one of: django, none"
