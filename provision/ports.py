"""Who listens on a TCP port: a clear "port 3306 is held by pid 812 (nginx)"."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path


def is_listening(host: str, port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel just handed out (for tests and throwaway servers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_holder(port: int) -> str | None:
    """'pid 812 (nginx)' for the process listening on ``port``, when it can be seen."""
    if sys.platform.startswith("linux"):
        return _linux_holder(port)
    try:
        out = subprocess.run(
            ["lsof", "-nP", f"-iTCP:{port}", "-sTCP:LISTEN", "-Fpc"],
            capture_output=True, text=True, timeout=5,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    pid = next((line[1:] for line in out.splitlines() if line.startswith("p")), None)
    name = next((line[1:] for line in out.splitlines() if line.startswith("c")), "?")
    return f"pid {pid} ({name})" if pid else None


def _linux_holder(port: int) -> str | None:
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    pid = _pid_with_socket(inodes)
    if pid is not None:
        return f"pid {pid} ({process_name(pid)})"
    return "a process this user cannot see (another user's, or in a container)"


def holder_pid(port: int) -> int | None:
    """The pid listening on ``port`` (Linux, when this user can see it), else None."""
    if not sys.platform.startswith("linux"):
        return None
    inodes = _listening_inodes(port)
    return _pid_with_socket(inodes) if inodes else None


def process_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def unix_sockets_of(pid: int) -> list[str]:
    """The listening Unix socket paths a process holds (Linux; empty when not visible: another
    user's process)."""
    try:
        inodes = {os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()}
    except OSError:
        return []
    return [path for inode, path in _listening_unix_sockets() if f"socket:[{inode}]" in inodes]


def listening_unix_sockets(names: tuple[str, ...]) -> list[str]:
    """Every listening Unix socket path on this machine whose file name is one of ``names``
    (Linux's /proc/net/unix, readable by every user)."""
    return [path for _, path in _listening_unix_sockets() if Path(path).name in names]


def _listening_unix_sockets() -> list[tuple[str, str]]:
    try:
        lines = Path("/proc/net/unix").read_text().splitlines()[1:]
    except OSError:
        return []
    found = []
    for line in lines:
        fields = line.split()
        # Flags 00010000: listening; a path, not an abstract name (@...)
        if len(fields) >= 8 and fields[3] == "00010000" and fields[7].startswith("/"):
            found.append((fields[6], fields[7]))
    return found


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A = LISTEN
                inodes.add(f"socket:[{inode}]")
    return inodes


def _pid_with_socket(inodes: set[str]) -> int | None:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    return int(entry.name)
        except OSError:
            continue
    return None
