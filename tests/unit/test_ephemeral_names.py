"""Ephemeral database names, orphan detection, templates as data, and cheap imports (no server)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from provision.testing.databases import (DEFAULT_PREFIX, database_name, host_tag, is_orphan, like_pattern,
                                         parse_name, worker_id)
from provision.errors import ConfigError


def _dead_pid() -> int:
    """A pid that surely belonged to a process that is gone: a child we started and reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


class TestNames:
    """Names carry prefix, host, xdist worker, owning pid and a random part, and parse back."""

    def test_round_trip(self):
        name = database_name("provision", worker="gw3", pid=4242, rand="abcdef")
        assert name == f"provision_t_{host_tag()}_gw3_4242_abcdef"
        assert parse_name(name) == {"prefix": "provision", "host": host_tag(), "worker": "gw3", "pid": 4242,
                                    "rand": "abcdef"}

    def test_defaults_are_this_process_and_random(self, monkeypatch):
        monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
        first, second = database_name(), database_name()
        assert first != second
        assert parse_name(first)["pid"] == os.getpid()
        assert parse_name(first)["worker"] == "main"

    def test_worker_from_xdist(self, monkeypatch):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
        assert worker_id() == "gw1"
        assert parse_name(database_name())["worker"] == "gw1"
        monkeypatch.setenv("PYTEST_XDIST_WORKER", "weird; DROP")
        assert worker_id() == "main"

    def test_prefix_with_underscores_parses(self):
        name = database_name("ohdevel_app", worker="main", pid=1, rand="000000")
        assert parse_name(name)["prefix"] == "ohdevel_app"

    def test_too_long_prefix_is_refused_with_a_hint(self):
        with pytest.raises(ConfigError) as info:
            database_name("p" * 50)
        assert "prefix" in info.value.hint

    @pytest.mark.parametrize("name", ["ohdevel", "provision_t_zzzz_gw0_1_abcdef", "provision_t_abcd_gw0_1_abc",
                                      "provision_tpl_abcdef_0123456789ab", "other_t_abcd_x_1_abcdef"])
    def test_foreign_names_do_not_parse(self, name):
        assert parse_name(name) is None

    def test_like_pattern_escapes_wildcards(self):
        assert like_pattern("oh_dev") == "oh\\_dev\\_t\\_%"
        assert like_pattern("oh_dev", "tpl") == "oh\\_dev\\_tpl\\_%"


class TestOrphans:
    """Only our names, from this host, whose pid is gone, are orphans."""

    def test_dead_owner_is_an_orphan(self):
        assert is_orphan(database_name(DEFAULT_PREFIX, pid=_dead_pid()), DEFAULT_PREFIX)

    def test_live_owner_is_not(self):
        assert not is_orphan(database_name(DEFAULT_PREFIX, pid=os.getpid()), DEFAULT_PREFIX)

    def test_other_host_is_never_touched(self):
        other = "0000" if host_tag() != "0000" else "ffff"
        assert not is_orphan(database_name(DEFAULT_PREFIX, pid=_dead_pid(), host=other), DEFAULT_PREFIX)

    def test_other_prefix_is_never_touched(self):
        assert not is_orphan(database_name("someone", pid=_dead_pid()), DEFAULT_PREFIX)

    def test_unparseable_is_never_touched(self):
        assert not is_orphan("provision_t_important", DEFAULT_PREFIX)


class TestTemplates:
    """A template is data: its kind comes from what was given, its key from its files."""

    def test_kinds(self, tmp_path):
        from provision.testing.templates import as_template

        sql = tmp_path / "schema.sql"
        sql.write_text("CREATE TABLE t (id INT);\n")
        (tmp_path / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/migrations\n")
        (tmp_path / "migrations" / "versions").mkdir(parents=True)
        assert as_template(None) is None
        assert as_template(sql).kind == "sql"
        assert as_template(tmp_path / "alembic.ini").kind == "alembic"
        assert as_template(tmp_path).kind == "alembic"
        assert as_template("schema.sql", base_dir=tmp_path).kind == "sql"
        assert as_template("os.path:join").kind == "callable"
        assert as_template(lambda db: None).kind == "callable"

    def test_unknown_template_says_what_works(self, tmp_path):
        from provision.testing.templates import as_template

        with pytest.raises(ConfigError) as info:
            as_template(tmp_path / "nothing.txt")
        assert "alembic.ini" in info.value.hint

    def test_key_follows_file_contents_and_server_version(self, tmp_path):
        from provision.testing.templates import as_template

        (tmp_path / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/migrations\n")
        versions = tmp_path / "migrations" / "versions"
        versions.mkdir(parents=True)
        (versions / "0001_a.py").write_text("revision = '0001'\n")
        template = as_template(tmp_path)
        key = template.key("10.11.6")
        assert as_template(tmp_path).key("10.11.6") == key
        assert template.key("8.4.0") != key
        (versions / "0001_a.py").write_text("revision = '0001'  # changed\n")
        assert as_template(tmp_path).key("10.11.6") != key
        (versions / "0002_b.py").write_text("revision = '0002'\n")
        assert len(as_template(tmp_path).files) == 3
        assert template.database_name("ohdevel", "10.11.6").startswith(f"ohdevel_tpl_{template.family}_")

    def test_copy_plan_statements_unqualify_and_drop_definer(self):
        from provision.testing.templates import CopyPlan, _unqualify

        view = ("CREATE ALGORITHM=UNDEFINED DEFINER=`root`@`localhost` SQL SECURITY DEFINER VIEW `v` AS "
                "select `tpl_x`.`t`.`id` AS `id` from `tpl_x`.`t`")
        assert _unqualify(view, "tpl_x") == ("CREATE ALGORITHM=UNDEFINED SQL SECURITY DEFINER VIEW `v` AS "
                                             "select `t`.`id` AS `id` from `t`")
        plan = CopyPlan(template="tpl_x", charset="utf8mb4", collation="utf8mb4_unicode_ci",
                        tables=[("t", "CREATE TABLE `t` (`id` int)")], seeds=[("t", ["id"])],
                        views=[("v", "CREATE VIEW `v` AS select 1")], programs=[("STRICT_TRANS_TABLES", "CREATE X")])
        statements = plan.statements("copy_1")
        assert statements[1] == "USE `copy_1`"
        assert "INSERT INTO `t` (`id`) SELECT `id` FROM `tpl_x`.`t`" in statements
        assert statements.index("CREATE VIEW `v` AS select 1") < statements.index("CREATE X")
        assert "SET SESSION SQL_MODE = 'STRICT_TRANS_TABLES'" in statements
        assert plan.create_database("copy_1") == ("CREATE DATABASE `copy_1` CHARACTER SET `utf8mb4` "
                                                  "COLLATE `utf8mb4_unicode_ci`")


class TestCheapImports:
    """Loading the plugin (every pytest run of a project that installs provision) stays cheap."""

    def test_plugin_and_api_import_no_driver(self):
        code = textwrap.dedent("""
            import sys
            import provision.testing.plugin, provision.testing.databases, provision.testing.servers, provision.testing.templates
            heavy = sorted(m for m in ("pymysql", "docker", "testcontainers", "sqlalchemy", "alembic")
                           if m in sys.modules)
            print(",".join(heavy))
        """)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        assert out.strip() == ""

    def test_api_names_are_the_functions_after_every_import(self):
        code = ("import provision, provision.testing.databases, provision.testing.servers, provision.testing.plugin\n"
                "from contextlib import AbstractContextManager\n"
                "print(callable(provision.ephemeral_server), callable(provision.ephemeral_database))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        assert out.split() == ["True", "True"]


class TestContainerLabels:
    """Test-server containers carry dev.provision.* labels; ones started before the rename are still ours."""

    def test_new_and_old_labels_are_ours_and_nothing_else_is(self):
        from provision.testing.reaper import is_ours

        assert is_ours({"dev.provision.ephemeral": "true", "dev.provision.run_dir": "/dev/shm/x/srv-1"})
        assert is_ours({"provision.ephemeral": "1", "provision.run_dir": "/dev/shm/x/srv-1"})
        assert not is_ours({"dev.provision.owned": "true"})  # a project's container: its backend owns it
        assert not is_ours({"provision.ephemeral": "true"}) and not is_ours(None)
