"""Small helpers for integration tests: log in with a URL, read the .env a run wrote."""
from __future__ import annotations

import json
from pathlib import Path

from dotenv import dotenv_values

from provision.probe import connect
from provision.url import parse


def env_url(env_file: Path, key: str = "DATABASE_URL") -> str:
    return dotenv_values(env_file, interpolate=False)[key]


def login(url_text: str, **kwargs):
    """Connect exactly as an app would from the URL text."""
    return connect(parse(url_text), tls=False, **kwargs)


def query(url_text: str, sql: str, params=None):
    conn = login(url_text)
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    finally:
        conn.close()


def json_out(result) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
