"""login_attempt: the client address of each failed login

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 01:00:00+00:00

Expand only: the column has a server default, so the previous release (which writes
attempts without an address) keeps working.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the client address (rows of older releases get an empty one) and its index."""
    with op.batch_alter_table("login_attempt") as batch:
        batch.add_column(
            sa.Column("client_address", sa.String(64), nullable=False, server_default="")
        )
    op.create_index(
        op.f("ix_login_attempt_client_address_attempted_at"),
        "login_attempt",
        ["client_address", "attempted_at"],
    )


def downgrade() -> None:
    """Drop the index and the column."""
    op.drop_index(op.f("ix_login_attempt_client_address_attempted_at"), table_name="login_attempt")
    with op.batch_alter_table("login_attempt") as batch:
        batch.drop_column("client_address")
