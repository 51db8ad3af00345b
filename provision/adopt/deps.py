"""provision as the app's dev dependency, written in the form the app already uses.

provision is not on PyPI, so the requirement is a direct reference: by default the
place the running provision was installed from (its PEP 610 ``direct_url.json``: a git
URL and commit, or a local checkout), or ``--source`` (a git URL, a path, or a
requirement such as ``provision>=0.1`` once there is an index that has it).
"""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from ..errors import InitError
from . import tomlfile
from .changes import append_block, line_ending

NAME = "provision"
_NAME_IN_REQUIREMENTS = re.compile(r"^\s*(?:-e\s+)?(?:provision\b|\S*[#&]egg=provision\b)", re.I | re.M)
_SOURCE_HINT = ("pass --source git+https://HOST/OWNER/provision.git@REV (a git URL everyone can clone), "
                "--source PATH (a checkout of provision), or --source 'provision>=0.1' (from an index)")


@dataclass(frozen=True)
class Source:
    kind: str          # git, path or index
    location: str      # git URL without the rev, absolute path, or the requirement itself
    rev: str | None = None
    evidence: str = ""

    @property
    def requirement(self) -> str:
        """The PEP 508 line for requirements files, [dependency-groups] and extras."""
        if self.kind == "git":
            return f"{NAME} @ git+{self.location}" + (f"@{self.rev}" if self.rev else "")
        if self.kind == "path":
            return f"{NAME} @ {Path(self.location).as_uri()}"
        return self.location

    def toml_value(self, style: str):
        """poetry's and pipenv's own spelling of the same source."""
        if self.kind == "git":
            value = {"git": self.location}
            if self.rev:
                value["rev" if style == "poetry" else "ref"] = self.rev
            return value
        if self.kind == "path":
            return {"path": self.location, ("develop" if style == "poetry" else "editable"): True}
        spec = self.location[len(NAME):].strip()
        return spec or "*"

    @property
    def is_local(self) -> bool:
        return self.kind == "path"


def parse_source(text: str, base: Path) -> Source:
    """--source: a git URL, a path to a provision checkout, or a requirement naming provision."""
    text = text.strip()
    if text.startswith("git+"):
        url = text[len("git+"):]
        parts = urlsplit(url)
        if not parts.scheme or not (parts.netloc or parts.scheme == "file"):
            raise InitError(f"cannot read the git URL {text!r}", _SOURCE_HINT)
        rev = None
        if "@" in parts.path:
            path, rev = parts.path.rsplit("@", 1)
            url = parts._replace(path=path).geturl()
        return Source("git", url, rev or None, "--source")
    if text.startswith("file://"):
        text = url2pathname(urlsplit(text).path)
    if text.startswith((".", "/", "~")) or Path(text).exists():
        path = (base / Path(text).expanduser()).resolve()
        if not (path / "pyproject.toml").is_file():
            raise InitError(f"{path} is not a checkout of provision (it has no pyproject.toml)", _SOURCE_HINT)
        return Source("path", str(path), None, "--source")
    try:
        from packaging.requirements import InvalidRequirement, Requirement
    except ModuleNotFoundError:  # packaging comes with pip and setuptools; be plain without it
        if not re.fullmatch(r"provision\s*([<>=!~].*)?", text):
            raise InitError(f"--source {text!r} is not a requirement for provision", _SOURCE_HINT) from None
        return Source("index", text, None, "--source")
    try:
        requirement = Requirement(text)
    except InvalidRequirement as exc:
        raise InitError(f"--source {text!r} is not a git URL, a path or a requirement: {exc}", _SOURCE_HINT) from None
    if requirement.name.lower() != NAME:
        raise InitError(f"--source {text!r} names {requirement.name!r}, not provision", _SOURCE_HINT)
    return Source("index", text, None, "--source")


def installed_source() -> Source:
    """Where the running provision came from (pip's direct_url.json), so the app gets the same."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        raw = distribution(NAME).read_text("direct_url.json")
    except PackageNotFoundError:
        raw = None
    if not raw:
        return Source("index", NAME, None, "provision was installed from an index")
    info = json.loads(raw)
    url = info.get("url", "")
    if "vcs_info" in info:
        return Source("git", url, info["vcs_info"].get("commit_id"), "the git URL provision was installed from")
    if url.startswith("file://"):
        path = url2pathname(urlsplit(url).path)
        return Source("path", path, None, "the checkout provision was installed from")
    return Source("index", NAME, None, f"provision was installed from {url}")


# --- the edit, per form ------------------------------------------------------------------------
def add_requirement(form: str, key: str | None, text: str, source: Source, note: str | None = None) -> str:
    """``text`` (the deps file, "" when new) with provision added; unchanged when it is already there.
    ``note``: a comment line above a requirements-file entry."""
    if form == "requirements":
        if _NAME_IN_REQUIREMENTS.search(text):
            return text
        block = "" if text else "# development tools (make dev-db runs provision from here)\n"
        block += f"# {note}\n" if note else ""
        eol = line_ending(text)
        if text and not text.endswith("\n"):
            text += eol
        return text + (block + source.requirement + "\n").replace("\n", eol)
    if form in ("dependency-groups", "optional-dependencies"):
        path = ("dependency-groups", key) if form == "dependency-groups" else ("project", "optional-dependencies", key)
        return _add_to_array(text, path, source.requirement, "pyproject.toml")
    if form == "poetry":
        path = ("tool", "poetry", "group", key, "dependencies") if key else ("tool", "poetry", "dev-dependencies")
        return _add_to_table(text, path, source.toml_value("poetry"), "pyproject.toml")
    if form == "pipfile":
        return _add_to_table(text, ("dev-packages",), source.toml_value("pipenv"), "Pipfile")
    raise ValueError(form)


def _add_to_array(text: str, path: tuple[str, ...], requirement: str, relative: str) -> str:
    old = tomlfile.loads(text, relative)
    array = tomlfile.get(old, path)
    if array is not None and any(_names_provision(item) for item in array):
        return text
    if array is None and tomlfile.get(old, path[:-1]) is None:
        header = ".".join(tomlfile.key(part) for part in path[:-1])
        new_text = append_block(text, f"[{header}]\n{tomlfile.key(path[-1])} = [{tomlfile.value(requirement)}]\n")
    else:
        doc = tomlfile.tomlkit().parse(text)
        table = doc
        for part in path[:-1]:
            table = table[part]
        if path[-1] in table:
            table[path[-1]].append(requirement)
        else:
            table[path[-1]] = [requirement]
        new_text = tomlfile.tomlkit().dumps(doc)
    expected = copy.deepcopy(old)
    tomlfile.get(expected, path[:-1], create=True).setdefault(path[-1], []).append(requirement)
    tomlfile.check(new_text, expected, relative)
    return new_text


def _add_to_table(text: str, path: tuple[str, ...], value, relative: str) -> str:
    old = tomlfile.loads(text, relative)
    table = tomlfile.get(old, path)
    if table is not None and any(name.lower() == NAME for name in table):
        return text
    if table is None:
        header = ".".join(tomlfile.key(part) for part in path)
        new_text = append_block(text, f"[{header}]\n{NAME} = {tomlfile.value(value)}\n")
    else:
        doc = tomlfile.tomlkit().parse(text)
        node = doc
        for part in path:
            node = node[part]
        node[NAME] = tomlfile.inline(value)
        new_text = tomlfile.tomlkit().dumps(doc)
    expected = copy.deepcopy(old)
    tomlfile.get(expected, path, create=True)[NAME] = value
    tomlfile.check(new_text, expected, relative)
    return new_text


def _names_provision(item) -> bool:
    return isinstance(item, str) and re.match(r"\s*provision\b(?![-_.\w])", item, re.I) is not None
