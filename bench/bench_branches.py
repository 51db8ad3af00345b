"""Branch databases: a switch against a snapshot restore and re-running the migrations.

    python bench/bench_branches.py [--sizes 20,500] [--repeat 5] [--quick]

One throwaway native MariaDB server (the one test suites use), one project on it (existing
backend), a real Alembic app: a1 creates ``item`` and ``tag``, b2 adds a column with an index
(a typical migration). For each size (MB of rows in ``item``):

- first copy: ``git checkout -b feature`` with the hook installed (copies master's database)
- switch: master <-> feature, both with all their rows (median of --repeat, each way), in-process;
  and ``git checkout`` with the hook, the developer's wait, next to the same checkout without it
- snapshot restore: ``provision snapshot restore`` of the same database (median of up to 3)
- re-run migrations: what a one-database workflow does instead: ``alembic downgrade a1`` then
  ``alembic upgrade head`` (the commands, as typed)

--quick (or PROVISION_BENCH_QUICK=1): 2 MB and 20 MB, fewer repeats; a smoke run.
Written to bench/results/bench_branches.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
sys.path.insert(0, str(REPO))

ROW_BYTES = 165  # item's rows: data + index length per row on MariaDB 10.11 (InnoDB), measured
ALEMBIC_INI = "[alembic]\nscript_location = %(here)s/migrations\n"
ENV_PY = '''\
import os
from alembic import context
from sqlalchemy import create_engine, pool

engine = create_engine(os.environ["DATABASE_URL"], poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
'''
A1 = '''\
from alembic import op
import sqlalchemy as sa
revision = "a1"
down_revision = None


def upgrade():
    op.create_table("item", sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.String(64)),
                    sa.Column("body", sa.String(200)), sa.Column("score", sa.Integer, index=True))
    op.create_table("tag", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("item_id", sa.Integer, sa.ForeignKey("item.id")), sa.Column("label", sa.String(32)))


def downgrade():
    op.drop_table("tag")
    op.drop_table("item")
'''
B2 = '''\
from alembic import op
import sqlalchemy as sa
revision = "b2"
down_revision = "a1"


def upgrade():
    op.add_column("item", sa.Column("rank", sa.Integer, nullable=False, server_default="0"))
    op.create_index("ix_item_rank", "item", ["rank"])


def downgrade():
    op.drop_index("ix_item_rank", "item")
    op.drop_column("item", "rank")
'''


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def run(argv, cwd, env) -> None:
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{argv} failed:\n{result.stdout}\n{result.stderr}")


def bench_size(server, megabytes: float, repeat: int, workdir: Path) -> dict:
    from provision import api, branches
    from provision.config import load_settings
    from provision.project import open_project

    app = workdir / f"app_{megabytes:g}mb"
    (app / "migrations" / "versions").mkdir(parents=True)
    (app / "alembic.ini").write_text(ALEMBIC_INI)
    (app / "migrations" / "env.py").write_text(ENV_PY)
    (app / "migrations" / "versions" / "a1.py").write_text(A1)
    settings = load_settings({"project_dir": app, "backend": "existing", "server_url": server.url,
                              "database": "bench", "user": "bench", "driver": "pymysql"}, environ={})
    api.up(settings)
    # the hook's python as installed elsewhere: with its bytecode cache (this machine sets
    # PYTHONDONTWRITEBYTECODE, which makes every hook run compile provision again: +0.2 s)
    env = {**{k: v for k, v in os.environ.items()
              if not k.startswith("PROVISION_") and k != "PYTHONDONTWRITEBYTECODE"},
           "PYTHONPYCACHEPREFIX": str(workdir / "pycache"),
           "DATABASE_URL": str(api.current_url(settings)),
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    alembic = [str(Path(sys.executable).parent / "alembic")]
    run([*alembic, "upgrade", "head"], app, env)
    rows = max(int(megabytes * 1e6 / ROW_BYTES), 1000)
    conn = server.connect(database="bench")
    with conn.cursor() as cursor:
        cursor.execute("INSERT INTO item (id, name, body, score) SELECT seq, CONCAT('item ', seq), "
                       "REPEAT('x', 80), MOD(seq, 997) FROM seq_1_to_%s", (rows,))
        cursor.execute("INSERT INTO tag (item_id, label) SELECT id, 't' FROM item WHERE id <= 10000")
        cursor.execute("ANALYZE TABLE item, tag")
        cursor.fetchall()
        cursor.execute("SELECT SUM(DATA_LENGTH + INDEX_LENGTH) FROM information_schema.TABLES "
                       "WHERE TABLE_SCHEMA = 'bench'")
        size = int(cursor.fetchone()[0])
    conn.close()

    project = open_project(settings)
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    (app / ".gitignore").write_text(".devdb/\n.env\n__pycache__/\n")
    run([*git, "init", "-q", "-b", "master"], app, env)
    run([*git, "add", "-A"], app, env)
    run([*git, "commit", "-qm", "a1"], app, env)
    api.hooks_install(settings)  # the real post-checkout hook; master's tables are the live ones
    first_copy = timed(lambda: run([*git, "checkout", "-q", "-b", "feature"], app, env))
    (app / "migrations" / "versions" / "b2.py").write_text(B2)
    run([*git, "add", "-A"], app, env)
    run([*git, "commit", "-qm", "b2"], app, env)
    run([*alembic, "upgrade", "head"], app, env)  # feature is at b2, master at a1

    checkouts = []  # what the developer waits for: git checkout with the hook (python, login, switch, check)
    for _ in range(repeat):
        checkouts.append(timed(lambda: run([*git, "checkout", "-q", "master"], app, env)))
        checkouts.append(timed(lambda: run([*git, "checkout", "-q", "feature"], app, env)))
    plain = []  # the same checkouts without the hook
    for _ in range(repeat):
        plain.append(timed(lambda: run([*git, "-c", "core.hooksPath=/dev/null", "checkout", "-q", "master"], app,
                                       env)))
        plain.append(timed(lambda: run([*git, "-c", "core.hooksPath=/dev/null", "checkout", "-q", "feature"], app,
                                       env)))
    switches = []  # the switch itself, in-process
    with project.admin() as admin:
        for _ in range(repeat):
            switches.append(timed(lambda: branches.switch(project, admin, "master")))
            switches.append(timed(lambda: branches.switch(project, admin, "feature")))
        branches.switch(project, admin, "master")
    api.snapshot_save("master", settings)
    restores = [timed(lambda: api.snapshot_restore("master", settings)) for _ in range(min(repeat, 3))]
    with project.admin() as admin:
        branches.switch(project, admin, "feature")
    migrations = [timed(lambda: (run([*alembic, "downgrade", "a1"], app, env),
                                 run([*alembic, "upgrade", "head"], app, env)))
                  for _ in range(min(repeat, 2))]
    with project.admin() as admin:
        branches.drop_all(project.state.path, project.database, admin)
    return {"megabytes": round(size / 1e6, 1), "rows": rows, "first_copy_s": first_copy,
            "switch_s": statistics.median(switches), "switch_max_s": max(switches),
            "checkout_s": statistics.median(checkouts), "plain_checkout_s": statistics.median(plain),
            "restore_s": statistics.median(restores), "migrations_s": statistics.median(migrations)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20,500", help="MB of rows, comma separated [20,500]")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", default=os.environ.get("PROVISION_BENCH_QUICK") == "1")
    args = parser.parse_args()
    sizes = [2.0, 20.0] if args.quick else [float(s) for s in args.sizes.split(",")]
    repeat = 2 if args.quick else args.repeat

    from provision.testing.servers import ephemeral_server

    results = []
    with tempfile.TemporaryDirectory(prefix="bench-branches-") as tmp, ephemeral_server("native") as server:
        conn = server.connect()
        with conn.cursor() as cursor:
            cursor.execute("SELECT VERSION()")
            version = cursor.fetchone()[0]
        conn.close()
        for megabytes in sizes:
            results.append(bench_size(server, megabytes, repeat, Path(tmp)))
            conn = server.connect()
            conn.cursor().execute("DROP DATABASE IF EXISTS bench")
            conn.close()
    print(f"server: MariaDB {version} (throwaway native), repeat {repeat}")
    print("| data | rows | switch (median / max) | git checkout with the hook (without) | snapshot restore "
          "| switch / restore | re-run migrations | first checkout of a new branch (copy) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        print(f"| {r['megabytes']} MB | {r['rows']} | {r['switch_s'] * 1000:.0f} / {r['switch_max_s'] * 1000:.0f} ms "
              f"| {r['checkout_s']:.2f} s ({r['plain_checkout_s']:.2f} s) | {r['restore_s']:.2f} s "
              f"| {r['switch_s'] / r['restore_s']:.3f} (target <= 0.25) "
              f"| {r['migrations_s']:.2f} s | {r['first_copy_s']:.2f} s |")
    if len(results) > 1:
        growth = results[-1]["switch_s"] / results[0]["switch_s"]
        print(f"switch at {results[-1]['megabytes']} MB / at {results[0]['megabytes']} MB: {growth:.2f} "
              f"(data x{results[-1]['megabytes'] / results[0]['megabytes']:.0f}); restore: "
              f"{results[-1]['restore_s'] / results[0]['restore_s']:.1f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_branches.json").write_text(json.dumps({"server": version, "repeat": repeat,
                                                             "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
