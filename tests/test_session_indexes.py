"""The listing and latest-on-a-ladder queries use an index on PostgreSQL (EXPLAIN), so their
cost does not grow with a user's history."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, text
from sqlalchemy.dialects import postgresql

from app import migrate
from app.db import make_engine
from app.partners.tables import Partner
from app.sessions.queries import latest_for_ladder_query, listing_query
from app.sessions.tables import SessionRow
from tests.content import LADDER_EXERCISES, OFF_LADDER


@pytest.fixture
def big_history(backend, empty_database_url):
    if backend != "postgres":
        pytest.skip("EXPLAIN plans are checked on PostgreSQL")
    migrate.upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    start = datetime(2020, 1, 1, tzinfo=UTC)
    with engine.begin() as connection:
        partner_id = connection.execute(
            insert(Partner).values(name="p", created_at=start).returning(Partner.id)
        ).scalar_one()
        rows = [
            dict(
                id=f"s{u}-{i}",
                partner_id=partner_id,
                user_id=f"user-{u}",
                exercise=(LADDER_EXERCISES + [OFF_LADDER])[i % (len(LADDER_EXERCISES) + 1)],
                performed_at=start + timedelta(hours=i),
                target_dose=8,
                set_doses=[8],
                pain_during=1,
                support_used=False,
                faults=[],
                red_flags=[],
                received_at=start,
            )
            for u in range(40)
            for i in range(500)
        ]
        connection.execute(insert(SessionRow), rows)
        connection.execute(text("analyze session_log"))
    yield engine, partner_id
    engine.dispose()


def _plan(engine, query, *, analyze: bool = False) -> str:
    sql = str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    with engine.connect() as connection:
        plan = connection.execute(text(f"explain (format json, analyze {analyze}) {sql}")).scalar_one()
    return json.dumps(plan)


def _nodes(plan: object, index: str) -> list[dict]:
    """The plan's scans of `index`, at any depth."""
    if isinstance(plan, list):
        return [node for item in plan for node in _nodes(item, index)]
    if not isinstance(plan, dict):
        return []
    found = [plan] if plan.get("Index Name") == index else []
    return found + [node for value in plan.values() for node in _nodes(value, index)]


def test_listing_uses_the_user_time_index(big_history):
    engine, partner_id = big_history
    plan = _plan(engine, listing_query(partner_id=partner_id, user_id="user-7", limit=20))
    assert "ix_session_log_user_time" in plan and '"Seq Scan"' not in plan and '"Sort"' not in plan


def test_listing_a_later_page_uses_the_index(big_history):
    engine, partner_id = big_history
    after = (datetime(2020, 1, 10, tzinfo=UTC), 10**9)
    plan = _plan(engine, listing_query(partner_id=partner_id, user_id="user-7", after=after, limit=20))
    assert "ix_session_log_user_time" in plan and '"Seq Scan"' not in plan


def test_latest_sessions_on_a_ladder_use_the_exercise_index(big_history):
    engine, partner_id = big_history
    query, parameters = latest_for_ladder_query(
        partner_id=partner_id,
        user_id="user-3",
        progression="lunge-ladder",
        exercises=LADDER_EXERCISES,
        as_of=datetime(2021, 1, 1, tzinfo=UTC),
        limit=2,
    )
    plan = _plan(engine, query.statement("postgresql").params(parameters), analyze=True)
    # One index range scan per exercise of the ladder (a LATERAL join over them), none of the table.
    (per_exercise,) = _nodes(json.loads(plan), "ix_session_log_user_exercise_time")
    assert per_exercise["Actual Loops"] == len(LADDER_EXERCISES) and '"Seq Scan"' not in plan
    assert "ix_session_log_user_time" in plan  # the latest session of any exercise (red flags)
