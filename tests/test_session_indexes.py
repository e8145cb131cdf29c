"""The listing query and a recommendation's reads use indexes on PostgreSQL (EXPLAIN), so their
cost does not grow with a user's history."""

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from sqlalchemy import insert, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url

from app import migrate
from app.clearances.tables import ClearanceRow
from app.db.engines import make_async_engine, make_engine
from app.partners.tables import Partner
from app.recommendations.history import Reads
from app.sessions.documents import pain_peak
from app.sessions.queries import listing_query
from app.sessions.tables import SessionRow
from tests.content import LADDER, LADDER_EXERCISES, OFF_LADDER, SAFETY_CODES


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
        # Now and then severe pain, a red flag, and a clearance.
        rows = [
            dict(
                id=f"s{u}-{i}",
                partner_id=partner_id,
                user_id=f"user-{u}",
                exercise=(LADDER_EXERCISES + [OFF_LADDER])[i % (len(LADDER_EXERCISES) + 1)],
                performed_at=start + timedelta(hours=i),
                target_dose=8,
                set_doses=[8],
                pain_during=9 if i % 97 == 0 else i % 4,
                pain_peak=pain_peak(None, 9 if i % 97 == 0 else i % 4, None, None),
                support_used=False,
                faults=[],
                red_flags=[SAFETY_CODES[0]] if i % 89 == 0 else [],
                received_at=start + timedelta(hours=i),
            )
            for u in range(40)
            for i in range(500)
        ]
        connection.execute(insert(SessionRow), rows)
        clearances = [
            dict(id=f"c{u}-{i}", partner_id=partner_id, user_id=f"user-{u}", cleared_at=at, received_at=at)
            for u in range(40)
            for i, at in enumerate(start + timedelta(hours=h) for h in range(0, 500, 10))
        ]
        connection.execute(insert(ClearanceRow), clearances)
        connection.execute(text("analyze session_log"))
        connection.execute(text("analyze clearance"))
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


def _reads(partner_id: int) -> Reads:
    """The recommendation's reads for user-3 on the lunge ladder."""
    return Reads(LADDER, partner_id=partner_id, user_id="user-3", as_of=datetime(2021, 1, 1, tzinfo=UTC))


def test_the_first_read_uses_an_index_for_each_part(big_history):
    engine, partner_id = big_history
    read = _reads(partner_id).first()
    plan = json.loads(_plan(engine, read.statement.statement("postgresql").params(read.parameters), analyze=True))
    # The block: one index range scan per exercise of the ladder (a LATERAL join over them).
    assert any(
        node["Actual Loops"] >= len(LADDER_EXERCISES) for node in _nodes(plan, "ix_session_log_user_exercise_time")
    )
    assert _nodes(plan, "ix_session_log_user_pain_time")  # the latest severe pain, level by level
    # Uncleared red flags: those performed or received after the latest clearance, by the partial indexes.
    assert _nodes(plan, "ix_session_log_user_red_flagged")
    assert _nodes(plan, "ix_session_log_user_red_flagged_received")
    assert _nodes(plan, "ix_clearance_user_received")  # the clearances that cover them
    assert '"Seq Scan"' not in json.dumps(plan)


def _generic_plan(engine, statement, parameters: dict) -> dict:
    """The plan PostgreSQL keeps for `statement` once prepared on one of the request path's
    connections (which ask for generic plans: planned once, whatever the values)."""
    compiled = statement.compile(dialect=engine.dialect)
    names: list[str] = []

    def placeholder(match: re.Match) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    sql = re.sub(r"%\((\w+)\)s", placeholder, str(compiled))
    values = compiled.params | parameters
    with engine.connect() as connection:
        connection.exec_driver_sql("set plan_cache_mode = force_generic_plan")  # as the request path's
        connection.exec_driver_sql(f"prepare under_test as {sql}")
        driver = connection.connection.driver_connection
        arguments = ", ".join(psycopg.sql.Literal(values[name]).as_string(driver) for name in names)
        plan = connection.exec_driver_sql(f"explain (format json) execute under_test({arguments})").scalar_one()
        connection.exec_driver_sql("deallocate under_test")
    # A generic plan's conditions name the parameters ($2), a custom plan's the values.
    assert any(re.search(r"\$\d", node["Index Cond"]) for node in _nodes_with_index_conditions(plan)), "custom plan"
    return plan


def _nodes_with_index_conditions(plan: object) -> list[dict]:
    if isinstance(plan, list):
        return [node for item in plan for node in _nodes_with_index_conditions(item)]
    if not isinstance(plan, dict):
        return []
    found = [plan] if "Index Cond" in plan else []
    return found + [node for value in plan.values() for node in _nodes_with_index_conditions(value)]


def test_the_generic_plans_of_every_recommendation_read_use_the_indexes(big_history):
    engine, partner_id = big_history
    reads = _reads(partner_id)
    first = _generic_plan(engine, reads.first().statement.statement("postgresql"), reads.first().parameters)
    for index in (
        "ix_session_log_user_exercise_time",  # the block
        "ix_session_log_user_pain_time",  # the latest severe pain
        "ix_session_log_user_time",  # the last 48 hours; the session before the severe pain, the restart after
        "ix_session_log_user_red_flagged",  # red flags since the latest clearance (partial indexes)
        "ix_session_log_user_red_flagged_received",
    ):
        assert _nodes(first, index), index
    assert '"Seq Scan"' not in json.dumps(first)
    longer = _generic_plan(
        engine, reads.longer_block().statement.statement("postgresql"), reads.longer_block().parameters
    )
    assert _nodes(longer, "ix_session_log_user_exercise_time") and '"Seq Scan"' not in json.dumps(longer)


@pytest.mark.parametrize("after", [None, (datetime(2020, 1, 10, tzinfo=UTC), 10**9)])
def test_the_generic_plan_of_a_listing_page_uses_the_user_time_index(big_history, after):
    engine, partner_id = big_history
    query = listing_query(partner_id=partner_id, user_id="user-7", after=after, limit=20)
    plan = json.dumps(_generic_plan(engine, query, {}))
    assert "ix_session_log_user_time" in plan and '"Seq Scan"' not in plan and '"Sort"' not in plan


def test_the_request_path_asks_for_generic_plans_unless_prepared_statements_are_off(backend, database_url):
    if backend != "postgres":
        pytest.skip("plan_cache_mode is PostgreSQL's")

    async def show(setting: str, url: str = database_url, **options) -> str:
        engine = make_async_engine(url, pool_size=1, **options)
        async with engine.connect() as connection:
            found = (await connection.exec_driver_sql(f"show {setting}")).scalar_one()
        await engine.dispose()
        return found

    assert asyncio.run(show("plan_cache_mode")) == "force_generic_plan"
    # Behind pgbouncer (prepared statements off), no startup parameter it would refuse.
    assert asyncio.run(show("plan_cache_mode", prepared_statements=False)) == "auto"
    # Options the URL gives are kept.
    with_options = make_url(database_url).update_query_dict({"options": "-c lock_timeout=1234"})
    url = with_options.render_as_string(hide_password=False)
    assert asyncio.run(show("lock_timeout", url)) == "1234ms"
    assert asyncio.run(show("plan_cache_mode", url)) == "force_generic_plan"
