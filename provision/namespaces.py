"""Namespaces: one database and one user per person or CI job on a shared server.

``--namespace alice`` turns the database ``ohdevel`` into ``ohdevel_alice`` and the user
``ohdev`` into ``ohdev_alice``; the user's grants are ``ohdevel\\_alice`` and
``ohdevel\\_alice\\_%`` (test databases), nothing else.

A namespace is lowercase letters and digits only. That is what makes the grants
isolating: in a GRANT target ``_`` and ``%`` are LIKE wildcards, and even escaped, the
pattern ``ohdevel\\_alice\\_%`` would match the databases of a namespace ``alice_x``
(``ohdevel_alice_x``) if one could exist. Without ``_`` in namespaces, the character
after ``ohdevel_alice`` is either nothing or the ``_`` of alice's own test databases;
``ohdevel_alice2`` and ``ohdevel_bob`` never match.

``auto`` is the CI job's id where a CI names one, else the OS user plus a short id of
this machine. Nothing here reads the environment at import time.
"""
from __future__ import annotations

import getpass
import hashlib
import os
import re
import socket
from typing import Mapping

from .errors import ConfigError
from .names import validate_database, validate_user

MAX_LENGTH = 20  # ohdev_ + 20 < 32 (a MySQL user name); ohdevel_ + 20 + a test suffix < 64 (a database)
_NAMESPACE = re.compile(rf"[a-z0-9]{{1,{MAX_LENGTH}}}")
# a test database of the namespace is <database>_t_<host>_<worker>_<pid>_<random>: keep room for it
TEST_SUFFIX_ROOM = 28


def _short_hash(*parts: str, length: int = 4) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:length]


def _clean(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def ci_namespace(environ: Mapping[str, str]) -> str | None:
    """The job's namespace from its CI's documented variables, or None off CI.

    GitHub Actions: GITHUB_RUN_ID + GITHUB_RUN_ATTEMPT, and a hash of GITHUB_JOB and
    RUNNER_NAME (jobs of one run, including concurrent matrix jobs on different runners);
    GitLab: CI_JOB_ID; Jenkins: BUILD_NUMBER and a hash of JOB_NAME (BUILD_TAG);
    Buildkite: BUILDKITE_JOB_ID (a UUID).
    """
    if environ.get("GITHUB_ACTIONS") == "true" and environ.get("GITHUB_RUN_ID"):
        job = _short_hash(environ.get("GITHUB_JOB", ""), environ.get("RUNNER_NAME", ""))
        return f"gh{_clean(environ['GITHUB_RUN_ID'])}a{_clean(environ.get('GITHUB_RUN_ATTEMPT', '1'))}{job}"
    if environ.get("GITLAB_CI") == "true" and environ.get("CI_JOB_ID"):
        return f"gl{_clean(environ['CI_JOB_ID'])}"
    if environ.get("JENKINS_URL") and environ.get("BUILD_NUMBER"):
        tag = environ.get("BUILD_TAG") or environ.get("JOB_NAME", "")
        return f"jk{_clean(environ['BUILD_NUMBER'])}{_short_hash(tag)}"
    if environ.get("BUILDKITE") == "true" and environ.get("BUILDKITE_JOB_ID"):
        return f"bk{_clean(environ['BUILDKITE_JOB_ID'])[:12]}"
    return None


def host_id() -> str:
    """4 hex digits naming this machine (its hostname)."""
    return _short_hash(socket.gethostname())


def laptop_namespace() -> str:
    user = _clean(getpass.getuser()) or "user"
    return f"{user[:MAX_LENGTH - 4]}{host_id()}"


def resolve(namespace: str, environ: Mapping[str, str] | None = None) -> str:
    """``auto`` -> the CI job's or this user's namespace; any other name is validated."""
    if namespace == "auto":
        environ = os.environ if environ is None else environ
        found = ci_namespace(environ) or laptop_namespace()
        return validate(found[:MAX_LENGTH])
    return validate(namespace)


def validate(namespace: str) -> str:
    if not _NAMESPACE.fullmatch(namespace or ""):
        shown = namespace if len(namespace or "") <= 40 else namespace[:37] + "..."
        raise ConfigError(
            f"invalid namespace {shown!r}",
            f"use 1 to {MAX_LENGTH} lowercase letters and digits (no '_': it is a wildcard in grants), "
            "for example --namespace alice, or --namespace auto",
        )
    return namespace


def apply(database: str, user: str, namespace: str) -> tuple[str, str]:
    """The namespaced database and user names, validated against the servers' limits."""
    database_name, user_name = f"{database}_{namespace}", f"{user}_{namespace}"
    if len(database_name) + TEST_SUFFIX_ROOM > 64:
        raise ConfigError(
            f"database name {database_name!r} is too long for a namespace ({len(database_name)} characters)",
            f"its test databases add {TEST_SUFFIX_ROOM} characters and MySQL allows 64: "
            "use a shorter --database or --namespace",
        )
    if len(user_name) > 32:
        raise ConfigError(
            f"user name {user_name!r} is too long ({len(user_name)} characters; MySQL allows 32)",
            "use a shorter --user or --namespace",
        )
    return validate_database(database_name), validate_user(user_name)
