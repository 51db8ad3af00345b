"""Build, parse and redact MySQL URLs (the app's DATABASE_URL and admin URLs).

User and password are percent-quoted with ``safe=""`` so any byte survives the
round trip; ``parse_url(build_url(...))`` gives back the exact login.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from .errors import ConfigError

SCHEMES = {"mysql": "mysql", "mysql+pymysql": "pymysql", "mariadb": "mysql", "mariadb+pymysql": "pymysql"}


@dataclass(frozen=True)
class DatabaseURL:
    """A parsed mysql:// URL: everything needed to open a connection."""

    scheme: str = "mysql"
    user: str = ""
    password: str = ""
    host: str = "127.0.0.1"
    port: int = 3306
    database: str = ""
    query: tuple[tuple[str, str], ...] = field(default=())

    @property
    def params(self) -> dict[str, str]:
        return dict(self.query)

    def __str__(self) -> str:
        return build(self)

    def redacted(self) -> str:
        return build(replace(self, password="***")) if self.password else build(self)

    def connect_kwargs(self) -> dict:
        """Keyword arguments for pymysql.connect that reproduce this URL's login."""
        kwargs: dict = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
        }
        if self.database:
            kwargs["database"] = self.database
        params = self.params
        if "charset" in params:
            kwargs["charset"] = params["charset"]
        if "unix_socket" in params:
            kwargs["unix_socket"] = params["unix_socket"]
        return kwargs


class URLString(str):
    """A database URL that is a ``str`` and still offers its parsed parts.

    Whatever takes a URL string takes it as it is: ``sqlalchemy.create_engine(url)``,
    ``os.environ["DATABASE_URL"] = url``, ``urllib.parse.urlsplit(url)``, an f-string.
    The parts (``scheme``, ``user``, ``password``, ``host``, ``port``, ``database``,
    ``params``) and ``redacted()`` come from ``parsed``, the ``DatabaseURL``. Its ``repr``
    hides the password (pytest prints reprs); ``str(url)`` is the full URL.
    """

    parsed: DatabaseURL

    def __new__(cls, url: "DatabaseURL | str") -> "URLString":
        parsed_url = url if isinstance(url, DatabaseURL) else parse(url)
        self = super().__new__(cls, build(parsed_url))
        self.parsed = parsed_url
        return self

    def __repr__(self) -> str:
        return f"URLString({self.redacted()!r})"

    def __str__(self) -> str:
        return str.__str__(self)

    def __reduce__(self):  # pickling (xdist, multiprocessing) rebuilds it from the text
        return URLString, (str(self),)

    scheme = property(lambda self: self.parsed.scheme)
    user = property(lambda self: self.parsed.user)
    password = property(lambda self: self.parsed.password)
    host = property(lambda self: self.parsed.host)
    port = property(lambda self: self.parsed.port)
    database = property(lambda self: self.parsed.database)
    query = property(lambda self: self.parsed.query)
    params = property(lambda self: self.parsed.params)

    def redacted(self) -> str:
        return self.parsed.redacted()

    def connect_kwargs(self) -> dict:
        return self.parsed.connect_kwargs()


def parsed(url: "DatabaseURL | URLString | str") -> DatabaseURL:
    """The ``DatabaseURL`` of any of the three forms a URL travels in."""
    if isinstance(url, DatabaseURL):
        return url
    return url.parsed if isinstance(url, URLString) else parse(url)


def build(url: DatabaseURL) -> str:
    user = quote(url.user, safe="")
    password = quote(url.password, safe="")
    host = f"[{url.host}]" if ":" in url.host else url.host
    text = f"{url.scheme}://{user}:{password}@{host}:{url.port}/{url.database}"
    if url.query:
        text += "?" + urlencode(url.query, safe="/")
    return text


def app_url(*, driver_scheme: str, user: str, password: str, host: str, port: int, database: str) -> DatabaseURL:
    return DatabaseURL(
        scheme=driver_scheme,
        user=user,
        password=password,
        host=host,
        port=port,
        database=database,
        query=(("charset", "utf8mb4"),),
    )


def parse(text: str) -> DatabaseURL:
    """Parse a mysql:// URL; raise ConfigError naming what is wrong."""
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"cannot parse URL {redact(text)!r}: {exc}", _URL_HINT) from None
    if parts.scheme not in SCHEMES:
        raise ConfigError(f"unsupported URL scheme {parts.scheme!r} in {redact(text)!r}", _URL_HINT)
    if not parts.hostname:
        raise ConfigError(f"URL {redact(text)!r} names no host", _URL_HINT)
    return DatabaseURL(
        scheme=parts.scheme,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        host=parts.hostname,
        port=port or 3306,
        database=unquote(parts.path.lstrip("/")),
        query=tuple(parse_qsl(parts.query, keep_blank_values=True)),
    )


def redact(text: str) -> str:
    """The URL with its password replaced by ***; unparseable text is hidden whole."""
    try:
        parts = urlsplit(text)
        if parts.password:
            netloc = parts.netloc.replace(":" + parts.password + "@", ":***@", 1)
            return parts._replace(netloc=netloc).geturl()
        return text
    except ValueError:
        return "<unparseable URL>"


_URL_HINT = "write it as mysql://USER:PASSWORD@HOST:PORT/ (for example mysql://root:@127.0.0.1:3306/)"
