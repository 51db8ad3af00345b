"""Pins in the app's requirements that provision's own dependencies exclude.

An old app's frozen requirements can rule provision out of its environment: the OK
server's Flask 1.1 era pins click 7, provision's CLI (typer) needs click >= 8.2. pip
would install one and break the other, so init says so before anyone finds out.
Read from the installed provision's metadata (its dependency tree as installed here).
"""
from __future__ import annotations

import re
from pathlib import Path

_OPTION = re.compile(r"^\s*(?:-|#|$)")


def excluded_pins(project_dir: Path, files: list[str]) -> list[str]:
    """One line per app pin (``name==version``) that a requirement in provision's tree excludes."""
    try:
        from packaging.requirements import InvalidRequirement, Requirement
        from packaging.utils import canonicalize_name
    except ModuleNotFoundError:  # packaging comes with pip; without it there is nothing to compare with
        return []
    needs = _tree("provision", Requirement, canonicalize_name)
    found: list[str] = []
    for name in files:
        try:
            text = (project_dir / name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for line in text.splitlines():
            if _OPTION.match(line):
                continue
            try:
                pin = Requirement(line.split(" #", 1)[0].strip())
            except InvalidRequirement:
                continue
            versions = [spec.version for spec in pin.specifier if spec.operator == "=="]
            for requirement, via in needs.get(canonicalize_name(pin.name), []):
                if versions and not requirement.specifier.contains(versions[0], prereleases=True):
                    found.append(f"{name} pins {pin.name}=={versions[0]}, provision needs "
                                 f"{requirement.name}{requirement.specifier} (through {via})")
    return found


def _tree(root: str, Requirement, canonicalize_name) -> dict[str, list]:
    """{package: [(requirement, the package that asks for it)]} over the installed dependency tree."""
    from importlib.metadata import PackageNotFoundError, requires

    needs: dict[str, list] = {}
    seen: set[str] = set()
    todo = [root]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            lines = requires(name) or []
        except PackageNotFoundError:
            continue
        for line in lines:
            requirement = Requirement(line)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue
            key = canonicalize_name(requirement.name)
            needs.setdefault(key, []).append((requirement, name))
            todo.append(requirement.name)
    return needs
