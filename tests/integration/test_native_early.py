"""`provision up` after `down` starts the recorded native server before the CLI's imports
(backends/native_early.py): through the real CLI, on a real server."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from provision.ports import is_listening
from provision.processes import alive
from provision.state import StateDir

from .helpers import env_url, json_out, query

pytestmark = [pytest.mark.mysql, pytest.mark.native]

EARLY = "the server started ahead of the CLI's imports"


@pytest.fixture
def stopped(project, server_binary):
    """A project whose native server was up (a row written) and is now down."""
    json_out(project.cli(*project.up_args("--json")))
    url = env_url(project.env_file)
    query(url, "CREATE TABLE kept (n INT)")
    query(url, "INSERT INTO kept VALUES (1)")
    assert project.cli("down").returncode == 0
    yield project
    project.cli("destroy", "--yes")


def servers_of(project) -> list[int]:
    """Pids of every process started with this project's option file."""
    option_file = str(project.state_dir / "native" / "my.cnf")
    out = subprocess.run(["pgrep", "-f", "--", f"--defaults-file={option_file}"], capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split()]


class TestEarlyStart:
    @pytest.mark.parametrize("args", [("up",), ("up", "--port"), ("up", "--json", "--yes")],
                             ids=["plain", "same-port", "harmless-options"])
    def test_up_after_down_adopts_the_early_server(self, stopped, args):
        project = stopped
        if args == ("up", "--port"):
            args = ("up", "--port", str(project.port))
        result = project.cli(*args, "--debug")
        assert result.returncode == 0, result.stderr
        assert EARLY in result.stderr
        said = json.loads(result.stdout)["server_action"] if "--json" in args else result.stdout
        assert said == "started" or "(started)" in said, result.stdout
        assert query(env_url(project.env_file), "SELECT n FROM kept") == ((1,),)
        assert len(servers_of(project)) == 1

    def test_other_options_start_it_the_usual_way(self, stopped):
        project = stopped
        result = project.cli("up", "--database", "ohdevel", "--debug")
        assert result.returncode == 0, result.stderr
        assert EARLY not in result.stderr
        assert query(env_url(project.env_file), "SELECT n FROM kept") == ((1,),)

    def test_a_changed_option_file_means_a_restart_with_the_new_one(self, stopped):
        """What an older provision wrote (here: one more line) is not adopted: the server is stopped
        and started again with the option file this version writes."""
        project = stopped
        option_file = project.state_dir / "native" / "my.cnf"
        written = option_file.read_text()
        option_file.write_text(written + "# an older provision's line\n")
        result = project.cli("up", "--debug")
        assert result.returncode == 0, result.stderr
        assert EARLY not in result.stderr and "the settings changed since the last up" in result.stderr
        assert "(started)" in result.stdout, result.stdout  # stopped cleanly: no crash to recover from
        assert option_file.read_text() == written
        assert len(servers_of(project)) == 1
        assert query(env_url(project.env_file), "SELECT n FROM kept") == ((1,),)

    def test_a_server_nobody_adopts_is_stopped_when_the_command_exits(self, stopped):
        project = stopped
        program = ("import sys\nfrom provision.backends import native_early\n"
                   "native_early.start({})\nassert native_early._started is not None\n")
        result = subprocess.run([sys.executable, "-c", program], cwd=project.path, capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, result.stderr
        assert servers_of(project) == []
        assert not is_listening("127.0.0.1", project.port)
        assert not (project.state_dir / "native" / "mysqld.pid").exists()

    def test_no_early_start_while_another_command_holds_the_project(self, stopped):
        project = stopped
        state = StateDir(project.state_dir)
        with state.lock():
            command = subprocess.Popen([sys.executable, "-m", "provision", "up", "--debug"], cwd=project.path,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            with pytest.raises(subprocess.TimeoutExpired):
                command.wait(2)  # it waits for the lock, and started nothing meanwhile
            assert servers_of(project) == []
        out, err = command.communicate(timeout=120)
        assert command.returncode == 0, err
        assert EARLY not in err and "(started)" in out
        assert len(servers_of(project)) == 1

    def test_two_ups_at_once_start_one_server(self, stopped):
        project = stopped
        commands = [subprocess.Popen([sys.executable, "-m", "provision", "up", "--json"], cwd=project.path,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outputs = [command.communicate(timeout=120) for command in commands]
        assert [command.returncode for command in commands] == [0, 0], outputs
        actions = sorted(json.loads(out)["server_action"] for out, _ in outputs)
        assert actions == ["already running", "started"]
        pid = int((project.state_dir / "native" / "mysqld.pid").read_text())
        assert alive(pid) and servers_of(project) == [pid]
