"""Namespaces and TTLs: names within the servers' limits, CI job ids, no wildcard leaks."""
from __future__ import annotations

import re

import pytest

from provision import namespaces
from provision.errors import ConfigError
from provision.leases import Lease, lock_name, parse_ttl


class TestNames:
    def test_applied_to_database_and_user(self):
        assert namespaces.apply("ohdevel", "ohdev", "alice") == ("ohdevel_alice", "ohdev_alice")

    @pytest.mark.parametrize("bad", ["", "Alice", "al_ice", "al-ice", "a b", "a%", "x" * 21, "é", "a`b"])
    def test_invalid(self, bad):
        with pytest.raises(ConfigError) as info:
            namespaces.resolve(bad, environ={})
        assert info.value.exit_code == 2 and "lowercase letters and digits" in info.value.hint

    def test_user_limit_is_mysqls_32(self):
        with pytest.raises(ConfigError, match="MySQL allows 32"):
            namespaces.apply("ohdevel", "u" * 12, "x" * 20)

    def test_database_keeps_room_for_test_databases(self):
        with pytest.raises(ConfigError, match="64"):
            namespaces.apply("d" * 30, "ohdev", "x" * 20)


class TestAuto:
    def test_laptop_is_user_and_host(self, monkeypatch):
        monkeypatch.setattr(namespaces.getpass, "getuser", lambda: "Alice.Smith")
        name = namespaces.resolve("auto", environ={})
        assert name.startswith("alicesmith") and len(name) == len("alicesmith") + 4

    @pytest.mark.parametrize("environ, expected", [
        ({"GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "9876543210", "GITHUB_RUN_ATTEMPT": "2", "GITHUB_JOB": "test"},
         r"gh9876543210a2[0-9a-f]{4}"),
        ({"GITLAB_CI": "true", "CI_JOB_ID": "445566"}, r"gl445566"),
        ({"JENKINS_URL": "http://ci/", "BUILD_NUMBER": "17", "BUILD_TAG": "jenkins-app-17"}, r"jk17[0-9a-f]{4}"),
        ({"BUILDKITE": "true", "BUILDKITE_JOB_ID": "01890c2e-7f1a-4c3b-9d2e-6a5b4c3d2e1f"}, r"bk01890c2e7f1a"),
    ])
    def test_ci_job_ids(self, environ, expected):
        assert re.fullmatch(expected, namespaces.resolve("auto", environ=environ))

    def test_matrix_jobs_of_one_run_differ(self):
        base = {"GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "1", "GITHUB_RUN_ATTEMPT": "1", "GITHUB_JOB": "test"}
        one = namespaces.resolve("auto", environ={**base, "RUNNER_NAME": "GitHub Actions 1"})
        two = namespaces.resolve("auto", environ={**base, "RUNNER_NAME": "GitHub Actions 2"})
        assert one != two


class TestTtl:
    @pytest.mark.parametrize("text, seconds", [("4s", 4), ("90", 90), ("10m", 600), ("1h", 3600), ("7d", 604800),
                                               ("2w", 1209600), ("1.5h", 5400)])
    def test_units(self, text, seconds):
        assert parse_ttl(text) == seconds

    @pytest.mark.parametrize("bad", ["", "0s", "0.2s", "soon", "-1h", "1y", "4 days"])
    def test_invalid(self, bad):
        with pytest.raises(ConfigError):
            parse_ttl(bad)


class TestLeaseNames:
    def test_lock_names_fit_mysqls_64(self):
        assert len(lock_name("x" * 64)) <= 64

    @pytest.mark.parametrize("name", ["mysql", "provision", "sys", "information_schema"])
    def test_never_a_system_schema_or_the_registry(self, name):
        with pytest.raises(ConfigError):
            Lease(name=name, purpose="dev", ttl=60)

    @pytest.mark.parametrize("prefix", ["ohdevel", "oh_", "ohdevel_t_ab12_main_42"])
    def test_run_prefix_ends_with_underscore_and_is_long(self, prefix):
        with pytest.raises(ValueError):
            Lease(name=prefix, kind="run", purpose="test", ttl=60)
