"""Progress of slow steps: log records the CLI renders (provision/progress.py), and the
docker engine's pull stream summed into bytes (the event shapes the engine sends)."""
from __future__ import annotations

import logging

import pytest

from provision import progress


class TestStep:
    def test_start_and_end_records_carry_the_step_and_elapsed_time(self, caplog):
        log = logging.getLogger("provision.test")
        with caplog.at_level(logging.INFO, logger="provision"):
            with progress.step(log, "native: initialising"):
                progress.update(log, "halfway", completed=1, total=2)
        kinds = [(r.progress, r.getMessage()) for r in caplog.records]
        assert kinds[0] == ("start", "native: initialising ...")
        assert kinds[1] == ("update", "halfway") and caplog.records[1].total == 2
        assert kinds[2][0] == "end" and caplog.records[2].ok and caplog.records[2].elapsed >= 0

    def test_a_failed_step_says_so(self, caplog):
        log = logging.getLogger("provision.test")
        with caplog.at_level(logging.INFO, logger="provision"), pytest.raises(RuntimeError):
            with progress.step(log, "install"):
                raise RuntimeError("boom")
        assert caplog.records[-1].ok is False and "failed" in caplog.records[-1].getMessage()


class TestPullProgress:
    def test_layers_are_summed_and_finished_layers_count_whole(self):
        from provision.backends.docker import pull_progress

        events = [
            {"status": "Pulling from library/mysql", "id": "8.4"},
            {"status": "Pulling fs layer", "id": "a"},
            {"status": "Downloading", "id": "a", "progressDetail": {"current": 5_000_000, "total": 10_000_000}},
            {"status": "Downloading", "id": "b", "progressDetail": {"current": 1_000_000, "total": 2_000_000}},
            {"status": "Download complete", "id": "a"},
            {"status": "Pull complete", "id": "b"},
        ]
        seen = list(pull_progress(events))
        assert seen[0] == ("Pulling from library/mysql", None, None)
        assert seen[3] == ("2 layer(s), 6.0 of 12.0 MB", 6_000_000, 12_000_000)
        assert seen[-1][1:] == (12_000_000, 12_000_000)

    def test_an_error_event_raises(self):
        import docker

        from provision.backends.docker import pull_progress

        with pytest.raises(docker.errors.APIError):
            list(pull_progress([{"error": "manifest unknown"}]))
