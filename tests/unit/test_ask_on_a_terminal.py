"""`make dev-db` on a terminal, with no server anywhere: it asks before running the package
manager (issue 9). The real CLI on a real pseudo-terminal; the answer is no, so nothing runs."""
from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

from ..conftest import require


def run_on_a_terminal(args, cwd, env, answer: bytes, timeout: float = 60) -> tuple[int, str]:
    main, child = pty.openpty()
    process = subprocess.Popen(args, cwd=cwd, env=env, stdin=child, stdout=child, stderr=child, close_fds=True)
    os.close(child)
    seen, answered = b"", False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
            if not answered and b"Install one with" in seen and seen.rstrip().endswith(b":"):
                os.write(main, answer)
                answered = True
        elif process.poll() is not None:
            break
    os.close(main)
    return process.wait(timeout), seen.decode("utf-8", "replace")


def test_up_asks_before_installing_and_a_no_installs_nothing(tmp_path):
    require(sys.platform.startswith("linux"), "the install question names apt-get or dnf")
    empty = tmp_path / "no-server-here"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVISION_")}
    env.update(PROVISION_SERVER_SEARCH_PATH=str(empty), DOCKER_HOST="unix:///nonexistent/docker.sock",
               PROVISION_DEFAULT_PORT=str(_free_port()), TERM="dumb")
    code, output = run_on_a_terminal([sys.executable, "-m", "provision", "up"], tmp_path, env, b"n\r")
    assert "No MySQL/MariaDB server here. Install one with:" in output
    assert "install -y --no-upgrade mariadb-server" in output or "dnf install" in output
    assert "was not installed (the answer was no)" in output, output
    assert code == 3 and "installing: running" not in output
    assert not (tmp_path / ".env").exists()


def _free_port() -> int:
    from provision.ports import free_port

    return free_port()
