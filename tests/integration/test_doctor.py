"""provision doctor, each finding provoked for real: real servers, real Alembic, real sessions.

An app is a tmp directory with a small Alembic project (alembic.ini, env.py, models.py and
three migrations written as files) and its own database and user on a shared server
(MariaDB from the session's native server; MySQL 9.7 in a container when Docker and the
test image are there). The fixes the doctor prints are run as printed.
"""
from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from provision import api
from provision.config import load_settings
from provision.ports import is_listening
from provision.probe import Server, connect
from provision.url import parse

from ..conftest import matrix_params, require

pytestmark = pytest.mark.mysql

VENV_BIN = str(Path(sys.executable).parent)

R1, R2, R3 = "1a1a1a1a1a1a", "2b2b2b2b2b2b", "3c3c3c3c3c3c"

ALEMBIC_INI = """\
[alembic]
script_location = %(here)s/migrations
prepend_sys_path = .
"""

ENV_PY = '''\
import os

from alembic import context
from sqlalchemy import create_engine, pool

import models

def run_migrations_online():
    engine = create_engine(os.environ["DATABASE_URL"], poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=models.metadata)
        with context.begin_transaction():
            context.run_migrations()

run_migrations_online()
'''

MAKO = '''\
"""${message}

Revision ID: ${up_revision}
"""
from alembic import op
import sqlalchemy as sa
${imports if imports else ""}
revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade():
    ${upgrades if upgrades else "pass"}


def downgrade():
    ${downgrades if downgrades else "pass"}
'''

# the app's models at the head: what the seed's `manage.py resetdb` (create_all) builds
MODELS_PY = '''\
import sqlalchemy as sa

metadata = sa.MetaData()
client = sa.Table(
    "client", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("created", sa.DateTime, nullable=False, server_default=sa.func.now()),
)
assignment = sa.Table(
    "assignment", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("client_id", sa.Integer, sa.ForeignKey("client.id")),
    sa.Column("published_scores", sa.Boolean, nullable=False, server_default=sa.false()),
)

if __name__ == "__main__":  # resetdb
    import os
    engine = sa.create_engine(os.environ["DATABASE_URL"])
    metadata.drop_all(engine)
    metadata.create_all(engine)
'''

MIGRATIONS = {
    R1: (None, "create client", """
        op.create_table('client',
                        sa.Column('id', sa.Integer(), nullable=False),
                        sa.Column('name', sa.String(length=64), nullable=False),
                        sa.PrimaryKeyConstraint('id'))
    """),
    R2: (R1, "client created", """
        op.add_column('client', sa.Column('created', sa.DateTime(), nullable=False, server_default=sa.func.now()))
    """),
    R3: (R2, "publish scores for assignments", """
        op.create_table('assignment',
                        sa.Column('id', sa.Integer(), nullable=False),
                        sa.Column('client_id', sa.Integer(), nullable=True),
                        sa.Column('published_scores', sa.Boolean(), server_default=sa.false(), nullable=False),
                        sa.ForeignKeyConstraint(['client_id'], ['client.id']),
                        sa.PrimaryKeyConstraint('id'))
    """),
}


def migration_text(rev: str, down: str | tuple | None, message: str, body: str) -> str:
    return (f'"""{message}\n\nRevision ID: {rev}\n"""\nfrom alembic import op\nimport sqlalchemy as sa\n\n'
            f"revision = {rev!r}\ndown_revision = {down!r}\nbranch_labels = None\ndepends_on = None\n\n\n"
            "def upgrade():\n" + textwrap.indent(textwrap.dedent(body).strip(), "    ")
            + "\n\n\ndef downgrade():\n    pass\n")


# --- servers ------------------------------------------------------------------------------------
@pytest.fixture
def server(matrix_server):
    """The native server, then every image of the matrix (PROVISION_TEST_IMAGES)."""
    return matrix_server


# --- an app on a server -------------------------------------------------------------------------
class App:
    def __init__(self, path: Path, server: Server):
        self.path = path
        self.server = server
        self.name = "doc_" + secrets.token_hex(4)
        self.overrides = {"project_dir": path, "backend": "existing", "server_url": str(server.admin),
                          "database": self.name, "user": self.name, "driver": "pymysql",
                          "generate_password": True}
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PROVISION_") and k != "DATABASE_URL"}
        self.env["PATH"] = VENV_BIN + os.pathsep + self.env.get("PATH", "")

    def settings(self, **more):
        return load_settings({**self.overrides, **more}, environ={})

    def up(self):
        return api.up(self.settings())

    @property
    def url(self) -> str:
        return str(api.current_url(self.settings()))

    def write_alembic(self, revisions=(R1, R2, R3)):
        (self.path / "alembic.ini").write_text(ALEMBIC_INI)
        (self.path / "models.py").write_text(MODELS_PY)
        versions = self.path / "migrations" / "versions"
        versions.mkdir(parents=True, exist_ok=True)
        (self.path / "migrations" / "env.py").write_text(ENV_PY)
        (self.path / "migrations" / "script.py.mako").write_text(MAKO)
        for rev in revisions:
            self.add_migration(rev, *MIGRATIONS[rev])

    def add_migration(self, rev, down, message, body="pass"):
        path = self.path / "migrations" / "versions" / f"{rev}_{message.replace(' ', '_')}.py"
        path.write_text(migration_text(rev, down, message, body))
        return path

    def sh(self, command: str, **kwargs) -> subprocess.CompletedProcess:
        """Run a command line as a developer would type it, with DATABASE_URL exported."""
        env = {**self.env, "DATABASE_URL": self.url}
        return subprocess.run(["bash", "-c", command], cwd=self.path, env=env, capture_output=True, text=True,
                              timeout=120, **kwargs)

    def alembic(self, *args: str) -> subprocess.CompletedProcess:
        return self.sh("alembic " + " ".join(args))

    def run_fix(self, fix: str) -> subprocess.CompletedProcess:
        command = fix.split("   (")[0].split("  or  ")[0]
        result = self.sh(command)
        assert result.returncode == 0, f"the fix {command!r} failed:\n{result.stdout}\n{result.stderr}"
        return result

    def sql(self, statement: str, params=None, *, admin: bool = False):
        conn = self.server.connect() if admin else connect(parse(self.url), tls=False)
        try:
            with conn.cursor() as cursor:
                cursor.execute(statement, params)
                return cursor.fetchall()
        finally:
            conn.close()

    def doctor(self):
        return api.doctor(self.settings())

    def finding(self, check: str, status: str | None = None):
        report = self.doctor()
        found = report.by_check(check)
        assert found, f"no {check} finding in {report.to_dict()}"
        if status is None:
            return found[0]
        matching = [f for f in found if f.status == status]
        assert matching, f"no {status} {check} finding: {[(f.status, f.finding) for f in found]}"
        return matching[0]

    def cli(self, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "provision", *args], cwd=self.path, env={**self.env, **(env or {})},
                              capture_output=True, text=True, timeout=120)

    def drop(self):
        conn = self.server.connect()
        try:
            with conn.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS `{self.name}`")
                cursor.execute("SELECT Host FROM mysql.user WHERE User = %s", (self.name,))
                for (host,) in cursor.fetchall():
                    cursor.execute("DROP USER %s@%s", (self.name, host))
        finally:
            conn.close()


@pytest.fixture
def make_app(tmp_path):
    apps = []

    def make(server: Server, *, alembic: bool = True) -> App:
        app = App(tmp_path / f"app{len(apps)}", server)
        app.path.mkdir()
        apps.append(app)
        app.up()
        if alembic:
            app.write_alembic()
        return app

    yield make
    for app in apps:
        app.drop()


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)  # sleep-ok: polling interval between two real probes of the server
    raise AssertionError(f"timed out waiting for {what}")


# --- the seed's three common errors --------------------------------------------------------------
class TestTheSeedsCommonErrors:
    """Each error of the seed's 'Common errors', reproduced with real Alembic, is named with its fix."""

    def test_rerun_migrations_on_tables_without_alembic_version(self, server, make_app):
        app = make_app(server)
        assert app.sh("python models.py").returncode == 0  # resetdb: create_all, no alembic_version
        failed = app.alembic("upgrade", "head")
        assert failed.returncode != 0 and "already exists" in failed.stdout + failed.stderr  # (1050, "Table 'client' already exists")

        finding = app.finding("alembic", "error")
        assert "but alembic_version is empty" in finding.finding and "already exists" in finding.finding
        assert finding.fix == f"alembic stamp {R3}"
        app.run_fix(finding.fix)
        assert app.alembic("upgrade", "head").returncode == 0
        assert app.finding("alembic").status == "ok"

    def test_table_doesnt_exist_when_alembic_version_outlived_the_tables(self, server, make_app):
        app = make_app(server)
        assert app.alembic("upgrade", R1).returncode == 0
        app.sql("DROP TABLE client")  # a reset that dropped the app's tables keeps alembic_version
        failed = app.alembic("upgrade", "head")
        assert failed.returncode != 0 and "doesn't exist" in failed.stdout + failed.stderr  # the seed's 1146

        finding = app.finding("alembic", "error")
        assert f"alembic_version says {R1}" in finding.finding and "doesn't exist" in finding.finding
        assert finding.fix == "alembic stamp base && alembic upgrade heads"
        app.run_fix(finding.fix)
        assert app.finding("alembic").status == "ok"
        assert app.sql("SELECT version_num FROM alembic_version") == ((R3,),)

    def test_target_database_is_not_up_to_date(self, server, make_app):
        app = make_app(server)
        assert app.alembic("upgrade", R2).returncode == 0
        failed = app.alembic("revision", "--autogenerate", "-m", "new")
        assert failed.returncode != 0 and "Target database is not up to date" in failed.stdout + failed.stderr

        finding = app.finding("alembic", "warn")
        assert "1 migration(s) not applied" in finding.finding and R3 in finding.finding
        assert "Target database is not up to date" in finding.finding
        assert finding.fix == "alembic upgrade heads"
        app.run_fix(finding.fix)
        assert app.finding("alembic").status == "ok"
        assert app.alembic("revision", "--autogenerate", "-m", "new").returncode == 0

    def test_upgrade_hanging_on_a_metadata_lock(self, server, make_app):
        app = make_app(server)
        assert app.alembic("upgrade", R1).returncode == 0
        holder = connect(parse(app.url), tls=False, autocommit=False)
        try:
            with holder.cursor() as cursor:
                cursor.execute("SELECT * FROM client")  # an open transaction that read the table
            upgrade = subprocess.Popen(["alembic", "upgrade", "head"], cwd=app.path, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True, env={**app.env, "DATABASE_URL": app.url})
            try:
                wait_for(lambda: app.sql("SELECT ID FROM information_schema.PROCESSLIST WHERE STATE LIKE "
                                         "'Waiting for table metadata lock'", admin=True), what="the ALTER to wait")
                finding = app.finding("locks", "error")
                blocker = finding.details["blockers"][0]
                assert blocker["id"] == holder.thread_id() and blocker["user"] == app.name
                assert f"session {holder.thread_id()} (user {app.name}@" in finding.finding
                assert "ALTER TABLE client ADD COLUMN created" in finding.finding
                assert "provision doctor --kill-blockers" in finding.fix and f"KILL {holder.thread_id()}" in finding.fix

                refused = app.cli("doctor", "--kill-blockers")  # no terminal: asks for --yes, kills nothing
                assert refused.returncode == 2 and "--yes" in refused.stderr
                killed = app.cli("doctor", "--kill-blockers", "--yes", "--json")
                assert json.loads(killed.stdout)["killed"] == [holder.thread_id()], killed.stderr
                assert upgrade.wait(timeout=60) == 0, upgrade.stderr
            finally:
                if upgrade.poll() is None:
                    upgrade.kill()
                    upgrade.wait()
        finally:
            with pytest.raises(Exception):
                holder.ping(reconnect=False)  # the doctor ended it
            holder.close()
        assert app.finding("locks").status == "ok"
        assert app.sql("SELECT version_num FROM alembic_version") == ((R3,),)


class TestMigrationGraph:
    """Branch switches and merges, read from the files and the database."""

    def test_revision_from_another_branch(self, server, make_app):
        app = make_app(server)
        (app.path / ".gitignore").write_text(".devdb/\n__pycache__/\n")
        git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=master"]
        assert app.sh(" && ".join([" ".join(git) + " init -q", " ".join(git) + " add -A",
                                   " ".join(git) + " commit -qm base"])).returncode == 0
        assert app.alembic("upgrade", "head").returncode == 0
        assert api.snapshot_save("master", app.settings())["alembic_revision"] == [R3]
        # a feature branch adds a migration, and the developer upgrades there ...
        feature = app.add_migration("4d4d4d4d4d4d", R3, "feature column",
                                    "op.add_column('client', sa.Column('flag', sa.Boolean()))")
        assert app.sh(" && ".join([" ".join(git) + " checkout -qb feature", " ".join(git) + " add -A",
                                   " ".join(git) + " commit -qm feature"])).returncode == 0
        assert app.alembic("upgrade", "head").returncode == 0
        # ... then switches back to master, which does not know that revision
        assert app.sh(" ".join(git) + " checkout -q master").returncode == 0
        assert not feature.exists()
        failed = app.alembic("upgrade", "head")
        assert failed.returncode != 0 and "Can't locate revision" in failed.stdout + failed.stderr

        finding = app.finding("alembic", "error")
        assert "4d4d4d4d4d4d" in finding.finding and "switched branch?" in finding.finding
        assert finding.fix.startswith("provision snapshot restore master")
        assert "git checkout feature" in finding.fix
        restored = app.cli("snapshot", "restore", "master")
        assert restored.returncode == 0, restored.stderr
        assert app.finding("alembic").status == "ok"

    def test_batch_alter_table_migrations_are_matched(self, server, make_app):
        """render_as_batch migrations: their columns say which revision the tables are at."""
        app = make_app(server)
        r4, r5 = "4d4d4d4d4d4d", "5e5e5e5e5e5e"
        app.add_migration(r4, R3, "client archived", """
            with op.batch_alter_table('client', schema=None) as batch_op:
                batch_op.add_column(sa.Column('archived', sa.Boolean(), nullable=True))
        """)
        app.add_migration(r5, r4, "assignment grade", """
            with op.batch_alter_table('assignment', schema=None) as batch_op:
                batch_op.add_column(sa.Column('grade', sa.Integer(), nullable=True))
        """)
        assert app.alembic("upgrade", r4).returncode == 0
        app.sql(f"DROP TABLE `{app.name}`.alembic_version", admin=True)  # the revision is lost, the tables stay

        finding = app.finding("alembic", "error")
        assert f"matches the tables of revision {r4}" in finding.finding  # not r5: assignment has no 'grade'
        assert finding.fix == f"alembic stamp {r4} && alembic upgrade heads"
        app.run_fix(finding.fix)
        assert "grade" in [row[0] for row in app.sql(f"SHOW COLUMNS FROM `{app.name}`.assignment", admin=True)]
        assert app.finding("alembic").status == "ok"

    def test_two_heads(self, server, make_app):
        app = make_app(server)
        app.add_migration("5e5e5e5e5e5e", R2, "another branch's migration",
                          "op.create_table('note', sa.Column('id', sa.Integer(), primary_key=True))")
        failed = app.alembic("upgrade", "head")
        assert failed.returncode != 0 and "Multiple head revisions" in failed.stdout + failed.stderr

        finding = app.finding("migrations", "error")
        assert "2 heads" in finding.finding and R3 in finding.finding and "5e5e5e5e5e5e" in finding.finding
        assert finding.fix == "alembic merge -m 'merge heads' heads"
        app.run_fix(finding.fix)
        assert app.finding("migrations").status == "ok"
        assert app.alembic("upgrade", "head").returncode == 0
        assert app.finding("alembic").status == "ok"


# --- the server, the URL, the user -------------------------------------------------------------
class TestServerAndLogin:
    def test_a_fresh_project_is_all_ok(self, server, make_app):
        app = make_app(server, alembic=False)
        report = app.doctor()
        assert report.ok, [(f.check, f.finding) for f in report.findings if f.status == "error"]
        result = app.cli("doctor", "--json")
        assert result.returncode == 0, result.stdout + result.stderr
        checks = {f["check"] for f in json.loads(result.stdout)["findings"]}
        assert {"server", "backend", "port", "disk", "env_url", "app_login", "charset", "user_hosts",
                "auth_plugin", "sql_mode", "alembic", "locks"} <= checks

    def test_sql_mode_the_server_refuses(self, server, make_app):
        app = make_app(server, alembic=False)
        mariadb = "mariadb" in str(app.sql("SELECT @@version_comment, VERSION()")).lower()
        rejected = "TIME_TRUNCATE_FRACTIONAL" if mariadb else "NO_AUTO_CREATE_USER"
        (app.path / "config.py").write_text(textwrap.dedent(f"""\
            SQLALCHEMY_ENGINE_OPTIONS = {{"connect_args": {{
                "init_command": "SET SESSION sql_mode = 'STRICT_TRANS_TABLES,{rejected}'"}}}}
            """))
        with pytest.raises(Exception, match="1231"):  # what the app gets on every connection
            connect(parse(app.url), tls=False, init_command=f"SET SESSION sql_mode = 'STRICT_TRANS_TABLES,{rejected}'")
        finding = app.finding("sql_mode", "error")
        assert rejected in finding.finding and "config.py:2" in finding.finding
        assert finding.fix == f"remove {rejected} from the sql_mode in config.py"
        if mariadb:  # the seed's mode works here but not on MySQL 8+
            (app.path / "config.py").write_text("SQL_MODE = 'sql_mode=NO_AUTO_CREATE_USER'\n")
            assert "MySQL 8.0" in app.finding("sql_mode", "warn").finding

    def test_env_url_that_differs_from_the_state(self, native_server, make_app):
        app = make_app(native_server, alembic=False)
        env_file = app.path / ".env"
        good = env_file.read_text()
        env_file.write_text(good.replace(f":{native_server.port}/", ":3306/"))
        finding = app.finding("env_url", "error")
        assert f"port 3306 instead of {native_server.port}" in finding.finding
        assert finding.fix.startswith("provision up")
        assert app.cli(*"up --backend existing --driver pymysql".split(), "--server-url", str(native_server.admin),
                       "--database", app.name, "--user", app.name).returncode == 0
        assert env_file.read_text() == good
        shell = app.cli("doctor", "--json", env={"DATABASE_URL": "mysql://other:@127.0.0.1:1/x"})
        warned = [f for f in json.loads(shell.stdout)["findings"] if f["check"] == "env_url" and f["status"] == "warn"]
        assert warned and warned[0]["fix"] == "unset DATABASE_URL"

    def test_database_charset_and_latin1_tables(self, native_server, make_app):
        app = make_app(native_server, alembic=False)
        app.sql(f"ALTER DATABASE `{app.name}` CHARACTER SET latin1 COLLATE latin1_swedish_ci", admin=True)
        app.sql("CREATE TABLE legacy (id INT) CHARACTER SET latin1")
        finding = app.finding("charset", "error")
        assert "latin1" in finding.finding and finding.fix == "provision up --fix-charset"
        tables = app.finding("charset", "warn")
        assert "legacy" in tables.finding
        # the collation the database would get from provision up (one rule: collations.choose)
        newest = "utf8mb4_uca1400_ai_ci" if "MariaDB" in app.sql("SELECT VERSION()")[0][0] else "utf8mb4_0900_ai_ci"
        assert tables.fix.startswith(f"ALTER TABLE <table> CONVERT TO CHARACTER SET utf8mb4 COLLATE {newest};")
        app.sql(tables.fix.split(";")[0].replace("<table>", "legacy"), admin=False)  # the suggested SQL works
        assert api.up(app.settings(fix_charset=True))
        assert app.finding("charset").status == "ok"

    def test_account_for_the_wrong_host(self, native_server, make_app):
        app = make_app(native_server, alembic=False)
        app.sql("DROP USER %s@'127.0.0.1'", (app.name,), admin=True)
        finding = app.finding("user_hosts", "error")
        assert "appear to the server as '127.0.0.1'" in finding.finding
        assert app.finding("app_login", "error").fix.startswith("provision up")
        api.up(app.settings())
        assert app.finding("user_hosts").status == "ok" and app.finding("app_login").status == "ok"

    def test_auth_plugin_whose_python_module_the_app_lacks(self, mysql97, make_app):
        app = make_app(mysql97, alembic=False)
        assert app.sql("SELECT plugin FROM mysql.user WHERE User = %s", (app.name,), admin=True) == \
            (("caching_sha2_password",),)
        venv = app.path / ".venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        finding = app.finding("auth_plugin", "error")
        assert "caching_sha2_password" in finding.finding and "cryptography" in finding.finding
        assert finding.fix == f"{venv}/bin/python -m pip install cryptography"
        shutil.rmtree(venv)
        assert app.finding("auth_plugin").status == "ok"

    @pytest.mark.parametrize("where", [p for p in matrix_params() if p.values[0] == "native" or "mariadb" in p.values[0]])
    def test_mariadb_ed25519_account_without_pynacl(self, where, request, make_app):
        """A real ed25519 account on real MariaDB; neither this Python nor the app's has PyNaCl."""
        server = (request.getfixturevalue("native_server") if where == "native"
                  else request.getfixturevalue("container_server")(where))
        app = make_app(server, alembic=False)
        installed = app.sql("SELECT 1 FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'ed25519'", admin=True)
        if not installed:
            app.sql("INSTALL SONAME 'auth_ed25519'", admin=True)
        try:
            url = parse(app.url)
            for (host,) in app.sql("SELECT Host FROM mysql.user WHERE User = %s", (app.name,), admin=True):
                app.sql("ALTER USER %s@%s IDENTIFIED VIA ed25519 USING PASSWORD(%s)", (app.name, host, url.password),
                        admin=True)
            require(importlib.util.find_spec("nacl") is None, "PyNaCl is installed here: the login would work")
            # what the app (and provision's own proof) sees: PyMySQL cannot log in without PyNaCl
            up = app.cli("up", "--backend", "existing", "--server-url", str(server.admin), "--database", app.name,
                         "--user", app.name)
            assert up.returncode != 0 and "Traceback" not in up.stderr
            assert "ed25519" in up.stderr and "pip install PyNaCl" in up.stderr, up.stderr
            # and the doctor names the plugin and what the app's own Python must install
            venv = app.path / ".venv"
            subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
            finding = app.finding("auth_plugin", "error")
            assert "ed25519" in finding.finding and "nacl" in finding.finding
            assert finding.fix == f"{venv}/bin/python -m pip install PyNaCl"
        finally:
            app.drop()
            if not installed:
                app.sql("UNINSTALL SONAME 'auth_ed25519'", admin=True)


class TestNativeServerFaults:
    """What the doctor sees when the project's own server died (kill -9) and its port was taken."""

    @pytest.mark.native
    def test_killed_server_leaves_stale_files_and_a_foreign_port_holder(self, project, server_binary):
        assert project.cli(*project.up_args()).returncode == 0
        pid = json.loads(project.cli("status", "--json").stdout)["pid"]
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not is_listening("127.0.0.1", project.port), what="the killed server's port to close")
        intruder = socket.socket()
        intruder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        intruder.bind(("127.0.0.1", project.port))
        intruder.listen()
        try:
            result = project.cli("doctor", "--json")
            assert result.returncode == 1
            findings = {(f["check"], f["status"]): f for f in json.loads(result.stdout)["findings"]}
            assert ("server", "error") in findings and ("backend", "error") in findings
            assert "mysqld.pid" in findings[("stale_files", "warn")]["finding"]
            port = findings[("port", "error")]
            assert f"pid {os.getpid()} (" in port["finding"] and "not the project's server" in port["finding"]
        finally:
            intruder.close()
        result = project.cli("doctor", "--json")
        port = [f for f in json.loads(result.stdout)["findings"] if f["check"] == "port"][0]
        assert port["status"] == "error" and "nothing listens" in port["finding"] and port["fix"] == "provision up"
        assert project.cli(*project.up_args()).returncode == 0
        result = project.cli("doctor")
        assert result.returncode == 0, result.stdout
        project.cli("destroy", "--yes")


class TestSourceScan:
    def test_modes_are_found_next_to_sql_mode_only(self, tmp_path):
        from provision.doctor.checks import find_app_sql_modes

        (tmp_path / "app").mkdir()
        (tmp_path / "app" / "db.py").write_text(
            "x = 'ANSI_QUOTES'\n"
            "cursor.execute(\"SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_AUTO_CREATE_USER')\")\n")
        (tmp_path / ".venv").mkdir()
        (tmp_path / ".venv" / "lib.py").write_text("sql_mode = 'ORACLE'\n")
        assert find_app_sql_modes(tmp_path) == {"NO_AUTO_CREATE_USER": ["app/db.py:2"]}


class TestExactLockHolders:
    """MariaDB names lock holders exactly when its metadata_lock_info plugin is loaded."""

    def test_metadata_lock_info_plugin(self, native_server, make_app):
        import threading

        app = make_app(native_server, alembic=False)
        app.sql("CREATE TABLE client (id INT PRIMARY KEY)")
        if "mariadb" not in str(app.sql("SELECT VERSION()")).lower():
            pytest.skip("the plugin is MariaDB's")
        app.sql("INSTALL SONAME 'metadata_lock_info'", admin=True)
        holder = connect(parse(app.url), tls=False, autocommit=False)
        altering = connect(parse(app.url), tls=False)
        try:
            holder.cursor().execute("SELECT * FROM client")
            alter = threading.Thread(target=lambda: altering.cursor().execute("ALTER TABLE client ADD COLUMN x INT"))
            alter.start()
            wait_for(lambda: app.sql("SELECT ID FROM information_schema.PROCESSLIST WHERE STATE LIKE "
                                     "'Waiting for table metadata lock'", admin=True), what="the ALTER to wait")
            finding = app.finding("locks", "error")
            assert finding.details["source"] == "metadata_lock_info"
            assert [b["id"] for b in finding.details["blockers"]] == [holder.thread_id()]
            assert f"on {app.name}.client held by session {holder.thread_id()}" in finding.finding
            holder.rollback()
            alter.join(timeout=30)
            assert not alter.is_alive()
        finally:
            holder.close()
            altering.close()
            app.sql("UNINSTALL SONAME 'metadata_lock_info'", admin=True)
