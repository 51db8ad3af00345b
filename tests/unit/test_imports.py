"""Imports are cheap: the CLI's help and the pytest plugin load no driver, no Docker SDK."""
import subprocess
import sys

import pytest

HEAVY = ("pymysql", "docker", "testcontainers", "sqlalchemy", "alembic")

PROGRAMS = {
    "provision --help": (
        "import sys\n"
        "sys.argv = ['provision', '--help']\n"
        "import provision.cli\n"
        "try:\n    provision.cli.app()\nexcept SystemExit:\n    pass\n"
    ),
    "import provision": "import provision\n",
    "import provision.testing.plugin": "import provision.testing.plugin\n",
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_no_heavy_imports(name):
    program = PROGRAMS[name] + f"print('LOADED:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    if "import sys" not in program:
        program = "import sys\n" + program
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    loaded = result.stdout.rsplit("LOADED:", 1)[1].strip()
    assert loaded == "", f"{name} imported {loaded}"
