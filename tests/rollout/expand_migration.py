"""The test-only expand migration of the upgrade drills, standard library only.

The local drill (tests/rollout) and the e2e workflow's second image both add it on
top of the repository's head: a nullable column and a new table, the kind of change
the previous release must keep working on. In the workflow it runs before any
dependency is installed:

    python3 tests/rollout/expand_migration.py migrations/versions
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

DRILL_REVISION = "drill_expand"
DRILL_COLUMN = "drill_note"
DRILL_TABLE = "drill_audit"

EXPAND_ONLY_MIGRATION = '''"""Test-only expand step: a nullable column and a new table.

Revision ID: {revision}
Revises: {down_revision}
"""

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{down_revision}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("task") as batch:
        batch.add_column(sa.Column("{column}", sa.Text(), nullable=True))
    op.create_table(
        "{table}",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("note", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("{table}")
    with op.batch_alter_table("task") as batch:
        batch.drop_column("{column}")
'''


def _assigned(tree: ast.Module, name: str) -> object:
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        value = getattr(node, "value", None)
        if any(isinstance(t, ast.Name) and t.id == name for t in targets) and value is not None:
            return ast.literal_eval(value)
    return None


def script_head(versions: Path) -> str:
    """The single head revision of the migration scripts in `versions` (read, not imported)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in versions.glob("*.py"):
        tree = ast.parse(script.read_text())
        revision = _assigned(tree, "revision")
        if not isinstance(revision, str):
            continue
        revisions.add(revision)
        down = _assigned(tree, "down_revision")
        if isinstance(down, str):
            parents.add(down)
        elif isinstance(down, tuple | list):
            parents |= {str(parent) for parent in down}
    heads = revisions - parents
    if len(heads) != 1:
        raise ValueError(f"expected one head in {versions}, found {sorted(heads)}")
    return heads.pop()


def write_expand_migration(versions: Path, down_revision: str | None = None) -> Path:
    """Write the expand migration on top of `down_revision` (default: the current head)."""
    text = EXPAND_ONLY_MIGRATION.format(
        revision=DRILL_REVISION,
        down_revision=down_revision or script_head(versions),
        column=DRILL_COLUMN,
        table=DRILL_TABLE,
    )
    path = versions / f"9999_{DRILL_REVISION}.py"
    path.write_text(text)
    return path


if __name__ == "__main__":
    print(write_expand_migration(Path(sys.argv[1])))
