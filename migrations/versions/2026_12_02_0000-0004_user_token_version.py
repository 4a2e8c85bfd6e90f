"""app_user.token_version: revoke a user's outstanding access tokens

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 00:00:00+00:00

Expand only: a new column with a server default, so the previous release (which
neither reads nor writes it) keeps inserting and reading users.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the token version of every user, 0 for existing ones."""
    with op.batch_alter_table("app_user") as batch:
        batch.add_column(
            sa.Column("token_version", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    """Drop the token version."""
    with op.batch_alter_table("app_user") as batch:
        batch.drop_column("token_version")
