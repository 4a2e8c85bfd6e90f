"""registration_attempt: registrations per client address, for the registration limit

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 02:00:00+00:00

Expand only: a new table. The previous release neither reads nor writes it, and
registers without a limit until the new release serves.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the table and its indexes: by address and time (the limit), by time (purge)."""
    op.create_table(
        "registration_attempt",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_address", sa.String(64), nullable=False),
        sa.Column("attempted_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registration_attempt")),
    )
    op.create_index(
        op.f("ix_registration_attempt_client_address_attempted_at"),
        "registration_attempt",
        ["client_address", "attempted_at"],
    )
    op.create_index(
        op.f("ix_registration_attempt_attempted_at"), "registration_attempt", ["attempted_at"]
    )


def downgrade() -> None:
    """Drop the table and its indexes."""
    op.drop_index(op.f("ix_registration_attempt_attempted_at"), table_name="registration_attempt")
    op.drop_index(
        op.f("ix_registration_attempt_client_address_attempted_at"),
        table_name="registration_attempt",
    )
    op.drop_table("registration_attempt")
