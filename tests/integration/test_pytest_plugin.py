"""The pytest plugin, run the way users run it: example suites in a pytest subprocess (pytester)."""
from __future__ import annotations

import contextlib
import importlib.util
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from provision.processes import alive as process_alive
from provision.testing.reaper import base_dir

from ..conftest import require
from .test_ephemeral import _docker_ready, databases_on, query, wait_for, write_alembic_project

# pytester puts sys.modules back after each test: a driver first imported inside one would be
# half-forgotten afterwards (requests then fails with "You can only merge into CookieJar")
with contextlib.suppress(ImportError):
    import docker  # noqa: F401
    import pymysql  # noqa: F401

pytest_plugins = ["pytester"]
pytestmark = [pytest.mark.mysql]

ISOLATION_SUITE = """
import os
import pytest

@pytest.mark.parametrize("i", range({n}))
def test_isolated(mysql_db, mysql_url, mysql_server, i):
    assert mysql_url == str(mysql_db.url)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    assert f"_t_" in mysql_db.name and f"_{{worker}}_{{os.getpid()}}_" in mysql_db.name
    conn = mysql_db.connect()
    with conn.cursor() as cursor:
        cursor.execute("SHOW TABLES")
        assert cursor.fetchall() == ()  # nothing of any other test is visible
        cursor.execute(f"CREATE TABLE t_{{i}} (id INT PRIMARY KEY)")
        cursor.execute(f"INSERT INTO t_{{i}} VALUES ({{i}})")
        cursor.execute("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()")
        assert cursor.fetchone()[0] == 1
    conn.close()
    with open("servers.txt", "a") as handle:
        handle.write(f"{{worker}} {{mysql_server.server.port}} {{mysql_server.directory}}\\n")
"""

BLOCKING_SUITE = """
import os, time

def test_a(mysql_db):
    pass

def test_blocks(mysql_db, mysql_server):
    with open("killme.txt", "w") as handle:
        handle.write(f"{mysql_db.name} {mysql_server.directory}\\n")
    parent = os.getppid()
    while os.getppid() == parent:  # until pytest (or the xdist controller) is killed
        time.sleep(0.05)  # sleep-ok: the test holds on until its pytest is killed
"""


def run_dirs() -> set[Path]:
    return set(base_dir().glob("srv-*"))


def mariadbd_for(directories) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().decode("utf-8", "replace")
            except OSError:
                continue
            if any(str(d) in cmdline for d in directories) and process_alive(int(entry.name)):
                found.append(int(entry.name))
    return found


def run_parallel_suite(pytester, *args: str, n: int = 100):
    pytester.makepyfile(test_suite=ISOLATION_SUITE.format(n=n))
    before = run_dirs()
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider", *args)
    result.assert_outcomes(passed=n)
    servers = {tuple(line.split()) for line in (pytester.path / "servers.txt").read_text().splitlines()}
    assert {worker for worker, _port, _dir in servers} == {"gw0", "gw1"}
    assert len({(port, directory) for _w, port, directory in servers}) == 1, "the workers did not share a server"
    directory = next(iter(servers))[2]
    assert not Path(directory).exists()
    assert run_dirs() - before == set()
    return directory


class TestParallelNative:
    """100 tests, -n 2, one shared throwaway native server, nothing left behind."""

    pytestmark = [pytest.mark.native]

    def test_hundred_isolated_tests(self, pytester, server_binary):
        directory = run_parallel_suite(pytester, "--mysql-server=native")
        assert mariadbd_for([directory]) == []

    def test_killed_run_takes_its_server_along(self, pytester, server_binary):
        pytester.makepyfile(test_block=BLOCKING_SUITE)
        process = subprocess.Popen([sys.executable, "-m", "pytest", "-n", "2", "-p", "no:cacheprovider",
                                    "--mysql-server=native"], cwd=pytester.path,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        marker = pytester.path / "killme.txt"
        wait_for(lambda: marker.exists() and marker.read_text().endswith("\n"), 60, "the suite did not start")
        directory = marker.read_text().split()[1]
        assert mariadbd_for([directory])
        process.send_signal(signal.SIGKILL)
        process.wait()
        killed_at = time.monotonic()
        wait_for(lambda: not mariadbd_for([directory]) and not Path(directory).exists(), 5,
                 "the server outlived the killed test run")
        assert time.monotonic() - killed_at < 5


class TestPersistentServer:
    """On a server that outlives the run: drop at the end, sweep after kill -9, keep templates."""

    def test_normal_end_leaves_no_database(self, pytester, native_server):
        pytester.makepyfile(test_suite=ISOLATION_SUITE.format(n=20))
        before = databases_on(native_server, "provision\\_t\\_%")
        result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider",
                                               f"--mysql-server={native_server.admin}")
        result.assert_outcomes(passed=20)
        assert databases_on(native_server, "provision\\_t\\_%") == before

    def test_kill_9_leftovers_are_swept_by_the_next_session(self, pytester, native_server):
        pytester.makepyfile(test_block=BLOCKING_SUITE)
        url = str(native_server.admin)
        process = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:xdist", "-p", "no:cacheprovider",
                                    f"--mysql-server={url}"], cwd=pytester.path,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        marker = pytester.path / "killme.txt"
        wait_for(lambda: marker.exists() and marker.read_text().endswith("\n"), 60, "the suite did not start")
        leftover = marker.read_text().split()[0]
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert leftover in databases_on(native_server)
        marker.unlink()
        (pytester.path / "test_block.py").unlink()
        pytester.makepyfile(test_next="def test_next(mysql_db):\n    pass\n")
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--mysql-server={url}")
        result.assert_outcomes(passed=1)
        assert leftover not in databases_on(native_server)

    def test_template_from_ini_is_kept_and_rebuilt_on_a_changed_migration(self, pytester, native_server):
        require(importlib.util.find_spec("alembic") is not None, "alembic is not installed")
        ini = write_alembic_project(pytester.path / "app")
        pytester.makeini(f"[pytest]\nmysql_server = {native_server.admin}\nmysql_template = app/alembic.ini\n")
        pytester.makepyfile(test_schema=textwrap.dedent("""
            import pytest

            @pytest.mark.parametrize("i", range(4))
            def test_schema(mysql_db, mysql_databases, i):
                conn = mysql_db.connect()
                with conn.cursor() as cursor:
                    cursor.execute("SHOW TABLES")
                    tables = sorted(row[0] for row in cursor.fetchall())
                    cursor.execute("INSERT INTO accounts (email) VALUES ('a@example.org')")
                with open(f"template-{i}.txt", "w") as handle:
                    handle.write(mysql_databases.template_name + " " + ",".join(tables))
        """))

        def run() -> tuple[str, str]:
            result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider")
            result.assert_outcomes(passed=4)
            seen = {(pytester.path / f"template-{i}.txt").read_text() for i in range(4)}
            assert len(seen) == 1
            return tuple(seen.pop().split())

        first, tables = run()
        assert tables == "accounts,alembic_version,notes"
        assert first in databases_on(native_server, "provision\\_tpl\\_%")
        assert run()[0] == first  # kept across sessions
        migration = ini.parent / "migrations" / "versions" / "0002_notes.py"
        migration.write_text(migration.read_text().replace('"notes"', '"memos"'))
        second, tables = run()
        try:
            assert second != first and tables == "accounts,alembic_version,memos"
            templates = databases_on(native_server, "provision\\_tpl\\_%")
            assert second in templates and first not in templates
        finally:
            query(native_server, f"DROP DATABASE IF EXISTS `{second}`")


class TestAuto:
    """auto: the project's dev server when it is up (the app user makes <database>_t_* databases),
    except for template suites when a server binary is installed (a throwaway server)."""

    pytestmark = [pytest.mark.native]

    def test_auto_uses_the_dev_server(self, pytester, server_binary):
        from provision import api
        from provision.config import load_settings
        from provision.ports import free_port

        settings = load_settings({"project_dir": pytester.path, "port": free_port(), "timeout": 60}, environ={})
        api.up(settings)
        try:
            pytester.makepyfile(test_dev=textwrap.dedent("""
                def test_dev(mysql_db, mysql_server):
                    assert mysql_server.kind == "dev"
                    assert mysql_db.name.startswith("ohdevel_t_")
                    assert mysql_db.url.user == "ohdev"
                    conn = mysql_db.connect()
                    with conn.cursor() as cursor:
                        cursor.execute("CREATE TABLE t (id INT)")
                        cursor.execute("SELECT CURRENT_USER()")
                        assert cursor.fetchone()[0].startswith("ohdev@")
            """))
            env_before = (pytester.path / ".env").read_text()
            result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
            result.assert_outcomes(passed=1)
            url = api.current_url(settings)
            from provision.probe import connect

            conn = connect(url, tls=False)
            with conn.cursor() as cursor:
                cursor.execute("SHOW DATABASES LIKE 'ohdevel\\_t\\_%'")
                assert cursor.fetchall() == ()
            conn.close()
            assert (pytester.path / ".env").read_text() == env_before

            # a template suite: a throwaway server on tmpfs restores copies ~10x cheaper (bench_restore.py)
            (pytester.path / "schema.sql").write_text("CREATE TABLE t (id INT);")
            pytester.makepyfile(test_dev="def test_tpl(mysql_db, mysql_server):\n"
                                         "    assert mysql_server.kind == 'native'\n")
            result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--mysql-template=schema.sql")
            result.assert_outcomes(passed=1)
        finally:
            api.destroy(settings)


class TestCoexistence:
    """Our fixture names do not clash with pytest-mysql's."""

    def test_fixtures_listed_side_by_side(self, pytester):
        require(importlib.util.find_spec("pytest_mysql") is not None, "pytest-mysql is not installed")
        result = pytester.runpytest_subprocess("--fixtures", "-p", "no:cacheprovider")
        text = result.stdout.str()
        for name in ("mysql_db", "mysql_url", "mysql_server", "mysql_proc", "mysql_noproc"):
            assert f"{name} " in text or f"{name}\n" in text or f"{name} [" in text, name
        assert result.ret == 0

    def test_bad_option_is_a_usage_error(self, pytester):
        pytester.makepyfile(test_x="def test_x(mysql_db):\n    pass\n")
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--mysql-server=nonsense")
        result.assert_outcomes(errors=1)
        result.stdout.fnmatch_lines(["*unknown --mysql-server 'nonsense'*"])


class TestParallelDocker:
    """The same 100-test suite on a throwaway docker server; no container left behind."""

    pytestmark = [pytest.mark.docker, pytest.mark.slow]

    def test_hundred_isolated_tests(self, pytester):
        from provision.testing.reaper import LABEL
        from provision.testing.servers import default_image

        image = default_image("mysql")
        _docker_ready(image)
        import docker

        client = docker.from_env()
        try:
            before = {c.id for c in client.containers.list(all=True, filters={"label": f"{LABEL}=true"})}
            run_parallel_suite(pytester, "--mysql-server=docker", f"--mysql-image={image}")
            after = {c.id for c in client.containers.list(all=True, filters={"label": f"{LABEL}=true"})}
        finally:
            client.close()
        assert after - before == set()

    def test_killed_run_takes_its_container_along(self, pytester):
        from provision.testing.reaper import LABEL, RUN_DIR_LABEL
        from provision.testing.servers import default_image

        image = default_image("mariadb")
        _docker_ready(image)
        import docker

        pytester.makepyfile(test_block=BLOCKING_SUITE)
        process = subprocess.Popen([sys.executable, "-m", "pytest", "-n", "2", "-p", "no:cacheprovider",
                                    "--mysql-server=docker", f"--mysql-image={image}"], cwd=pytester.path,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        marker = pytester.path / "killme.txt"
        wait_for(lambda: marker.exists() and marker.read_text().endswith("\n"), 120, "the suite did not start")
        directory = marker.read_text().split()[1]
        client = docker.from_env()
        try:
            def ours():
                # sparse: no inspect per container, which fails for one the reaper removes meanwhile
                return [c for c in client.containers.list(all=True, sparse=True, filters={"label": f"{LABEL}=true"})
                        if (c.attrs.get("Labels") or {}).get(RUN_DIR_LABEL) == directory]

            assert len(ours()) == 1
            process.send_signal(signal.SIGKILL)
            process.wait()
            wait_for(lambda: not ours(), 15, "the container outlived the killed test run")
        finally:
            client.close()
