"""A real MariaDB/MySQL standing for a team's shared server: our own process on a free port,
bound to 127.0.0.1, with TLS certificates of a CA made for it (``require_secure_transport``
on request), started from the throwaway servers' cached data directory.
"""
from __future__ import annotations

import datetime
import json
import shutil
import subprocess
from pathlib import Path

from provision.ports import free_port
from provision.probe import Server, wait_until_ready
from provision.url import DatabaseURL


def make_certificates(directory: Path) -> dict[str, Path]:
    """A CA and a server certificate for 127.0.0.1/localhost (cryptography, a provision dependency)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    now = datetime.datetime.now(datetime.timezone.utc)

    def name(text):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("provision test CA")).issuer_name(name("provision test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(name("127.0.0.1")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"ca": directory / "ca.pem", "cert": directory / "server-cert.pem", "key": directory / "server-key.pem"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    paths["key"].chmod(0o600)
    return paths


class TeamServer:
    """``with TeamServer(directory, binary) as server:`` a ``probe.Server`` whose admin is root."""

    def __init__(self, directory: Path, binary, *, require_tls: bool = False):
        self.directory = directory
        self.binary = binary
        self.require_tls = require_tls
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Server:
        from provision.testing.servers import cached_datadir

        cached = cached_datadir(self.binary)
        shutil.copytree(cached / "state" / "native" / "data", self.directory / "data", symlinks=True)
        password = json.loads((cached / "state" / "secrets.json").read_text())["native_root_password"]
        certs = make_certificates(self.directory / "certs")
        (self.directory / "tmp").mkdir()
        lines = ["[mysqld]", f"datadir={self.directory / 'data'}", f"port={self.port}", "bind-address=127.0.0.1",
                 f"socket={self.directory / 's.sock'}", f"pid-file={self.directory / 'mysqld.pid'}",
                 f"log-error={self.directory / 'mysqld.log'}", f"tmpdir={self.directory / 'tmp'}",
                 "skip-name-resolve", "skip-log-bin", "character-set-server=utf8mb4", "loose-mysqlx=OFF",
                 "innodb-flush-log-at-trx-commit=0", "innodb-buffer-pool-size=64M", "performance-schema=0",
                 f"ssl-ca={certs['ca']}", f"ssl-cert={certs['cert']}", f"ssl-key={certs['key']}"]
        if self.require_tls:
            lines.append("require-secure-transport=ON")
        import os

        if os.geteuid() == 0:
            lines.append("user=root")
        option_file = self.directory / "my.cnf"
        option_file.write_text("\n".join(lines) + "\n")
        log = open(self.directory / "mysqld.log", "ab")
        self.process = subprocess.Popen([str(self.binary.path), f"--defaults-file={option_file}"],
                                        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        log.close()
        admin = DatabaseURL(user="root", password=password, host="127.0.0.1", port=self.port)
        # not "local": clients negotiate TLS with it as with any shared server
        self.server = Server(admin=admin, host="127.0.0.1", port=self.port, local=False)
        try:
            wait_until_ready(self.server, timeout=60, what="team server",
                             alive=lambda: None if self.process.poll() is None else "exited",
                             log_tail=lambda: (self.directory / "mysqld.log").read_text(errors="replace")[-2000:]
                             ).close()
        except BaseException:
            self.__exit__()
            raise
        return self.server

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


def sql(server_or_url, statement: str, params=None, **kwargs):
    """Run one statement on a server (its admin login) or as the login of a URL string; its rows."""
    from provision.probe import connect
    from provision.url import parse

    conn = (connect(parse(server_or_url), **kwargs) if isinstance(server_or_url, str)
            else server_or_url.connect(**kwargs))
    try:
        with conn.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.fetchall()
    finally:
        conn.close()


def databases(server) -> set[str]:
    return {row[0] for row in sql(server, "SHOW DATABASES")}
