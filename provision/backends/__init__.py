"""The backends, by name. Imported lazily so `provision --help` stays cheap."""
from __future__ import annotations

import importlib

from ..config import Settings
from ..state import StateDir
from .base import Backend, Started

BACKENDS = {
    "native": "provision.backends.native:NativeBackend",
    "existing": "provision.backends.existing:ExistingBackend",
    "docker": "provision.backends.docker:DockerBackend",
    "brew": "provision.backends.brew:BrewBackend",
}


def get_backend(name: str, settings: Settings, state: StateDir) -> Backend:
    module_name, class_name = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)(settings, state)


__all__ = ["BACKENDS", "Backend", "Started", "get_backend"]
