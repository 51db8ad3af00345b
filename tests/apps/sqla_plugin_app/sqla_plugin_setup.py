"""SQLAlchemy's pytest plugin, as a dialect's conftest.py would load it."""
import pytest

pytest.register_assert_rewrite("sqlalchemy.testing.assertions")
from sqlalchemy.testing.plugin.pytestplugin import *  # noqa: E402,F401,F403
