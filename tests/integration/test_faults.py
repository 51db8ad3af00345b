"""Bad input and faults: a clear error, a non-zero exit, no traceback, nothing changed or lost."""
from __future__ import annotations

import os
import socket

import pytest

from provision.ports import free_port

pytestmark = [pytest.mark.mysql]


def assert_clean_failure(result, code: int, *needles: str) -> None:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert "error: " in result.stderr and "\nhint: " in result.stderr, result.stderr
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)


class TestInvalidNames:
    @pytest.mark.parametrize("option,value", [
        ("--database", "ohdevel; DROP DATABASE mysql"),
        ("--database", "a" * 65),
        ("--database", "oh`devel"),
        ("--database", "oh'devel"),
        ("--user", "oh'dev"),
        ("--user", "u" * 33),
        ("--collation", "utf8mb4_bin; DROP USER root"),
    ])
    def test_rejected_before_anything_is_touched(self, project, option, value):
        result = project.cli(*project.up_args(option, value))
        assert_clean_failure(result, 2, "invalid")
        assert not project.state_dir.exists() and not project.env_file.exists()


class TestUnreachable:
    def test_server_url_nobody_listens_on(self, project):
        url = f"mysql://root:@127.0.0.1:{free_port()}/"
        result = project.cli("up", "--backend", "existing", "--server-url", url)
        assert_clean_failure(result, 3, "no MySQL server answered")
        assert not project.env_file.exists()

    def test_wrong_admin_password(self, project, native_server):
        url = f"mysql://root:wrong@127.0.0.1:{native_server.port}/"
        result = project.cli("up", "--backend", "existing", "--server-url", url)
        assert_clean_failure(result, 3, "refused the login of 'root'")
        assert "wrong" not in result.stderr  # the password is never echoed
        assert not project.env_file.exists()

    def test_debug_shows_the_traceback(self, project):
        url = f"mysql://root:@127.0.0.1:{free_port()}/"
        result = project.cli("up", "--backend", "existing", "--server-url", url, "--debug")
        assert result.returncode != 0 and "Traceback" in result.stderr


@pytest.fixture
def squatter():
    """A process that is not MySQL holding a port (this test process itself)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    yield sock.getsockname()[1]
    sock.close()


class TestPortHeld:
    def test_native_names_the_port_and_the_holder(self, project, server_binary, squatter):
        result = project.cli("up", "--backend", "native", "--port", str(squatter))
        assert_clean_failure(result, 3, f"port {squatter}", "pid ", "--port")
        assert not (project.state_dir / "native" / "data").exists()

    def test_auto_says_it_is_not_mysql(self, project, squatter):
        result = project.cli("up", "--port", str(squatter), "--timeout", "5")
        assert_clean_failure(result, 3, f"port {squatter}", "not a MySQL server")


class TestEnvironment:
    def test_no_server_binary(self, project):
        result = project.cli(*project.up_args("--backend", "native"),
                             env={"PROVISION_SERVER_SEARCH_PATH": str(project.path / "nowhere")})
        assert_clean_failure(result, 3, "no MySQL or MariaDB server binary", "apt-get install")

    def test_auto_with_nothing_to_start_names_the_install_command(self, project):
        result = project.cli(*project.up_args(), env={"PROVISION_SERVER_SEARCH_PATH": str(project.path),
                                                      "DOCKER_HOST": f"unix://{project.path}/no-docker.sock"})
        assert_clean_failure(result, 3, "none can be started here", "apt-get install")

    def test_state_dir_not_writable(self, project):
        blocker = project.path / "a-file"
        blocker.write_text("not a directory")
        result = project.cli(*project.up_args("--state-dir", str(blocker / "state")))
        assert_clean_failure(result, 6, "not writable", "--state-dir")
        assert blocker.read_text() == "not a directory"


def our_server_processes(project) -> list[str]:
    """Processes still running our project's option file."""
    needle = str(project.state_dir / "native" / "my.cnf").encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if needle in open(f"/proc/{entry}/cmdline", "rb").read():
                    found.append(entry)
            except OSError:
                continue
    return found


class TestEnvFileProblems:
    """The database is converged, but a .env that cannot be written is reported and left as it was;
    the server it started is recorded, so destroy still stops it."""

    def test_env_is_a_directory(self, project, server_binary):
        project.env_file.mkdir()
        try:
            result = project.cli(*project.up_args())
            assert_clean_failure(result, 5, "is a directory")
            assert project.env_file.is_dir() and not any(project.env_file.iterdir())
        finally:
            project.cli("destroy", "--yes")
        assert our_server_processes(project) == []

    def test_env_is_read_only(self, project, server_binary):
        project.env_file.write_text("KEEP=1\n")
        project.env_file.chmod(0o444)
        try:
            result = project.cli(*project.up_args())
            assert_clean_failure(result, 5, "read-only", "chmod u+w")
            assert project.env_file.read_text() == "KEEP=1\n"
        finally:
            project.cli("destroy", "--yes")
        assert our_server_processes(project) == []
