"""The hosts the app user is created for follow how the server names this client."""
import pytest

from provision.bootstrap import app_hosts
from provision.probe import ServerInfo


def info(client_host: str, skip_name_resolve: bool) -> ServerInfo:
    return ServerInfo(version="10.11.6-MariaDB", flavor="mariadb", version_tuple=(10, 11, 6),
                      client_host=client_host, skip_name_resolve=skip_name_resolve)


@pytest.mark.parametrize("seen, skip, hosts", [
    ("127.0.0.1", True, ("127.0.0.1", "localhost")),   # TCP with skip-name-resolve (our native servers)
    ("localhost", False, ("localhost",)),              # TCP resolved to localhost (the seed's brew MySQL)
    ("localhost", True, ("127.0.0.1", "localhost")),   # admin over the socket, app over TCP as the bare IP
    ("::1", True, ("::1", "localhost")),
    ("172.17.0.1", True, ("%",)),                      # Docker's bridge gateway
    ("10.1.2.3", False, ("%",)),                       # a remote client of a shared server
])
def test_hosts(seen, skip, hosts):
    assert app_hosts(info(seen, skip)) == hosts
