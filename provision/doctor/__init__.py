"""``provision doctor``: checks that return findings (findings.py) about the server and the
.env URL (checks.py), the app's Alembic migrations (alembic.py) and metadata locks (locks.py)."""
from __future__ import annotations

from .checks import doctor
from .locks import kill_blockers

__all__ = ["doctor", "kill_blockers"]
