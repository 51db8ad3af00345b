"""Hints name commands that work exactly as typed from the project root (issue 9)."""
from __future__ import annotations

import sys

from provision.cli.app import as_typed

HINT = "install a server: apt-get install -y mariadb-server (or let provision do it: provision up --install --yes)"


class TestAsTyped:
    def test_a_venv_script_not_on_path_is_named_by_its_relative_path(self, tmp_path, monkeypatch):
        script = tmp_path / ".venv" / "bin" / "provision"
        script.parent.mkdir(parents=True)
        script.write_text("#!/bin/sh\n")
        monkeypatch.chdir(tmp_path)
        monkeypatch.setattr(sys, "argv", [str(script)])
        monkeypatch.setenv("PATH", "/nonexistent")
        monkeypatch.delenv("MAKELEVEL", raising=False)
        assert as_typed(HINT).endswith("(or let provision do it: .venv/bin/provision up --install --yes)")
        # words that are not a command stay as they are
        assert as_typed("provision's server of /x") == "provision's server of /x"

    def test_on_path_it_stays_provision(self, tmp_path, monkeypatch):
        script = tmp_path / "provision"
        script.write_text("#!/bin/sh\n")
        script.chmod(0o755)
        monkeypatch.setattr(sys, "argv", [str(script)])
        monkeypatch.setenv("PATH", str(tmp_path))
        monkeypatch.delenv("MAKELEVEL", raising=False)
        assert as_typed(HINT) == HINT

    def test_under_make_the_install_yes_is_make_dev_db_yes(self, tmp_path, monkeypatch):
        monkeypatch.setattr(sys, "argv", [str(tmp_path / "provision")])
        monkeypatch.setenv("PATH", str(tmp_path))
        monkeypatch.setenv("MAKELEVEL", "1")
        assert "make dev-db YES=1" in as_typed(HINT)
