"""The brew backend through the real CLI, against tests/standin/brew: a stand-in for
Homebrew's command line that runs a real mariadbd (macOS cannot run here)."""
from __future__ import annotations

import json
import os
import pty
import select
import termios
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from provision.ports import is_listening
from provision.probe import connect
from provision.url import DatabaseURL

from .helpers import env_url, json_out, query

pytestmark = [pytest.mark.mysql, pytest.mark.native]

STANDIN = Path(__file__).resolve().parent.parent / "standin"


class FakeBrew:
    """A Homebrew prefix of the stand-in: a short temp dir (the socket lives in it)."""

    def __init__(self, port: int):
        self.root = Path(tempfile.mkdtemp(prefix="pvbrew-", dir="/tmp"))
        self.port = port
        self.env = {
            "PATH": f"{STANDIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "PROVISION_FAKE_BREW_ROOT": str(self.root),
            "PROVISION_FAKE_BREW_PORT": str(port),
        }
        self.socket = self.root / "tmp" / "mysql.sock"

    def brew(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(STANDIN / "brew"), *args], env={**os.environ, **self.env},
                              capture_output=True, text=True, timeout=120)

    def install(self, formula: str = "mariadb") -> None:
        result = self.brew("install", formula)
        assert result.returncode == 0, result.stderr

    def info(self, formula: str = "mariadb") -> dict:
        result = self.brew("services", "info", formula, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)[0]

    def mysql_server(self, action: str) -> subprocess.CompletedProcess:
        """The seed's `mysql.server start`, through the script Homebrew links into <prefix>/bin."""
        return subprocess.run([str(self.root / "bin" / "mysql.server"), action], env={**os.environ, **self.env},
                              capture_output=True, text=True, timeout=120)

    def root_login(self, password: str = ""):
        admin = DatabaseURL(user="root", password=password, host="localhost", port=self.port,
                            query=(("unix_socket", str(self.socket)),))
        return connect(admin, tls=False)

    def cleanup(self) -> None:
        for formula in ("mysql", "mariadb"):
            if (self.root / "opt" / formula).exists():
                self.brew("services", "stop", formula)
        if (self.root / "bin" / "mysql.server").exists():
            self.mysql_server("stop")
        for pid_file in (self.root / "var" / "mysql").glob("*.pid"):  # anything a failed test left
            try:
                os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def fake_brew(project, server_binary):
    """An empty stand-in Homebrew whose server will listen on the project's port."""
    brew = FakeBrew(project.port)
    yield brew
    brew.cleanup()


@pytest.fixture
def brewed(project, fake_brew):
    """The stand-in Homebrew with the mariadb formula installed (not started)."""
    fake_brew.install("mariadb")
    return project, fake_brew


def up(project, brew, *extra: str, input: str = ""):
    # input="": stdin is a pipe, not a terminal, so nothing prompts
    return project.cli(*project.up_args("--backend", "brew", *extra), env=brew.env, input=input)


class TestUpDownUp:
    """up starts the service and leaves a proven .env; a second up changes nothing;
    down stops the service; the next up starts it again and changes nothing else."""

    def test_cycle(self, brewed):
        project, brew = brewed
        first = json_out(up(project, brew, "--json"))
        assert first["backend"] == "brew" and first["server_action"] == "started"
        assert first["env_action"] == "created"
        assert any(change.startswith("database ohdevel: created") for change in first["changes"])
        url = env_url(project.env_file)
        assert url == f"mysql://ohdev:@127.0.0.1:{project.port}/ohdevel?charset=utf8mb4"
        assert query(url, "SELECT DATABASE(), CURRENT_USER()") == (("ohdevel", "ohdev@localhost"),)
        info = brew.info()
        assert info["running"] is True and info["status"] == "started" and info["pid"]

        env_before = project.env_file.read_bytes(), project.env_file.stat().st_mtime_ns
        second = project.cli(*project.up_args("--backend", "brew"), env=brew.env, input="")
        assert second.returncode == 0, second.stderr
        assert "already up: nothing changed" in second.stdout
        assert (project.env_file.read_bytes(), project.env_file.stat().st_mtime_ns) == env_before

        status = json_out(project.cli("status", "--json", env=brew.env))
        assert status["backend"] == "brew" and status["state"] == "running"
        assert status["formula"] == "mariadb" and status["env_matches"] is True

        down = project.cli("down", env=brew.env)
        assert down.returncode == 0, down.stderr
        assert "brew services stop mariadb" in down.stdout
        assert brew.info()["running"] is False
        assert not is_listening("127.0.0.1", project.port)

        # the recorded backend is used without --backend
        third = json_out(project.cli(*project.up_args("--json"), env=brew.env, input=""))
        assert third["backend"] == "brew" and third["server_action"] == "started"
        assert third["changes"] == [] and third["env_action"] == "unchanged"
        assert query(url, "SELECT 1") == ((1,),)
        assert project.cli("down", env=brew.env).returncode == 0

    def test_state_keeps_no_secret_and_points_at_homebrew(self, brewed):
        project, brew = brewed
        json_out(up(project, brew, "--json"))
        recorded = json.loads((project.state_dir / "state.json").read_text())["brew"]
        assert recorded["formula"] == "mariadb" and recorded["prefix"] == str(brew.root)
        assert recorded["socket"] == str(brew.socket) and recorded["started_by_provision"] is True
        assert recorded["admin_user"] == "root" and "admin" not in recorded
        assert project.cli("down", env=brew.env).returncode == 0


class TestServerStartedByHand:
    """The seed starts the server with `mysql.server start`: up uses it as it is, down leaves it running."""

    def test_used_and_left_running(self, brewed):
        project, brew = brewed
        started = brew.mysql_server("start")
        assert started.returncode == 0, started.stderr
        data = json_out(up(project, brew, "--json"))
        assert data["server_action"] == "already running"
        assert brew.info()["running"] is False  # not a brew service
        status = json_out(project.cli("status", "--json", env=brew.env))
        assert status["state"].startswith("running (not a brew service")
        down = project.cli("down", env=brew.env)
        assert down.returncode == 0 and "left running" in down.stdout
        assert query(env_url(project.env_file), "SELECT 1") == ((1,),)


class TestRootWithPassword:
    """A root with a password is never guessed: an error off a terminal, a prompt on one, or --server-url."""

    @pytest.fixture
    def locked(self, brewed):
        project, brew = brewed
        assert brew.mysql_server("start").returncode == 0
        conn = brew.root_login()
        with conn.cursor() as cursor:
            cursor.execute("SELECT Host FROM mysql.user WHERE User = 'root'")
            for (host,) in cursor.fetchall():
                cursor.execute("ALTER USER 'root'@%s IDENTIFIED BY 'brew-root-pw'", (host,))
        conn.close()
        return project, brew

    def test_off_a_terminal_it_fails_with_a_hint(self, locked):
        project, brew = locked
        result = up(project, brew)
        assert result.returncode == 3, result.stderr
        assert "error: Homebrew's mariadb refused the password-less admin login" in result.stderr
        # the hint is written as typed: the test runs `<python> -m provision`
        assert (f"hint: pass it: {sys.executable} -m provision up --server-url "
                f"mysql://root:PASSWORD@127.0.0.1:{project.port}/") in result.stderr
        assert "Traceback" not in result.stderr and not project.env_file.exists()

    def test_server_url_is_used_and_kept(self, locked):
        project, brew = locked
        admin = f"mysql://root:brew-root-pw@127.0.0.1:{project.port}/"
        first = json_out(up(project, brew, "--server-url", admin, "--json"))
        assert first["backend"] == "brew" and first["env_action"] == "created"
        again = json_out(up(project, brew, "--json"))  # no --server-url: the stored one
        assert again["changed"] is False
        secrets = project.state_dir / "secrets.json"
        assert json.loads(secrets.read_text())["brew_admin_password"] == "brew-root-pw"
        assert secrets.stat().st_mode & 0o777 == 0o600
        assert "brew-root-pw" not in (project.state_dir / "state.json").read_text()
        down = project.cli("down", env=brew.env)
        assert "left running" in down.stdout  # it ran before provision came

    def test_on_a_terminal_it_asks(self, locked):
        project, brew = locked
        output, code = run_on_terminal(
            [sys.executable, "-m", "provision", *project.up_args("--backend", "brew")],
            cwd=project.path, env={**clean_env(), **brew.env}, answer_after="Password of root",
            answer="brew-root-pw",
        )
        assert code == 0, output
        assert "ready: logged in as ohdev@localhost" in output
        assert "brew-root-pw" not in output  # hidden input
        assert query(env_url(project.env_file), "SELECT 1") == ((1,),)


class TestPortAndFormula:
    def test_port_other_than_homebrews_is_refused_with_a_hint(self, brewed, project):
        _, brew = brewed
        other = project.port + 1 if project.port < 65535 else project.port - 1
        result = project.cli("up", "--backend", "brew", "--port", str(other), env=brew.env, input="")
        assert result.returncode == 3, result.stderr
        assert f"configured for port {project.port}" in result.stderr and f"not port {other}" in result.stderr
        assert f"provision up --port {project.port}" in result.stderr
        assert str(brew.root / "etc" / "my.cnf") in result.stderr
        assert brew.info()["running"] is False  # nothing was started

    def test_no_formula_installed(self, project, fake_brew):
        result = up(project, fake_brew)
        assert result.returncode == 3, result.stderr
        assert "none of the formulae mysql, mysql@8.4, mysql@8.0, mariadb installed" in result.stderr
        assert "brew install mysql" in result.stderr and "provision up --install" in result.stderr

    def test_formula_option_names_a_missing_formula(self, brewed):
        project, brew = brewed
        result = up(project, brew, "--formula", "mysql@8.4")
        assert result.returncode == 3 and "no formula mysql@8.4 installed" in result.stderr


class TestInstallWithBrew:
    """--install runs `brew install <formula>` (printed first) when Homebrew has no server formula."""

    def test_install_then_up(self, project, fake_brew):
        result = up(project, fake_brew, "--formula", "mariadb", "--install", "--yes", "--json")
        data = json_out(result)
        command = f"{STANDIN / 'brew'} install mariadb"
        assert data["installed"] == command
        assert f"installing: running {command}" in result.stderr
        assert data["backend"] == "brew" and data["server_action"] == "started"
        assert query(env_url(project.env_file), "SELECT 1") == ((1,),)
        assert project.cli("down", env=fake_brew.env).returncode == 0

    def test_install_needs_a_yes_off_a_terminal(self, project, fake_brew):
        result = up(project, fake_brew, "--install")
        assert result.returncode == 2, result.stderr
        assert "needs a yes" in result.stderr and "hint: rerun with --yes" in result.stderr
        assert not (fake_brew.root / "opt" / "mysql").exists()

    def test_not_needed_when_a_formula_is_there(self, brewed):
        project, brew = brewed
        data = json_out(up(project, brew, "--install", "--yes", "--json"))
        assert data["installed"] is None and data["server_action"] == "started"
        assert project.cli("down", env=brew.env).returncode == 0

    def test_dry_run_prints_the_command_and_changes_nothing(self, project, fake_brew):
        result = up(project, fake_brew, "--install", "--dry-run")
        assert result.returncode == 0, result.stderr
        assert f"install: {STANDIN / 'brew'} install mysql   (needed: brew:" in result.stdout
        assert "dry run: nothing was installed, started or written" in result.stdout
        assert not (fake_brew.root / "opt" / "mysql").exists() and not project.state_dir.exists()


# --- a terminal, for the prompts -------------------------------------------------------------
def clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("PROVISION_")}


def run_on_terminal(argv, *, cwd, env, answer_after: str, answer: str, timeout: float = 60.0):
    """Run argv with a pseudo-terminal as its controlling terminal; type ``answer`` after the prompt."""
    pid, fd = pty.fork()
    if pid == 0:  # the child
        try:
            os.chdir(cwd)
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    output = b""
    answered = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            wait = 0.05 if answer_after.encode() in output and not answered else deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(0.0, wait))
            if not ready and not answered and answer_after.encode() in output:
                if not _echoing(fd):
                    os.write(fd, answer.encode() + b"\n")
                    answered = True
                continue
            if not ready:
                break
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
            if not answered and answer_after.encode() in output and not _echoing(fd):
                # the prompt is up and echo is off: getpass is reading (typed earlier, it is flushed)
                os.write(fd, answer.encode() + b"\n")
                answered = True
    finally:
        os.close(fd)
    done, status = os.waitpid(pid, os.WNOHANG)
    if done == 0:  # still running after the deadline: a hang
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    return output.decode("utf-8", "replace"), os.waitstatus_to_exitcode(status)


def _echoing(fd: int) -> bool:
    return bool(termios.tcgetattr(fd)[3] & termios.ECHO)
