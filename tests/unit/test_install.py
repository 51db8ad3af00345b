"""Installing a server: the command for each system, --dry-run, and the real apt-get path."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from provision.backends.brew import server_options
from provision.choose import start_order
from provision.config import load_settings
from provision.errors import ConfigError, ServerError
from provision.install import Platform, detect, ensure_server, install_commands, plan_install
from provision.state import StateDir
from tests.conftest import require

STANDIN = Path(__file__).resolve().parent.parent / "standin"


def settings(tmp_path, **overrides):
    return load_settings({"project_dir": tmp_path, **overrides}, environ={})


def which_only(*names: str):
    """A PATH that has exactly these tools (for systems this machine is not)."""
    return lambda name: f"/usr/bin/{name}" if name in names else None


LINUX_DEBIAN = Platform("Linux", ("debian",), root=True)


class TestCommands:
    """The exact commands --install runs (and prints first)."""

    def test_brew_never_sudo(self):
        assert install_commands("brew", "mysql", sudo=True, brew="/opt/homebrew/bin/brew") == \
            (("/opt/homebrew/bin/brew", "install", "mysql"),)

    def test_apt_get(self):
        assert install_commands("apt-get", "mariadb-server", sudo=False) == \
            (("apt-get", "install", "-y", "--no-upgrade", "mariadb-server"),)

    def test_apt_get_with_sudo_and_update(self):
        assert install_commands("apt-get", "mariadb-server", sudo=True, update=True) == (
            ("sudo", "apt-get", "update"),
            ("sudo", "apt-get", "install", "-y", "--no-upgrade", "mariadb-server"),
        )

    def test_dnf(self):
        assert install_commands("dnf", "mariadb-server", sudo=True) == \
            (("sudo", "dnf", "install", "-y", "mariadb-server"),)


class TestPlan:
    """Which package manager and package, from the system and --formula."""

    def test_macos_installs_the_seeds_formula(self, tmp_path, monkeypatch):
        monkeypatch.setenv("PATH", f"{STANDIN}{os.pathsep}{os.environ['PATH']}")
        plan = plan_install(settings(tmp_path), Platform("Darwin", (), root=False))
        assert plan.text == f"{STANDIN / 'brew'} install mysql"

    def test_macos_formula_option(self, tmp_path, monkeypatch):
        monkeypatch.setenv("PATH", f"{STANDIN}{os.pathsep}{os.environ['PATH']}")
        plan = plan_install(settings(tmp_path, formula="mysql@8.4"), Platform("Darwin", (), root=False))
        assert plan.commands == ((str(STANDIN / "brew"), "install", "mysql@8.4"),)

    def test_macos_without_homebrew(self, tmp_path, monkeypatch):
        monkeypatch.setenv("PATH", str(tmp_path))
        monkeypatch.setattr("provision.backends.brew.BREW_PLACES", (str(tmp_path / "brew"),))
        with pytest.raises(ServerError, match="Homebrew \\(brew\\) was not found") as caught:
            plan_install(settings(tmp_path), Platform("Darwin", (), root=False))
        assert "https://brew.sh" in caught.value.hint

    def test_bad_formula_name(self, tmp_path, monkeypatch):
        monkeypatch.setenv("PATH", f"{STANDIN}{os.pathsep}{os.environ['PATH']}")
        with pytest.raises(ConfigError, match="invalid Homebrew formula"):
            plan_install(settings(tmp_path, formula="mysql; rm -rf /"), Platform("Darwin", (), root=False))

    def test_ubuntu_as_a_user_uses_sudo(self, tmp_path):
        plan = plan_install(settings(tmp_path), Platform("Linux", ("ubuntu", "debian"), root=False),
                            which=which_only("sudo", "apt-get"))
        assert plan.commands[-1] == ("sudo", "apt-get", "install", "-y", "--no-upgrade", "mariadb-server")

    def test_mysql_formula_means_mysql_server(self, tmp_path):
        plan = plan_install(settings(tmp_path, formula="mysql"), Platform("Linux", ("ubuntu",), root=True),
                            which=which_only("apt-get"))
        assert plan.package == "mysql-server" and plan.commands[-1][0] == "apt-get"

    def test_fedora_uses_dnf(self, tmp_path):
        plan = plan_install(settings(tmp_path), Platform("Linux", ("fedora",), root=False),
                            which=which_only("sudo", "dnf"))
        assert plan.text == "sudo dnf install -y mariadb-server"

    def test_not_root_and_no_sudo(self, tmp_path):
        with pytest.raises(ServerError, match="needs root, and sudo is not installed"):
            plan_install(settings(tmp_path), Platform("Linux", ("debian",), root=False),
                         which=which_only("apt-get"))

    def test_unknown_system(self, tmp_path):
        with pytest.raises(ServerError, match="no brew, apt-get or dnf") as caught:
            plan_install(settings(tmp_path), Platform("Linux", ("arch",), root=True), which=which_only())
        assert "--backend docker" in caught.value.hint

    def test_detect_reads_os_release(self, tmp_path):
        release = tmp_path / "os-release"
        release.write_text('NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\n')
        assert detect(release).distro == ("ubuntu", "debian")


class TestAptCandidate:
    """apt-get update runs first only when apt knows no candidate (a fresh image): asked for real."""

    def test_known_package_needs_no_update(self, tmp_path):
        require(shutil.which("apt-cache") is not None, "not a Debian/Ubuntu machine (no apt-cache)")
        known = subprocess.run(["apt-cache", "policy", "mariadb-server"], capture_output=True, text=True).stdout
        require("Candidate: (none)" not in known and "Candidate:" in known, "apt knows no mariadb-server here")
        plan = plan_install(settings(tmp_path), LINUX_DEBIAN, which=which_only("apt-get"))
        assert len(plan.commands) == 1

    def test_unknown_package_gets_an_update_first(self, tmp_path):
        require(shutil.which("apt-cache") is not None, "not a Debian/Ubuntu machine (no apt-cache)")
        known = subprocess.run(["apt-cache", "policy", "mysql-server"], capture_output=True, text=True).stdout
        require("Candidate:" not in known or "Candidate: (none)" in known,
                "this machine's apt knows a mysql-server (Ubuntu)")
        plan = plan_install(settings(tmp_path, formula="mysql"), LINUX_DEBIAN, which=which_only("apt-get"))
        assert plan.commands[0] == ("apt-get", "update")


class TestConfirmation:
    """Installing needs --yes or a yes from the prompt; nothing runs otherwise."""

    def test_no_yes_off_a_terminal(self, tmp_path, monkeypatch):
        brew_root = tmp_path / "brew"
        brew_root.mkdir()
        monkeypatch.setenv("PATH", f"{STANDIN}{os.pathsep}{os.environ['PATH']}")
        monkeypatch.setenv("PROVISION_FAKE_BREW_ROOT", str(brew_root))
        s = settings(tmp_path, backend="brew", install=True)
        with pytest.raises(ConfigError, match="needs a yes"):
            ensure_server(s, StateDir(s.state_path), confirm=None)
        assert not (brew_root / "opt").exists()

    def test_answer_no(self, tmp_path, monkeypatch):
        brew_root = tmp_path / "brew"
        brew_root.mkdir()
        monkeypatch.setenv("PATH", f"{STANDIN}{os.pathsep}{os.environ['PATH']}")
        monkeypatch.setenv("PROVISION_FAKE_BREW_ROOT", str(brew_root))
        s = settings(tmp_path, backend="brew", install=True)
        asked = []
        with pytest.raises(ServerError, match="the answer was no"):
            ensure_server(s, StateDir(s.state_path), confirm=lambda command: asked.append(command) or False)
        assert asked == [f"{STANDIN / 'brew'} install mysql"]
        assert not (brew_root / "opt").exists()


def expected_command_here() -> str:
    """What --install should run on this machine, worked out from the machine itself."""
    here = detect()
    if sys.platform == "darwin":
        return "brew install mysql"
    sudo = "" if here.root else "sudo "
    if {"debian", "ubuntu"} & set(here.distro):
        return f"{sudo}apt-get install -y --no-upgrade mariadb-server"
    if {"fedora", "rhel", "centos"} & set(here.distro):
        return f"{sudo}dnf install -y mariadb-server"
    pytest.skip(f"no known package manager for {here.label}")


def cli(tmp_path, *args, env=None):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PROVISION_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "provision", *args], cwd=tmp_path, env=full_env,
                          capture_output=True, text=True, input="", timeout=300)


class TestDryRunHere:
    def test_prints_the_command_for_this_system(self, tmp_path):
        from provision.ports import free_port

        result = cli(tmp_path, "up", "--install", "--dry-run", "--port", str(free_port()))
        assert result.returncode == 0, result.stderr
        assert expected_command_here() in result.stdout
        assert "dry run: nothing was installed, started or written" in result.stdout
        assert not (tmp_path / ".devdb").exists() and not (tmp_path / ".env").exists()


class TestRealAptGet:
    """The real apt-get path, where it is harmless: the package is already installed, so
    `apt-get install --no-upgrade` runs for real and changes nothing."""

    def test_install_runs_apt_get_and_says_so(self, tmp_path):
        require(shutil.which("apt-get") is not None and shutil.which("dpkg-query") is not None,
                "not a Debian/Ubuntu machine")
        require(os.geteuid() == 0, "needs root (sudo would prompt)")
        status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "mariadb-server"],
                                capture_output=True, text=True).stdout
        require(status == "install ok installed", "mariadb-server is not installed (the harmless case needs it)")
        empty = tmp_path / "no-server-here"
        empty.mkdir()
        # the native backend looks only in an empty directory, so provision finds no server and installs
        result = cli(tmp_path, "up", "--backend", "native", "--install", "--yes",
                     env={"PROVISION_SERVER_SEARCH_PATH": str(empty)})
        assert "installing: running apt-get install -y --no-upgrade mariadb-server" in result.stderr
        assert "mariadb-server is already" in result.stderr or "Skipping mariadb-server" in result.stderr
        assert result.returncode == 3, result.stderr
        assert "ran, but still no server can be started" in result.stderr


class TestHomebrewHelpers:
    def test_print_defaults_parsing(self):
        out = ("/opt/homebrew/opt/mysql/bin/mysqld would have been started with the following arguments:\n"
               "--bind-address=127.0.0.1 --mysqlx-bind-address=127.0.0.1 --port=3307 "
               "--socket=/tmp/mysql.sock --loose-log_error=/var/log/my.err --port=3308 \n")
        options = server_options(out)
        assert options["port"] == "3308"  # the last one wins, as in mysqld
        assert options["socket"] == "/tmp/mysql.sock" and options["log-error"] == "/var/log/my.err"

    def test_nothing_configured(self):
        assert server_options("mysqld would have been started with the following arguments:\n\n") == {}

    def test_macos_auto_order(self, monkeypatch):
        monkeypatch.setattr(sys, "platform", "darwin")
        assert start_order() == ("docker", "brew", "native")
