"""users' free text sealed at rest under a key per user (user_key)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08 05:40:00

Each user with a note gets a key (wrapped by the deployment's data key: STEPWISE_DATA_KEY, or
the one the deployment makes and keeps in `deployment_secret`), and the notes already stored
(sessions, clearances, outcome scores) are sealed under it, a thousand rows per statement.
Stored answers made before stay as they were until they expire (24 hours).

Downgrading opens every sealed note and stored answer back into clear text, then drops the keys
and the data key the deployment made.
"""

from collections.abc import Iterator, Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from app.sealing import crypto
from app.sealing.crypto import DataKeys
from app.sealing.service import DATA_KEY_NAME, load_data_keys
from app.settings import get_settings

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NOTES = (("session_log", "notes"), ("clearance", "note"), ("outcome", "note"))
_BATCH = 1000
_KEY = sa.table(
    "user_key", sa.column("partner_id"), sa.column("user_id"), sa.column("wrapped"), sa.column("created_at")
)


def _data_keys(connection: sa.Connection) -> DataKeys:
    configured = get_settings().data_key
    return load_data_keys(connection, configured.get_secret_value() if configured else None)


def _noted(connection: sa.Connection, name: str, column: str) -> Iterator[list[sa.Row]]:
    """The rows of `name` with text in `column`, a batch at a time, in `seq` order."""
    table = sa.table(name, sa.column("seq"), sa.column("partner_id"), sa.column("user_id"), sa.column(column))
    last = -1
    while True:
        batch = connection.execute(
            sa.select(table).where(table.c.seq > last, table.c[column].is_not(None)).order_by(table.c.seq).limit(_BATCH)
        ).all()
        if not batch:
            return
        yield batch
        last = batch[-1].seq


def _update(connection: sa.Connection, name: str, column: str, values: list[dict[str, object]]) -> None:
    if values:
        table = sa.table(name, sa.column("seq"), sa.column(column))
        statement = sa.update(table).where(table.c.seq == sa.bindparam("at")).values({column: sa.bindparam("text")})
        connection.execute(statement, values)


def upgrade() -> None:
    op.create_table(
        "user_key",
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("wrapped", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partner.id"], name=op.f("fk_user_key_partner_id_partner"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("partner_id", "user_id", name=op.f("pk_user_key")),
    )
    connection = op.get_bind()
    data: DataKeys | None = None
    keys: dict[tuple[int, str], bytes] = {}
    for name, column in _NOTES:
        for batch in _noted(connection, name, column):
            data = data or _data_keys(connection)
            sealed = []
            for row in batch:
                text, owner = row._mapping[column], (row.partner_id, row.user_id)
                if crypto.is_sealed(text):
                    continue
                if owner not in keys:
                    keys[owner] = crypto.new_user_key()
                    wrapped = data.wrap(keys[owner], partner_id=row.partner_id, user_id=row.user_id)
                    made = {"partner_id": row.partner_id, "user_id": row.user_id, "wrapped": wrapped}
                    connection.execute(sa.insert(_KEY).values(made | {"created_at": sa.func.current_timestamp()}))
                text = crypto.seal_text(keys[owner], text, partner_id=row.partner_id, user_id=row.user_id)
                sealed.append({"at": row.seq, "text": text})
            _update(connection, name, column, sealed)


def downgrade() -> None:
    connection = op.get_bind()
    data: DataKeys | None = None
    keys: dict[tuple[int, str], bytes] = {}

    def key_of(partner_id: int, user_id: str) -> bytes:
        if (partner_id, user_id) not in keys:
            found = sa.select(_KEY.c.wrapped).where(_KEY.c.partner_id == partner_id, _KEY.c.user_id == user_id)
            wrapped = connection.execute(found).scalar_one()
            assert data is not None
            keys[partner_id, user_id] = data.unwrap(wrapped, partner_id=partner_id, user_id=user_id)
        return keys[partner_id, user_id]

    for name, column in _NOTES:
        for batch in _noted(connection, name, column):
            data = data or _data_keys(connection)
            opened = []
            for row in batch:
                text = row._mapping[column]
                if crypto.is_sealed(text):
                    key = key_of(row.partner_id, row.user_id)
                    text = crypto.open_text(key, text, partner_id=row.partner_id, user_id=row.user_id)
                    opened.append({"at": row.seq, "text": text})
            _update(connection, name, column, opened)
    answers = sa.table("idempotency_record", sa.column("partner_id"), sa.column("key"), sa.column("response_body"))
    for row in connection.execute(sa.select(answers).where(answers.c.response_body.startswith(crypto.ANSWER))).all():
        data = data or _data_keys(connection)
        holding = {user: key_of(row.partner_id, user) for user in crypto.answer_users(row.response_body) or ()}
        body = crypto.open_answer(holding, row.response_body, partner_id=row.partner_id)
        mine = (answers.c.partner_id == row.partner_id, answers.c.key == row.key)
        connection.execute(sa.update(answers).where(*mine).values(response_body=body))
    op.drop_table("user_key")
    secret = sa.table("deployment_secret", sa.column("name"))
    connection.execute(sa.delete(secret).where(secret.c.name == DATA_KEY_NAME))
