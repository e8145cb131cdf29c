"""Every migration upgrades and downgrades on both databases, and matches the models."""

import json

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from app import migrate
from app.db.engines import make_engine
from app.models import metadata


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_round_trip(empty_database_url):
    url = empty_database_url
    migrate.upgrade(url)
    assert _tables(url) == set(metadata.tables)
    migrate.downgrade(url, "base")
    assert _tables(url) == set()
    migrate.upgrade(url)
    assert _tables(url) == set(metadata.tables)
    engine = make_engine(url)
    assert migrate.current_revision(engine) == migrate.head_revision()
    engine.dispose()


def test_migrations_match_the_models(empty_database_url):
    migrate.upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
    engine.dispose()


def test_rebuilding_a_table_keeps_the_rows_that_refer_to_it(empty_database_url):
    """Downgrading 0003 rebuilds `progression` on SQLite; its steps must survive."""
    from sqlalchemy import text
    from sqlmodel import Session

    from app.catalogue import store
    from app.catalogue.content import load_content

    migrate.upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    with Session(engine) as session:
        store.sync(session=session, catalogue=load_content())
        session.commit()
    migrate.downgrade(empty_database_url, "0002")
    with engine.connect() as connection:
        assert connection.execute(text("select count(*) from progression_step")).scalar_one() == 6
    engine.dispose()


def test_rules_v2_gives_existing_sessions_no_red_flags_and_ladders_the_default_rest(empty_database_url):
    """Sessions logged before 0004 read back with `red_flags` [] and a ladder gets 20 h of rest."""
    from sqlalchemy import text

    url = empty_database_url
    migrate.upgrade(url, "0003")
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text("insert into partner (id, name, created_at) values (1, 'old', '2026-11-01T00:00:00+00:00')")
        )
        connection.execute(
            text(
                "insert into session_log (seq, id, partner_id, user_id, exercise, performed_at, target_dose, set_doses,"
                " pain_during, support_used, faults, received_at) values (1, 'old-1', 1, 'u', 'reverse-lunge',"
                " '2026-11-01T08:00:00+00:00', 8, '[8, 8, 8]', 2, false, '[]', '2026-11-01T08:00:00+00:00')"
            )
        )
        connection.execute(
            text(
                "insert into progression (slug, position, name, goal, streak, easy_rpe, pain_ok, pain_limit, pain_stop,"
                " flare_margin, incomplete_streak, break_days)"
                " values ('old-ladder', 0, 'Old', 'g', 2, 4, 3, 5, 8, 1, 2, 14)"
            )
        )
    migrate.upgrade(url)
    with engine.connect() as connection:
        flags = connection.execute(text("select red_flags from session_log where id = 'old-1'")).scalar_one()
        rest = connection.execute(text("select min_rest_hours from progression where slug = 'old-ladder'")).scalar_one()
    assert (flags if isinstance(flags, list) else json.loads(flags)) == [] and rest == 20
    migrate.downgrade(url, "0003")
    with engine.connect() as connection:
        assert connection.execute(text("select count(*) from session_log")).scalar_one() == 1
    engine.dispose()


def test_rules_v3_gives_existing_sessions_their_peak_pain_and_ladders_the_default_fault_streak(empty_database_url):
    """Sessions logged before 0008 get their highest pain score and no leg symptoms, a ladder gets
    fault_streak 3; downgrading turns an `urgent` red flag into `emergency` (the older schema's
    "care today") and keeps the sessions."""
    from sqlalchemy import text

    url = empty_database_url
    migrate.upgrade(url, "0007")
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text("insert into partner (id, name, created_at) values (1, 'old', '2026-11-01T00:00:00+00:00')")
        )
        for seq, (before, during, after, morning) in enumerate([(None, 2, None, None), (1, 3, 7, 9), (8, 1, 0, None)]):
            connection.execute(
                text(
                    "insert into session_log (seq, id, partner_id, user_id, exercise, performed_at, target_dose,"
                    " set_doses, pain_before, pain_during, pain_after, pain_next_morning, support_used, faults,"
                    " red_flags, received_at) values (:seq, :id, 1, 'u', 'reverse-lunge',"
                    " '2026-11-01T08:00:00+00:00', 8, '[8]', :before, :during, :after, :morning, false, '[]', '[]',"
                    " '2026-11-01T08:00:00+00:00')"
                ),
                {
                    "seq": seq + 1,
                    "id": f"old-{seq}",
                    "before": before,
                    "during": during,
                    "after": after,
                    "morning": morning,
                },
            )
        connection.execute(
            text(
                "insert into progression (slug, position, name, goal, streak, easy_rpe, pain_ok, pain_limit, pain_stop,"
                " flare_margin, incomplete_streak, break_days, min_rest_hours)"
                " values ('old-ladder', 0, 'Old', 'g', 2, 4, 3, 5, 8, 1, 2, 14, 20)"
            )
        )
    migrate.upgrade(url)
    with engine.begin() as connection:
        peaks = connection.execute(text("select pain_peak from session_log order by seq")).scalars().all()
        legs = connection.execute(text("select leg_symptoms_before, leg_symptoms_after from session_log")).all()
        streak = connection.execute(text("select fault_streak from progression where slug = 'old-ladder'")).scalar_one()
        connection.execute(
            text(
                "insert into red_flag (code, position, name, description, urgency) values ('x', 0, 'X', 'x', 'urgent')"
            )
        )
    assert peaks == [2, 9, 8] and set(legs) == {(None, None)} and streak == 3
    migrate.downgrade(url, "0007")
    with engine.connect() as connection:
        assert connection.execute(text("select urgency from red_flag where code = 'x'")).scalar_one() == "emergency"
        assert connection.execute(text("select count(*) from session_log")).scalar_one() == 3
    engine.dispose()


def test_user_keys_seal_the_notes_already_stored_and_downgrading_opens_them(empty_database_url):
    """0013 seals every note stored before it (sessions, clearances, outcome scores) under a key
    per user, which the service opens; downgrading puts the same text back in clear."""
    from sqlalchemy import text

    from app.sealing import crypto
    from app.sealing.service import DATA_KEY_NAME

    url = empty_database_url
    migrate.upgrade(url, "0012")
    engine = make_engine(url)
    moment = "'2026-11-01T08:00:00+00:00'"
    notes = {"u": "Left knee ached", "v": "Felt strong"}
    with engine.begin() as connection:
        connection.execute(text(f"insert into partner (id, name, created_at) values (1, 'old', {moment})"))
        for seq, (user, note) in enumerate([("u", notes["u"]), ("v", notes["v"]), ("v", None)], start=1):
            connection.execute(
                text(
                    "insert into session_log (seq, id, partner_id, user_id, exercise, performed_at, target_dose,"
                    " set_doses, pain_during, pain_peak, support_used, faults, red_flags, notes, received_at)"
                    f" values (:seq, :id, 1, :user, 'reverse-lunge', {moment}, 8, '[8]', 2, 2, false, '[]', '[]',"
                    f" :note, {moment})"
                ),
                {"seq": seq, "id": f"old-{seq}", "user": user, "note": note},
            )
        connection.execute(
            text(
                "insert into clearance (id, partner_id, user_id, cleared_at, received_at, note)"
                f" values ('c', 1, 'u', {moment}, {moment}, 'Seen by the physio')"
            )
        )
        connection.execute(
            text(
                "insert into outcome (id, partner_id, user_id, instrument, score, recorded_at, received_at, note)"
                f" values ('o', 1, 'v', 'odi', 30, {moment}, {moment}, 'After the holidays')"
            )
        )
    migrate.upgrade(url)
    with engine.begin() as connection:
        stored = connection.execute(text("select user_id, notes from session_log order by seq")).all()
        keys = connection.execute(text("select user_id from user_key order by user_id")).scalars().all()
        clearance = connection.execute(text("select note from clearance")).scalar_one()
        outcome = connection.execute(text("select note from outcome")).scalar_one()
        made = connection.execute(text(f"select count(*) from deployment_secret where name = '{DATA_KEY_NAME}'"))
        assert made.scalar_one() == 1
    assert keys == ["u", "v"]
    assert [crypto.is_sealed(note) for _, note in stored] == [True, True, False]
    assert crypto.is_sealed(clearance) and crypto.is_sealed(outcome)
    assert not any(text_ in str(stored) + clearance + outcome for text_ in [*notes.values(), "physio", "holidays"])

    migrate.downgrade(url, "0012")
    with engine.begin() as connection:
        opened = connection.execute(text("select notes from session_log order by seq")).scalars().all()
        assert opened == [notes["u"], notes["v"], None]
        assert connection.execute(text("select note from clearance")).scalar_one() == "Seen by the physio"
        assert connection.execute(text("select note from outcome")).scalar_one() == "After the holidays"
        assert connection.execute(text("select count(*) from deployment_secret")).scalar_one() == 0
    assert "user_key" not in _tables(url)
    engine.dispose()
