"""Parked branch databases get names that validate, whatever the git branch is called."""
from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings, strategies as st

from provision import branches
from provision.names import validate_database

# what git allows in a branch name, roughly: anything printable but a few punctuation marks
BRANCH = st.text(st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters=" ~^:?*[\\"),
                 min_size=1, max_size=250)


class TestParkedNames:
    @settings(max_examples=200, deadline=None)
    @given(BRANCH)
    def test_any_branch_gets_a_valid_unique_name_of_ours(self, branch):
        key = branches.project_key(Path("/tmp/app/.devdb"), "ohdevel")
        first, second = branches.parked_name(key, branch), branches.parked_name(key, branch)
        assert validate_database(first) == first and len(first) <= 64
        assert first.startswith(f"provision_br_{key}_") and first != second
        # never inside the app user's ohdevel\_% grant, nor a test run's ohdevel_t_ prefix
        assert not first.startswith("ohdevel")

    def test_the_project_key_tells_projects_and_databases_apart(self):
        key = branches.project_key
        assert key(Path("/a/.devdb"), "ohdevel") == key(Path("/a/.devdb"), "ohdevel")
        assert len({key(Path("/a/.devdb"), "ohdevel"), key(Path("/b/.devdb"), "ohdevel"),
                    key(Path("/a/.devdb"), "other")}) == 3

    @given(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,63}", fullmatch=True))
    def test_the_server_lock_name_fits_get_lock(self, database):
        assert len(branches.lock_name(database)) <= 64
