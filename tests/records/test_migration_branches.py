"""Revisions written side by side after the same parent (this outbox's ``0002_outbox``, followed by
``0003_outbox_choices``, and another part's ``0002``) are all applied, in any merge order; the
outbox's tables come with them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import inspect

from records import migrate as migrations
from records.db import create_engine

BRANCH = """
import sqlalchemy as sa
from alembic import op

revision = "0002_probe"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("branch_probe", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("branch_probe")
"""


async def test_every_branch_is_applied_and_a_second_run_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripts = tmp_path / "migrations"
    shutil.copytree(migrations.MIGRATIONS, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "versions" / "0002_probe.py").write_text(BRANCH, encoding="utf-8")
    monkeypatch.setattr(migrations, "MIGRATIONS", scripts)
    heads = migrations.head_revision()
    assert {"0003_outbox_choices", "0002_probe"} <= set(heads)  # other parts' branches may stand beside them
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'records.sqlite3'}")
    try:
        assert await migrations.current_revision(engine) == ()
        await migrations.migrate(engine)
        await migrations.migrate(engine)
        assert await migrations.current_revision(engine) == heads
        async with engine.connect() as connection:
            tables = set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
        outbox = {"outbox_messages", "outbox_attempts", "notification_choices", "short_links"}
        assert {"branch_probe", *outbox} <= tables
    finally:
        await engine.dispose()
