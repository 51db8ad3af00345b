"""The port a project's own server gets when the default port is held (provision/project_port.py)."""
from __future__ import annotations

import json
import os
import socket
import time

from provision import project_port
from provision.project_port import BASE, SPAN, claim, first_choice


class TestProjectPort:
    def test_the_first_choice_is_stable_and_in_range(self, tmp_path):
        ports = {first_choice(tmp_path / f"p{i}" / ".devdb") for i in range(200)}
        assert all(BASE <= port < BASE + SPAN for port in ports)
        assert BASE + SPAN <= 32768  # below Linux's ephemeral range
        assert first_choice(tmp_path / "p1" / ".devdb") == first_choice(tmp_path / "p1" / ".devdb")
        assert len(ports) > 150  # spread out: 200 projects rarely share a first choice

    def test_a_claim_is_kept_for_its_project_and_skipped_by_others(self, tmp_path, monkeypatch):
        registry = tmp_path / "registry"
        one, two = tmp_path / "one" / ".devdb", tmp_path / "two" / ".devdb"
        monkeypatch.setattr(project_port, "first_choice", lambda path: BASE + SPAN - 1)  # both want one port
        port = claim(one, registry=registry)
        assert claim(one, registry=registry) == port  # a retried first up gets the same port
        # the other project, not yet listening anywhere, takes the next one (wrapping around)
        assert claim(two, registry=registry) not in (port, None)
        assert json.loads((registry / str(port)).read_text())["state"] == str(one.resolve())

    def test_a_listening_port_is_skipped(self, tmp_path):
        state = tmp_path / "p" / ".devdb"
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", first_choice(state)))
            sock.listen()
            assert claim(state, registry=tmp_path / "registry") != first_choice(state)

    def test_a_lapsed_claim_is_taken_over(self, tmp_path):
        registry = tmp_path / "registry"
        gone, new = tmp_path / "gone" / ".devdb", tmp_path / "new" / ".devdb"
        port = claim(gone, registry=registry)
        old = time.time() - project_port.CLAIM_TTL - 5
        os.utime(registry / str(port), (old, old))  # the first up ended long ago, and nothing records the port
        assert project_port._owner(registry / str(port)) is None
        assert not (registry / str(port)).exists()

    def test_a_claim_recorded_in_the_projects_state_never_lapses(self, tmp_path):
        registry = tmp_path / "registry"
        state = tmp_path / "kept" / ".devdb"
        port = claim(state, registry=registry)
        state.mkdir(parents=True)
        (state / "state.json").write_text(json.dumps({"backend": "native", "native": {"port": port}}))
        old = time.time() - project_port.CLAIM_TTL - 5
        os.utime(registry / str(port), (old, old))
        assert project_port._owner(registry / str(port)) == state.resolve()
