"""The migration workflow's commands: reset, snapshot, shell, doctor (registered on ``cli.app``)."""
from __future__ import annotations
