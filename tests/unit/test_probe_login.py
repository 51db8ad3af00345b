"""probe.login: the one "log in or explain" rule (a real refused TCP connect, no server needed)."""
import socket

import pytest

from provision.errors import ServerError
from provision.probe import Server, login
from provision.url import parse


def _closed_port() -> int:
    with socket.socket() as sock:  # bound, never listening: a connect is refused at once
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_refused_login_says_what_was_tried_and_the_fix():
    url = parse(f"mysql://root@127.0.0.1:{_closed_port()}/")
    with pytest.raises(ServerError) as caught:
        login(url, "reap", database=None, timeout=2)
    assert caught.value.message.startswith(f"reap: no MySQL server answered on 127.0.0.1:{url.port}")
    assert "--port" in caught.value.hint
    assert caught.value.__cause__ is not None  # the driver's error stays attached for --debug


def test_hint_replaces_and_also_appends():
    server = Server.from_url(parse(f"mysql://root@127.0.0.1:{_closed_port()}/"), local=True)
    with pytest.raises(ServerError) as replaced:
        login(server, "the project's docker server", hint="start it with provision up", timeout=2)
    assert replaced.value.hint == "start it with provision up"
    with pytest.raises(ServerError) as appended:
        login(server, "existing server", also="pass --server-url", timeout=2)
    assert appended.value.hint.endswith("; pass --server-url")
    assert appended.value.hint != "; pass --server-url"
