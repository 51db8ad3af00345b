"""Branch databases, for real: a git repo with real commits, the real post-checkout hook running
the real CLI, a real Alembic app, real servers (MariaDB 10.11 native, MySQL 9.7 in Docker), and
real processes killed with SIGKILL in the middle of a switch.
"""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from provision import api, branches
from provision.config import load_settings
from provision.probe import Server

from ..conftest import require

pytestmark = pytest.mark.mysql

VENV_BIN = str(Path(sys.executable).parent)
A1, B2 = "a1a1a1a1a1a1", "b2b2b2b2b2b2"

ALEMBIC_INI = "[alembic]\nscript_location = %(here)s/migrations\nprepend_sys_path = .\n"
ENV_PY = '''\
import os

from alembic import context
from sqlalchemy import create_engine, pool

engine = create_engine(os.environ["DATABASE_URL"], poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
'''
MIGRATION = '''\
"""{message}"""
from alembic import op
import sqlalchemy as sa

revision = {rev!r}
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade():
{body}


def downgrade():
    pass
'''
A1_BODY = """
op.create_table('item', sa.Column('id', sa.Integer(), primary_key=True),
                sa.Column('name', sa.String(64), nullable=False), sa.Column('score', sa.Integer()))
op.create_table('tag', sa.Column('id', sa.Integer(), primary_key=True),
                sa.Column('item_id', sa.Integer(), sa.ForeignKey('item.id')), sa.Column('label', sa.String(32)))
"""
B2_BODY = "op.add_column('item', sa.Column('b2_flag', sa.Boolean(), nullable=True))"

# what RENAME TABLE cannot move between databases (checked on both servers): provision recreates them
OBJECTS = [
    "CREATE VIEW item_names AS SELECT name FROM item",
    "CREATE TRIGGER item_score BEFORE INSERT ON item FOR EACH ROW SET NEW.score = COALESCE(NEW.score, 7)",
    "CREATE PROCEDURE count_items() SELECT COUNT(*) FROM item",
]


@pytest.fixture(params=["mariadb", "mysql"])
def server(request, native_server):
    if request.param == "mysql":
        return request.getfixturevalue("mysql97")
    return native_server


class Repo:
    """An app in a git repository, with its own database and user on ``server``."""

    def __init__(self, path: Path, server: Server):
        self.path, self.server = path, server
        self.name = "br_" + secrets.token_hex(4)
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("PROVISION_", "GIT_")) and k != "DATABASE_URL"}
        self.env.update(PATH=VENV_BIN + os.pathsep + self.env.get("PATH", ""), GIT_AUTHOR_NAME="t",
                        GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
        path.mkdir(parents=True)
        self.settings = load_settings({"project_dir": path, "backend": "existing", "server_url": str(server.admin),
                                       "database": self.name, "user": self.name, "driver": "pymysql",
                                       "generate_password": True}, environ={})
        api.up(self.settings)
        self.env["DATABASE_URL"] = str(api.current_url(self.settings))
        (path / ".gitignore").write_text(".devdb/\n.env\n__pycache__/\n")
        (path / "alembic.ini").write_text(ALEMBIC_INI)
        (path / "migrations" / "versions").mkdir(parents=True)
        (path / "migrations" / "env.py").write_text(ENV_PY)
        self.add_migration(A1, None, "items and tags", A1_BODY)
        self.git("init", "-q", "-b", "master")
        self.commit("a1")

    def run(self, *argv: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
        result = subprocess.run(list(argv), cwd=self.path, env={**self.env, **kwargs.pop("env", {})},
                                capture_output=True, text=True, timeout=300, **kwargs)
        if check:
            assert result.returncode == 0, f"{argv} failed:\n{result.stdout}\n{result.stderr}"
        return result

    def git(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return self.run("git", *args, **kwargs)

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-qm", message)

    def cli(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return self.run(sys.executable, "-m", "provision", *args, **kwargs)

    def add_migration(self, rev: str, down: str | None, message: str, body: str) -> None:
        text = MIGRATION.format(message=message, rev=rev, down=down, body=textwrap.indent(body.strip(), "    "))
        (self.path / "migrations" / "versions" / f"{rev}.py").write_text(text)

    def sql(self, *statements: str, many: tuple[str, list] | None = None):
        conn = self.server.connect(database=self.name)
        try:
            with conn.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
                if many:
                    cursor.executemany(*many)
                return cursor.fetchall()
        finally:
            conn.close()

    def fill(self, rows: int) -> None:
        batch = 10_000
        for start in range(1, rows + 1, batch):
            values = [(i, f"item {i}", i % 97) for i in range(start, min(start + batch, rows + 1))]
            self.sql(many=("INSERT INTO item (id, name, score) VALUES (%s, %s, %s)", values))
        self.sql("INSERT INTO tag (item_id, label) SELECT id, CONCAT('t', id) FROM item WHERE id <= 500")

    def fingerprint(self) -> dict:
        """Tables (definition and a checksum of every row), views, triggers, routines, alembic_version."""
        conn = self.server.connect(database=self.name)
        try:
            with conn.cursor() as cursor:
                cursor.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND "
                               "TABLE_TYPE = 'BASE TABLE' ORDER BY 1", (self.name,))
                found = {}
                for (table,) in cursor.fetchall():
                    cursor.execute(f"SHOW CREATE TABLE `{table}`")
                    create = cursor.fetchone()[1].split(" AUTO_INCREMENT=")[0]
                    cursor.execute(f"CHECKSUM TABLE `{table}`")
                    cursor_count = cursor.fetchone()[1]
                    cursor.execute(f"SELECT COUNT(*) FROM `{table}`")
                    found[table] = (create, cursor_count, cursor.fetchone()[0])
                for kind, query in (("views", "SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS "
                                              "WHERE TABLE_SCHEMA = %s"),
                                    ("triggers", "SELECT TRIGGER_NAME, ACTION_STATEMENT FROM "
                                                 "information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %s"),
                                    ("routines", "SELECT ROUTINE_NAME, ROUTINE_DEFINITION FROM "
                                                 "information_schema.ROUTINES WHERE ROUTINE_SCHEMA = %s")):
                    cursor.execute(query, (self.name,))
                    found[kind] = sorted(cursor.fetchall())
                return found
        finally:
            conn.close()

    def revision(self):
        return [r for (r,) in self.sql("SELECT version_num FROM alembic_version")]

    def columns(self, table: str) -> list[str]:
        return [c for (c,) in self.sql(f"SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = "
                                       f"'{self.name}' AND TABLE_NAME = '{table}' ORDER BY ORDINAL_POSITION")]

    def parked(self) -> list[str]:
        conn = self.server.connect()
        try:
            with conn.cursor() as cursor:
                key = branches.project_key(self.settings.state_path, self.name)
                cursor.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE %s",
                               (f"provision\\_br\\_{key}\\_%",))
                return sorted(r[0] for r in cursor.fetchall())
        finally:
            conn.close()

    def registry(self) -> dict:
        return branches.Registry(self.settings.state_path).read()

    def drop(self) -> None:
        conn = self.server.connect()
        try:
            with conn.cursor() as cursor:
                for name in [self.name, *self.parked()]:
                    cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
                cursor.execute("SELECT Host FROM mysql.user WHERE User = %s", (self.name,))
                for (host,) in cursor.fetchall():
                    cursor.execute("DROP USER %s@%s", (self.name, host))
        finally:
            conn.close()


@pytest.fixture
def make_repo(tmp_path):
    repos = []

    def make(server: Server, *, rows: int = 1000, objects: bool = True) -> Repo:
        repo = Repo(tmp_path / f"app{len(repos)}", server)
        repos.append(repo)
        repo.run("alembic", "upgrade", "head")
        repo.fill(rows)
        if objects:
            repo.sql(*OBJECTS)
        installed = repo.cli("hooks", "install")
        assert "installed" in installed.stdout and "holds master's tables" in installed.stdout, installed.stdout
        return repo

    yield make
    for repo in repos:
        repo.drop()


def wait_for_file(path: Path, process: subprocess.Popen, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return path.read_text()
        if process.poll() is not None:
            raise AssertionError(f"the process ended before pausing:\n{process.communicate()}")
        time.sleep(0.05)  # sleep-ok: polling for the paused process's marker file
    raise AssertionError(f"timed out waiting for {path}")


class TestTheSeedsWorkflow:
    """master at a1 with 200k rows; a feature branch adds b2; each checkout brings back that branch's state."""

    def test_checkout_gives_each_branch_its_own_database(self, server, make_repo):
        repo = make_repo(server, rows=200_000)
        master = repo.fingerprint()
        assert repo.revision() == [A1] and master["item"][2] == 200_000
        assert master["views"] and master["triggers"] and master["routines"]

        created = repo.git("checkout", "-b", "feature")
        assert f"master -> feature (a copy of master's" in created.stderr, created.stderr
        assert repo.fingerprint() == master  # the new branch starts as a copy of where it came from
        repo.add_migration(B2, A1, "b2 flag", B2_BODY)
        repo.commit("b2")
        repo.run("alembic", "upgrade", "head")
        repo.sql("UPDATE item SET b2_flag = 1, name = 'feature' WHERE id <= 1000", "DELETE FROM item WHERE id > 199000",
                 "INSERT INTO item (id, name) VALUES (300001, 'only on feature')")
        feature = repo.fingerprint()
        assert repo.revision() == [B2] and feature != master

        back = repo.git("checkout", "master")
        assert "feature -> master" in back.stderr, back.stderr
        assert repo.fingerprint() == master
        assert repo.revision() == [A1] and "b2_flag" not in repo.columns("item")
        assert repo.sql("SELECT COUNT(*) FROM item")[0][0] == 200_000
        assert repo.run("alembic", "current").returncode == 0  # the scripts of master know a1

        again = repo.git("checkout", "feature")
        assert "master -> feature in" in again.stderr, again.stderr
        assert repo.fingerprint() == feature and repo.revision() == [B2]
        assert "b2_flag" in repo.columns("item")
        # the new rows still get the trigger's default: the trigger came back with its table
        repo.sql("INSERT INTO item (id, name) VALUES (400000, 'after the switches')")
        assert repo.sql("SELECT score FROM item WHERE id = 400000") == ((7,),)

        listed = {row["branch"]: row for row in api.branch_list(repo.settings)}
        assert listed["feature"]["live"] and not listed["master"]["live"]
        assert listed["master"]["revision"] == [A1] and listed["feature"]["revision"] == [B2]
        assert listed["master"]["tables"] == 3 and listed["master"]["size"] > 0  # item, tag, alembic_version


class TestKilledMidSwitch:
    """A SIGKILL of the hook at any step loses nothing; the next provision run repairs."""

    @pytest.mark.parametrize("step", ["journaled", "detached", "renamed"])
    def test_kill_the_hook_during_a_switch(self, server, make_repo, step, tmp_path):
        repo = make_repo(server)
        master = repo.fingerprint()
        repo.git("checkout", "-b", "feature")
        repo.sql("DELETE FROM item WHERE id > 900", "DROP VIEW item_names")
        feature = repo.fingerprint()
        repo.git("checkout", "master")
        assert repo.fingerprint() == master

        marker = tmp_path / f"paused-{step}"
        git = subprocess.Popen(["git", "checkout", "feature"], cwd=repo.path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               env={**repo.env, branches.PAUSE_ENV: step, branches.PAUSE_ENV + "_FILE": str(marker)})
        pid = int(wait_for_file(marker, git))
        os.kill(pid, signal.SIGKILL)  # the hook's provision process, in the middle of the switch
        git.communicate(timeout=60)
        assert branches.Registry(repo.settings.state_path).journal() is not None

        if step == "renamed":  # the next provision run repairs first: up ...
            assert any("was finished" in change for change in api.up(repo.settings).changes)
        else:  # ... or any branch command
            listed = repo.cli("branch", "list")
            assert "repaired" in listed.stderr, listed.stderr
        assert branches.Registry(repo.settings.state_path).journal() is None
        live = repo.registry()["live"]
        assert live == ("feature" if step == "renamed" else "master")
        assert repo.fingerprint() == (feature if live == "feature" else master)

        repo.cli("branch", "switch")  # git is on feature
        assert repo.fingerprint() == feature
        repo.git("checkout", "master")
        assert repo.fingerprint() == master
        assert len(repo.parked()) == 1  # feature's; nothing half-made is left behind

    def test_kill_during_the_first_copy(self, server, make_repo, tmp_path):
        repo = make_repo(server)
        master = repo.fingerprint()
        marker = tmp_path / "paused-copy"
        git = subprocess.Popen(["git", "checkout", "-b", "feature"], cwd=repo.path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               env={**repo.env, branches.PAUSE_ENV: "copied",
                                    branches.PAUSE_ENV + "_FILE": str(marker)})
        os.kill(int(wait_for_file(marker, git)), signal.SIGKILL)
        git.communicate(timeout=60)
        assert len(repo.parked()) == 1  # the unfinished copy
        assert repo.fingerprint() == master and repo.registry()["live"] == "master"

        switched = repo.cli("branch", "switch")
        assert "dropped" in switched.stderr and "a copy of master's" in switched.stdout, switched
        assert repo.fingerprint() == master and repo.registry()["live"] == "feature"
        assert len(repo.parked()) == 1  # master's, parked

    def test_a_second_terminal_waits_then_repairs(self, native_server, make_repo, tmp_path):
        repo = make_repo(native_server)
        master = repo.fingerprint()
        repo.git("checkout", "-b", "feature")
        repo.sql("DELETE FROM item WHERE id > 600")
        feature = repo.fingerprint()
        repo.git("checkout", "master")
        marker = tmp_path / "paused"
        first = subprocess.Popen([sys.executable, "-m", "provision", "branch", "switch", "feature"], cwd=repo.path,
                                 env={**repo.env, branches.PAUSE_ENV: "detached",
                                      branches.PAUSE_ENV + "_FILE": str(marker)},
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for_file(marker, first)
        second = subprocess.Popen([sys.executable, "-m", "provision", "branch", "switch", "master"], cwd=repo.path,
                                  env=repo.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        with pytest.raises(subprocess.TimeoutExpired):
            second.wait(timeout=2)  # blocked on the lock the first one holds
        first.kill()
        first.communicate()
        out, err = second.communicate(timeout=120)
        assert second.returncode == 0, err
        assert "undone" in err
        assert repo.registry()["live"] == "master" and repo.fingerprint() == master
        repo.cli("branch", "switch", "feature")
        assert repo.fingerprint() == feature


class TestAlembicAfterASwitch:
    """A new branch copies the database of the branch it starts from; the hook says what to run when the
    checked-out scripts do not match the database."""

    def test_new_branch_from_another_branch_copies_that_one(self, native_server, make_repo):
        repo = make_repo(native_server, objects=False)
        master = repo.fingerprint()
        repo.git("checkout", "-b", "feature")
        repo.add_migration(B2, A1, "b2 flag", B2_BODY)
        repo.commit("b2")
        repo.run("alembic", "upgrade", "head")
        hotfix = repo.git("checkout", "-b", "hotfix", "master")  # from feature's checkout, at master's commit
        assert "feature -> hotfix (a copy of master's" in hotfix.stderr, hotfix.stderr
        assert repo.fingerprint() == master and "alembic" not in hotfix.stderr

    def test_pending_migrations_are_named_with_the_command(self, native_server, make_repo):
        repo = make_repo(native_server, objects=False)
        repo.git("checkout", "-b", "feature")
        repo.add_migration(B2, A1, "b2 flag", B2_BODY)
        repo.commit("b2")
        (repo.path / "notes.txt").write_text("later\n")
        repo.commit("a later commit")
        repo.git("checkout", "master")
        probe = repo.git("checkout", "-b", "probe", "feature~1")  # b2's commit: no branch's tip
        assert "master -> probe (a copy of master's" in probe.stderr, probe.stderr
        assert "1 migration(s) not applied" in probe.stderr and "run: alembic upgrade heads" in probe.stderr
        repo.run("alembic", "upgrade", "heads")
        assert repo.revision() == [B2]


class TestModes:
    """[tool.provision] branches = "empty" starts new branches empty; "off" leaves the database alone."""

    def test_empty_and_off(self, native_server, make_repo):
        repo = make_repo(native_server)
        master = repo.fingerprint()
        (repo.path / "pyproject.toml").write_text('[tool.provision]\nbranches = "empty"\n')
        created = repo.git("checkout", "-b", "feature")
        assert "master -> feature (new, empty)" in created.stderr, created.stderr
        assert repo.fingerprint() == {"views": [], "triggers": [], "routines": []}
        assert "0 migration(s) applied" in created.stderr or "no migration was applied" in created.stderr
        repo.git("checkout", "master")
        assert repo.fingerprint() == master
        (repo.path / "pyproject.toml").write_text('[tool.provision]\nbranches = "off"\n')
        off = repo.git("checkout", "feature")
        assert "provision" not in off.stderr and repo.registry()["live"] == "master"
        assert repo.fingerprint() == master


class TestListAndPrune:
    """branch list shows every branch's database; prune drops those of deleted branches, asking first."""

    def test_list_then_prune_a_deleted_branch(self, native_server, make_repo):
        repo = make_repo(native_server, objects=False)
        repo.git("checkout", "-b", "fix/urgent-1")
        repo.git("checkout", "-b", "feature")
        repo.git("checkout", "master")
        listed = repo.cli("branch", "list").stdout
        header, *lines = listed.splitlines()
        assert header.split()[:4] == ["BRANCH", "ALEMBIC", "TABLES", "SIZE"]
        assert any(line.startswith("*") and "master" in line and A1 in line for line in lines), listed
        assert sum("fix/urgent-1" in line or "feature" in line for line in lines) == 2

        repo.git("branch", "-D", "fix/urgent-1")
        refused = repo.cli("branch", "prune", check=False, stdin=subprocess.DEVNULL)
        assert refused.returncode == 2 and "provision branch prune --yes" in refused.stderr
        assert len(repo.parked()) == 2  # nothing dropped without a yes
        pruned = repo.cli("branch", "prune", "--yes")
        assert pruned.stdout.count("dropped ") == 1 and len(repo.parked()) == 1
        rows = {row["branch"] for row in api.branch_list(repo.settings)}
        assert rows == {"master", "feature"}
        assert "nothing to prune" in repo.cli("branch", "prune", "--yes").stdout


class TestDoctor:
    """doctor shows the branch state, and its Alembic fix names the switch when git and the database disagree."""

    def finding(self, repo, check):
        return next(f for f in api.doctor(repo.settings).findings if f.check == check)

    def test_branch_state_and_the_fix_for_a_checkout_the_hook_missed(self, native_server, make_repo, tmp_path):
        repo = make_repo(native_server, objects=False)
        ok = self.finding(repo, "branches")
        assert ok.status == "ok" and "holds master's tables, git's branch" in ok.finding
        repo.git("checkout", "-b", "feature")
        repo.add_migration(B2, A1, "b2 flag", B2_BODY)
        repo.commit("b2")
        repo.run("alembic", "upgrade", "head")

        repo.git("-c", "core.hooksPath=/dev/null", "checkout", "master")  # the hook does not run
        missed = self.finding(repo, "branches")
        assert missed.status == "warn" and "holds feature's tables but git is on master" in missed.finding
        assert missed.fix == "provision branch switch"
        alembic = self.finding(repo, "alembic")
        assert alembic.status == "error" and B2 in alembic.finding
        assert alembic.fix.startswith("provision branch switch   (the database holds feature's tables")
        repo.cli(*alembic.fix.split("   (")[0].split()[1:])  # the fix, as printed
        assert self.finding(repo, "alembic").status == "ok" and self.finding(repo, "branches").status == "ok"

        marker = tmp_path / "paused"
        git = subprocess.Popen(["git", "checkout", "feature"], cwd=repo.path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               env={**repo.env, branches.PAUSE_ENV: "detached",
                                    branches.PAUSE_ENV + "_FILE": str(marker)})
        os.kill(int(wait_for_file(marker, git)), signal.SIGKILL)
        git.communicate(timeout=60)
        interrupted = self.finding(repo, "branches")  # doctor changes nothing: it reports
        assert interrupted.status == "error" and "from master to feature was interrupted" in interrupted.finding
        repo.cli("branch", "list")
        assert self.finding(repo, "branches").status == "warn"  # undone: master's tables, git on feature


class TestDestroyResetSnapshots:
    """destroy, reset and snapshots know that other branches' databases exist."""

    def test_destroy_drops_the_parked_databases_even_on_an_existing_server(self, native_server, make_repo):
        repo = make_repo(native_server, objects=False)
        repo.git("checkout", "-b", "feature")
        repo.git("checkout", "-b", "other")
        assert len(repo.parked()) == 2
        destroyed = repo.cli("destroy", "--yes")
        assert "dropped 2 parked branch database(s)" in destroyed.stdout, destroyed.stdout
        assert repo.parked() == []
        assert repo.sql("SELECT COUNT(*) FROM item")[0][0] == 1000  # the app's database: the server's, kept


    def test_reset_empties_the_live_branch_only(self, native_server, make_repo):
        repo = make_repo(native_server, objects=False)
        master = repo.fingerprint()
        repo.git("checkout", "-b", "feature")
        reset = repo.cli("reset", "--yes")
        assert "only feature's tables were dropped; the databases of master are kept" in reset.stdout, reset.stdout
        assert repo.fingerprint() == {"views": [], "triggers": [], "routines": []}
        repo.git("checkout", "master")
        assert repo.fingerprint() == master

    def test_a_snapshot_restores_into_the_live_branch_only(self, native_server, make_repo):
        repo = make_repo(native_server)
        master = repo.fingerprint()
        saved = repo.cli("snapshot", "save", "on-master", "--json")
        repo.git("checkout", "-b", "feature")
        repo.sql("DELETE FROM item WHERE id > 600")
        restored = repo.cli("snapshot", "restore", "on-master")
        assert "holds master's database; restoring it into feature's" in restored.stderr, restored.stderr
        assert '"branch_database": "master"' in saved.stdout
        assert repo.fingerprint() == master and repo.registry()["live"] == "feature"
        repo.sql("DELETE FROM item WHERE id > 700")
        feature = repo.fingerprint()
        repo.git("checkout", "master")  # master's own database was never touched by the restore
        assert repo.fingerprint() == master
        repo.git("checkout", "feature")
        assert repo.fingerprint() == feature


class TestTheHookStaysOutOfTheWay:
    """The hook never fails or blocks a checkout, and does nothing where switching would be wrong."""

    def test_detached_head_rebase_and_file_checkouts_leave_the_database(self, native_server, make_repo):
        repo = make_repo(native_server, objects=False)
        repo.git("checkout", "-b", "feature")
        repo.sql("DELETE FROM item WHERE id > 600")
        repo.add_migration(B2, A1, "b2 flag", B2_BODY)
        repo.commit("b2 on feature")
        feature = repo.fingerprint()

        detached = repo.git("checkout", "--detach", "master")
        assert "detached HEAD: the database keeps feature's tables" in detached.stderr
        assert repo.registry()["live"] == "feature" and repo.fingerprint() == feature
        repo.git("checkout", "feature")
        assert repo.fingerprint() == feature

        (repo.path / "notes.txt").write_text("master\n")
        repo.git("checkout", "master")
        repo.commit("a note on master")
        master = repo.fingerprint()
        repo.git("checkout", "feature")
        rebased = repo.git("rebase", "master")  # checks out master's commit (detached) and replays b2
        assert "->" not in rebased.stderr, rebased.stderr
        assert repo.registry()["live"] == "feature" and repo.fingerprint() == feature
        repo.git("checkout", "HEAD~1", "--", "notes.txt")  # a file checkout (flag 0)
        assert repo.registry()["live"] == "feature"
        repo.git("checkout", "master")
        assert repo.fingerprint() == master

    def test_an_unreachable_server_warns_and_the_checkout_succeeds(self, native_server, make_repo):
        from provision.ports import free_port
        from provision.state import StateDir

        repo = make_repo(native_server, objects=False)
        state = StateDir(repo.settings.state_path)
        recorded = state.read()
        state.update(existing={**recorded["existing"], "server_url": {**recorded["existing"]["server_url"],
                                                                      "port": free_port()}})
        result = repo.git("checkout", "-b", "feature")
        assert result.returncode == 0
        assert "provision: warning: the database was not switched to feature" in result.stderr, result.stderr
        assert repo.registry()["live"] == "master"

    def test_each_worktree_is_its_own_project(self, native_server, make_repo, tmp_path):
        repo = make_repo(native_server, objects=False)
        other = tmp_path / "other-worktree"
        added = repo.git("worktree", "add", "-q", "-b", "side", str(other))
        assert "provision:" not in added.stderr  # no provision state there: the hook leaves it alone
        assert repo.registry()["live"] == "master" and not (other / ".devdb").exists()


class TestHookInstall:
    """install chains the hook that was there; uninstall puts it back."""

    def test_an_existing_hook_is_kept_run_first_and_restored(self, tmp_path):
        from provision import hooks

        subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
        folder = hooks.hooks_dir(tmp_path)
        folder.mkdir(parents=True, exist_ok=True)
        theirs = "#!/bin/sh\necho \"theirs $1 $2 $3\" >> \"$(dirname \"$0\")/../../ran.txt\"\nexit 3\n"
        (folder / "post-checkout").write_text(theirs)
        (folder / "post-checkout").chmod(0o755)

        assert "the existing hook runs first" in hooks.install(tmp_path)
        assert "already installed" in hooks.install(tmp_path)
        result = subprocess.run([str(folder / "post-checkout"), "a", "b", "0"], cwd=tmp_path, capture_output=True,
                                text=True)
        assert result.returncode == 3  # their status is the hook's
        assert (tmp_path / "ran.txt").read_text() == "theirs a b 0\n"
        assert "the one that was there before" in hooks.uninstall(tmp_path)
        assert (folder / "post-checkout").read_text() == theirs
        assert not (folder / hooks.CHAINED).exists()

    def test_a_vanished_python_warns_and_the_checkout_still_succeeds(self, tmp_path):
        from provision import hooks

        subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
        hooks.install(tmp_path, python=str(tmp_path / "gone" / "python"))
        result = subprocess.run([str(hooks.hooks_dir(tmp_path) / "post-checkout"), "a", "b", "1"], cwd=tmp_path,
                                capture_output=True, text=True)
        assert result.returncode == 0 and "hooks install again" in result.stderr

    def test_core_hooks_path_is_honoured(self, tmp_path):
        from provision import hooks

        subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
        subprocess.run(["git", "-C", str(tmp_path), "config", "core.hooksPath", "githooks"], check=True)
        hooks.install(tmp_path)
        assert hooks.is_ours(tmp_path / "githooks" / "post-checkout")
        assert hooks.installed(tmp_path) is True


class TestEveryBackend:
    """The same switch on a project whose server provision started itself (native, docker): it is all SQL
    over the admin login the project already has."""

    @pytest.mark.parametrize("backend", ["native", "docker"])
    def test_checkout_switches_on_the_projects_own_server(self, backend, project, request):
        if backend == "native":
            request.getfixturevalue("server_binary")
            extra = ["--backend", "native"]
        else:
            image = os.environ.get("PROVISION_TEST_MARIADB_IMAGE") or "provision-test/mariadb:10.11"
            try:
                import docker

                docker.from_env(timeout=10).images.get(image)
            except Exception as exc:  # no engine, or no image
                require(False, f"no Docker engine or no {image} ({exc}); make docker-images")
            extra = ["--backend", "docker", "--image", image]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PROVISION_", "GIT_"))}
        env.update(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")

        def run(*argv):
            result = subprocess.run(list(argv), cwd=project.path, env=env, capture_output=True, text=True,
                                    timeout=300)
            assert result.returncode == 0, f"{argv}:\n{result.stdout}\n{result.stderr}"
            return result

        up = project.cli(*project.up_args(*extra))
        try:
            assert up.returncode == 0, up.stderr
            (project.path / ".gitignore").write_text(".devdb/\n.env\n")
            run("git", "init", "-q", "-b", "master")
            run("git", "add", "-A")
            run("git", "commit", "-qm", "first")
            settings = project.settings()
            url = str(api.current_url(settings))

            def sql(statement):
                from provision.probe import connect
                from provision.url import parse

                conn = connect(parse(url), tls=False)
                try:
                    with conn.cursor() as cursor:
                        cursor.execute(statement)
                        return cursor.fetchall()
                finally:
                    conn.close()

            sql("CREATE TABLE item (id INT PRIMARY KEY, name VARCHAR(20))")
            sql("INSERT INTO item VALUES (1, 'master'), (2, 'master')")
            run(sys.executable, "-m", "provision", "hooks", "install")
            created = run("git", "checkout", "-b", "feature")
            assert "master -> feature (a copy of master's" in created.stderr, created.stderr
            sql("UPDATE item SET name = 'feature'")
            sql("ALTER TABLE item ADD COLUMN flag INT")
            back = run("git", "checkout", "master")
            assert "feature -> master" in back.stderr, back.stderr
            assert sql("SELECT * FROM item ORDER BY id") == ((1, "master"), (2, "master"))
            run("git", "checkout", "feature")
            assert sql("SELECT * FROM item ORDER BY id") == ((1, "feature", None), (2, "feature", None))
        finally:
            destroyed = project.cli("destroy", "--yes")
            assert destroyed.returncode == 0, destroyed.stderr
