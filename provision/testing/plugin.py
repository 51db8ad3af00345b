"""pytest plugin: fresh MySQL databases per test (fixtures mysql_server, mysql_db, mysql_url, mysql_tx).

    def test_signup(mysql_db):            # a fresh database (a copy of the template, if any)
        conn = mysql_db.connect()          # or mysql_db.url (a str with .database, .host, ...)

    def test_app(mysql_env):              # $DATABASE_URL points at a fresh database for this test

    def test_query(mysql_tx):             # a connection inside a transaction rolled back after
        mysql_tx.cursor().execute(...)     # the test (an error if the test commits or runs DDL)

Options (ini name in brackets), highest first: command line, ini, default.
  --mysql-server [mysql_server]   auto (default) | dev | native | docker | mysql://root:PW@HOST:PORT/
  --mysql-image [mysql_image]     image for docker (default provision-test/mysql:9.7, or
                                  $PROVISION_TEST_MYSQL_IMAGE)
  --mysql-template [mysql_template]  alembic.ini (or its folder), a .sql file or module:function
  --mysql-keep [mysql_keep]       keep the test databases (listed at the end) until the next
                                  session on that server sweeps them
  --mysql-pool [mysql_pool]       databases made ahead, used ones dropped behind, while tests
                                  run (default: 1, 2 with a template; 0: all inline)
  --mysql-restore [mysql_restore] on (default with a template): a used copy is restored to the
                                  template's state (only what the test changed); off: new copies
  --mysql-ttl [mysql_ttl]         lease the run's databases on a shared server (10m), renewed by
                                  a thread of this process; expired leases are reaped at the
                                  start of every session (and by `provision reap`)

Importing this module is cheap: pymysql, docker and testcontainers are imported only when
a fixture runs. The fixture names differ from pytest-mysql's (mysql, mysql_proc, mysql_noproc).
Under pytest-xdist the workers of one run share one throwaway server: the first worker that
needs it starts it on behalf of the controller, which removes it at the end (and its
watchdog does if the controller is killed).
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass

import pytest

_OPTIONS = {
    # name: (help, default)
    "server": ("where test databases live: auto | dev | native | docker | an admin URL "
               "mysql://root:PASSWORD@HOST:PORT/ (default auto: the project's dev server when it is up, "
               "else a throwaway native server, else docker; with a template, a throwaway native server first)",
               "auto"),
    "image": ("docker image for --mysql-server=docker (default $PROVISION_TEST_MYSQL_IMAGE or "
              "provision-test/mysql:9.7)", ""),
    "pool": ("how many test databases are made ahead: their CREATE (or copy) and the DROP of used ones "
             "run on the server while tests run (default 1, 2 with a template; 0: inline)", ""),
    "ttl": ("lease the run's test databases on the server for this long (30s, 10m, 1h), renewed while the run "
            "lives: another session or `provision reap` drops them once a killed run stops renewing", ""),
    "template": ("build this once into a template database and give each test a copy: an alembic.ini "
                 "(or its folder), a .sql file, or module:function taking the database", ""),
    "restore": ("with a template: on (default) restores a used copy to the template's state, undoing only "
                "what the test changed (a new copy after DDL); off: a new copy for every test", ""),
}
_RUN_KEY = "provision_run"
_RUN_OWNER = "provision_owner"
_controller_key = pytest.StashKey["_Controller"]()
_databases_key = pytest.StashKey["object"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("provision", "ephemeral MySQL/MariaDB databases (provision)")
    for name, (text, default) in _OPTIONS.items():
        group.addoption(f"--mysql-{name}", dest=f"provision_mysql_{name}", default=None, help=text)
        parser.addini(f"mysql_{name}", text, default=default)
    group.addoption("--mysql-keep", dest="provision_mysql_keep", action="store_true", default=None,
                    help="keep the test databases after the run for a look (listed at the end; the next "
                         "session on that server sweeps them)")
    parser.addini("mysql_keep", "keep the test databases after the run", type="bool", default=False)


@dataclass(frozen=True)
class Options:
    server: str
    image: str | None
    template: str | None
    keep: bool
    pool: int | None
    restore: bool | None = None
    ttl: int | None = None


def options(config: pytest.Config) -> Options:
    def value(name: str):
        given = config.getoption(f"provision_mysql_{name}")
        return given if given is not None else config.getini(f"mysql_{name}")

    pool = value("pool")
    try:
        pool = int(pool) if pool not in (None, "") else None
    except ValueError:
        raise pytest.UsageError(f"--mysql-pool must be a whole number, not {pool!r}") from None
    restore = (value("restore") or "").strip().lower()
    if restore not in ("", "on", "off"):
        raise pytest.UsageError(f"--mysql-restore must be on or off, not {restore!r}")
    ttl = value("ttl") or None
    if ttl is not None:
        from ..config import parse_ttl
        from ..errors import ConfigError

        try:
            ttl = parse_ttl(ttl)
        except ConfigError as exc:
            raise pytest.UsageError(f"--mysql-ttl: {exc.message} ({exc.hint})") from None
    return Options(server=value("server") or "auto", image=value("image") or None,
                   template=value("template") or None, keep=bool(value("keep")), pool=pool,
                   restore=None if not restore else restore == "on", ttl=ttl)


class _Controller:
    """Only in the xdist controller: name the run's shared server, remove it at the end."""

    def __init__(self) -> None:
        self.key = f"x{os.getpid()}{secrets.token_hex(3)}"
        self.workers = 0

    def pytest_configure_node(self, node) -> None:
        node.workerinput[_RUN_KEY] = self.key
        node.workerinput[_RUN_OWNER] = os.getpid()
        self.workers += 1

    def finish(self) -> None:
        if not self.workers:
            return  # no xdist workers: nothing was shared
        from .reaper import reap, run_dir

        reap(run_dir(self.key))  # also removes the start lock; a no-op when no worker started one


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("xdist") and not hasattr(config, "workerinput"):
        controller = _Controller()
        config.pluginmanager.register(controller, "provision-xdist-controller")
        config.stash[_controller_key] = controller


def pytest_unconfigure(config: pytest.Config) -> None:
    controller = config.stash.get(_controller_key, None)
    if controller is not None:
        controller.finish()


@pytest.fixture(scope="session")
def mysql_server(request: pytest.FixtureRequest):
    """The server test databases live on (an ``EphemeralServer``: ``.url``, ``.kind``, ``.flavor``)."""
    from .choose import open_server

    config = request.config
    opts = options(config)
    worker = getattr(config, "workerinput", None) or {}
    with open_server(opts.server, image=opts.image, project_dir=config.rootpath,
                     share_key=worker.get(_RUN_KEY), owner_pid=worker.get(_RUN_OWNER),
                     template=bool(opts.template)) as server:
        yield server


@pytest.fixture(scope="session")
def mysql_app_settings(request: pytest.FixtureRequest):
    """The app's provision settings (``[tool.provision]``, ``PROVISION_*``): its driver and env key."""
    from ..config import load_settings

    return load_settings(project_dir=request.config.rootpath)


@pytest.fixture(scope="session")
def mysql_databases(request: pytest.FixtureRequest, mysql_server, mysql_app_settings):
    """The session's janitor (``provision.ephemeral.Databases``): makes, copies and drops databases."""
    from ..api import url_scheme
    from .databases import Databases

    opts = options(request.config)
    # the test URLs have the dev URL's scheme (mysql:// or mysql+pymysql://): the app's config sees one shape
    databases = Databases(mysql_server, template=opts.template, keep=opts.keep, pool=opts.pool,
                          project_dir=request.config.rootpath, restore=opts.restore, ttl=opts.ttl,
                          scheme=url_scheme(mysql_app_settings))
    with databases:
        request.config.stash[_databases_key] = databases
        yield databases


@pytest.fixture
def mysql_db(mysql_databases):
    """A fresh database for this test (a copy of --mysql-template, if given), dropped after it."""
    db = mysql_databases.create()
    yield db
    mysql_databases.release(db)


@pytest.fixture(scope="session")
def mysql_tx_connection(mysql_databases):
    """The session's rolled-back connection (``provision.testing.rollback.RolledBack``) behind ``mysql_tx``."""
    from .rollback import RolledBack

    rolled = RolledBack(mysql_databases)
    yield rolled
    rolled.close()


@pytest.fixture
def mysql_tx(mysql_tx_connection):
    """A PyMySQL connection to a copy of the template (or an empty database) inside a transaction
    that is rolled back after the test: no copy, no restore. A test that commits (or runs DDL,
    which commits implicitly) gets an error; use ``mysql_db`` for those."""
    conn = mysql_tx_connection.begin()
    yield conn
    from ..errors import ProvisionError

    try:
        mysql_tx_connection.end()
    except ProvisionError as exc:
        pytest.fail(f"{exc.message}\nhint: {exc.hint}", pytrace=False)


@pytest.fixture
def mysql_url(mysql_db) -> str:
    """The URL of this test's fresh database (``mysql://user:password@host:port/name?charset=utf8mb4``),
    the same ``str`` as ``mysql_db.url``."""
    return mysql_db.url


@pytest.fixture
def mysql_env(mysql_db, mysql_app_settings, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the app's ``DATABASE_URL`` (the ``env_key`` setting) at this test's database for the
    test's duration; restored afterwards. Returns the URL."""
    monkeypatch.setenv(mysql_app_settings.env_key, mysql_db.url)
    return mysql_db.url


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    databases = config.stash.get(_databases_key, None)
    if databases is None:
        return
    for reaped in databases.reaped:  # at the session's start: expired test leases of any host
        terminalreporter.write_line(f"provision: reaped the expired test lease {reaped['name']} of "
                                    f"{reaped['owner']}@{reaped['host']}: {len(reaped['databases'])} database(s)")
    if databases.lease_lost:
        terminalreporter.write_line("provision: this run's lease expired and was reaped while it ran (its "
                                    "databases were dropped); use a longer --mysql-ttl")
    if not databases.kept:
        return
    server = databases.ephemeral
    where = server.server.admin.redacted() if server is not None else str(databases.server.admin.redacted())
    terminalreporter.write_line(f"provision: kept {len(databases.kept)} test database(s) on {where}: "
                                + ", ".join(databases.kept[:10]) + (" ..." if len(databases.kept) > 10 else ""))
    if server is not None and server.kind in ("native", "docker"):
        terminalreporter.write_line("provision: that server is a throwaway one and is gone now; "
                                    "use --mysql-server=dev or an admin URL to keep databases")
