"""a partner can be turned off (partner.disabled_at)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08 01:30:00

One nullable column: every partner stays on. Downgrading drops it, turning disabled partners on.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("partner") as batch_op:
        batch_op.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("partner") as batch_op:
        batch_op.drop_column("disabled_at")
