"""The progression engine (rules v3), rule by rule and boundary by boundary: pure functions, no I/O.

Every worked example of the rules is here as written, then each rule's edges (a second either
side of each time limit), then properties over random histories.
"""

import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.catalogue.memory import LiveCatalogue
from app.progression.engine import recommend
from app.progression.ladder import history_suffices, positions
from app.progression.model import UNMET_ORDER, Clearance, LegSymptoms, LoggedSession, Pain, Performance
from app.progression.reading import assess
from tests.content import CONTENT, LADDER, LADDER_EXERCISES, OFF_LADDER, URGENCY

GUIDANCE = LiveCatalogue(CONTENT).guidance
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)  # a Monday, 08:00
SECOND = timedelta(seconds=1)
EMERGENCY = next(code for code, urgency in URGENCY.items() if urgency == "emergency")
URGENT = next(code for code, urgency in URGENCY.items() if urgency == "urgent")
SEE_CLINICIAN = next(code for code, urgency in URGENCY.items() if urgency == "see_clinician")
GRID = [(LADDER.steps[index].exercise, dose) for index, dose in positions(LADDER)]
_received = iter(range(10**9))


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def logged(
    exercise: str = "reverse-lunge",
    dose: int = 8,
    *,
    hours: float = 0,
    when: datetime | None = None,
    received: datetime | None = None,
    sets: list[int] | None = None,
    rpe: int | None = 3,
    before: int | None = None,
    during: int = 1,
    after: int | None = None,
    morning: int | None = 0,
    faults: tuple[str, ...] = (),
    support: bool = False,
    flags: tuple[str, ...] = (),
    legs: tuple[str | None, str | None] = (None, None),
    progression: str | None = None,
    id: str | None = None,
) -> LoggedSession:
    """A session `hours` after T0 (or `when`), received then unless `received` says otherwise;
    by default complete (3 sets at the dose), easy, pain-free, with next-morning pain 0."""
    order = next(_received)
    performed = when or at(hours)
    return LoggedSession(
        id=id or f"s{order}",
        exercise=exercise,
        performed_at=performed,
        received_at=received or performed,
        received_order=order,
        progression=progression,
        performance=Performance(
            target_dose=dose,
            set_doses=tuple(sets if sets is not None else [dose] * 3),
            rpe=rpe,
            pain=Pain(during, before, after, morning),
            support_used=support,
            faults=faults,
            red_flags=flags,
            leg_symptoms=LegSymptoms(*legs),
        ),
    )


def run(*sessions: LoggedSession, as_of: datetime | None = None, clearances=(), ladder=LADDER):
    """The recommendation on `ladder` as of `as_of` (default: a day after the latest session)."""
    if as_of is None:
        as_of = max((s.performed_at for s in sessions), default=T0) + timedelta(hours=14)
    return recommend(ladder, list(sessions), as_of, clearances=list(clearances), guidance=GUIDANCE)


def where(prescription) -> tuple[str, int] | None:
    return None if prescription is None else (prescription.exercise, prescription.dose)


def codes(result) -> list[str]:
    return [reason.code for reason in result.reasons]


def unmet(result) -> list[str]:
    return list(result.reasons[0].unmet)


def ids(result, index: int = 0) -> tuple[str, ...]:
    return result.reasons[index].session_ids


def easy_pair(first_hours: float = 0, second_hours: float = 24, dose: int = 8, exercise: str = "reverse-lunge"):
    return logged(exercise, dose, hours=first_hours, id="a"), logged(exercise, dose, hours=second_hours, id="b")


# -- the worked examples, as written ------------------------------------------------------------

MONDAY_18, TUESDAY_1830, WEDNESDAY_08 = 10.0, 34.5, 48.0


def worked(second_hours=TUESDAY_1830, first_morning=1, second_during=1, **second):
    first = logged(hours=MONDAY_18, rpe=4, before=1, during=2, morning=first_morning, id="mon")
    later = logged(hours=second_hours, rpe=3, during=second_during, morning=None, id="tue", **second)
    return first, later


def test_worked_example_moves_up_a_dose():
    result = run(*worked(), as_of=at(WEDNESDAY_08))
    assert (result.action, where(result.current), where(result.next)) == (
        "increase_dose",
        ("reverse-lunge", 8),
        ("reverse-lunge", 10),
    )
    assert (result.next.sets, result.next.unit, result.next.support) == (3, "reps", "none")
    assert codes(result) == ["ready_to_progress"] and ids(result) == ("mon", "tue") and result.resume is None


def test_worked_example_second_session_three_hours_later_is_too_soon():
    result = run(*worked(second_hours=MONDAY_18 + 3), as_of=at(WEDNESDAY_08))
    assert (result.action, codes(result), unmet(result), ids(result)) == (
        "repeat",
        ["keep_practising"],
        ["too_soon"],
        ("mon", "tue"),
    )
    assert where(result.next) == where(result.current) == ("reverse-lunge", 8)


def test_worked_example_twice_a_day_still_moves_up_once_a_day():
    mon_08 = logged(hours=0, morning=1, id="mon-08")
    mon_20 = logged(hours=12, morning=None, id="mon-20")
    tue_0830 = logged(hours=24.5, morning=None, id="tue-0830")
    result = run(mon_08, mon_20, tue_0830, as_of=at(30))
    assert (result.action, where(result.next)) == ("increase_dose", ("reverse-lunge", 10))
    assert ids(result) == ("mon-08", "mon-20", "tue-0830")


def test_worked_example_without_the_first_next_morning():
    result = run(*worked(first_morning=None), as_of=at(WEDNESDAY_08))
    assert unmet(result) == ["next_morning_missing"]


def test_worked_example_with_pain_six_steps_down_a_dose():
    result = run(*worked(second_during=6), as_of=at(WEDNESDAY_08))
    assert (result.action, where(result.next), codes(result), ids(result)) == (
        "decrease_dose",
        ("reverse-lunge", 6),
        ["pain_above_limit"],
        ("tue",),
    )


@pytest.mark.parametrize("between", [0, 2])
def test_worked_example_a_late_next_morning_flare_is_still_recent(between):
    first, second = worked(first_morning=6)
    middle = [logged(hours=MONDAY_18 + 1 + i, id=f"mid{i}") for i in range(between)]
    result = run(first, *middle, second, as_of=at(WEDNESDAY_08))
    assert (result.action, where(result.next), codes(result), ids(result)) == (
        "decrease_dose",
        ("reverse-lunge", 6),
        ["flare"],
        ("mon",),
    )


def test_worked_example_next_morning_nine_pauses_until_a_gentler_rested_restart():
    first, second = worked(first_morning=9)
    result = run(first, second, as_of=at(WEDNESDAY_08))
    assert (result.action, result.next, codes(result), ids(result)) == ("pause", None, ["pain_stop"], ("mon",))
    assert where(result.current) == ("reverse-lunge", 8)
    assert where(result.resume) == ("supported-reverse-lunge", 4) and result.resume.sets == 2
    # A half-squat hold 20 minutes after the painful session is too soon to restart.
    soon = logged("half-squat-hold", 5, hours=MONDAY_18 + 1 / 3)
    assert run(first, soon, second, as_of=at(WEDNESDAY_08)).action == "pause"
    # At that position, a day after: the pause is over.
    restart = logged("supported-reverse-lunge", 4, hours=MONDAY_18 + 24, id="restart")
    assert run(first, second, restart, as_of=at(WEDNESDAY_08)).action != "pause"


def test_worked_example_severe_pain_on_a_glute_bridge_pauses_the_ladder_too():
    first, second = worked()
    bridge = logged("glute-bridge", 10, hours=TUESDAY_1830 + 1, during=9, id="bridge")
    result = run(first, second, bridge, as_of=at(WEDNESDAY_08))
    assert (result.action, codes(result), ids(result)) == ("pause", ["pain_stop"], ("bridge",))
    assert where(result.resume) == ("supported-reverse-lunge", 4)  # the step before the ladder's latest


def test_worked_example_leg_weakness_last_week_pauses_until_cleared():
    flagged = logged(hours=0, flags=("worsening_leg_weakness",), id="weak")
    since = [logged(hours=24 * day, id=f"easy{day}") for day in (2, 3, 4, 5)]
    result = run(flagged, *since, as_of=at(24 * 6))
    assert (result.action, result.next, result.resume, codes(result), ids(result)) == (
        "pause",
        None,
        None,
        ["red_flag"],
        ("weak",),
    )
    assert "emergency" in result.reasons[0].message
    cleared = Clearance(cleared_at=at(24), recorded_at=at(26))
    assert run(flagged, *since, as_of=at(24 * 6), clearances=[cleared]).action != "pause"
    # A flag that arrives after the clearance was recorded, on a session dated before it, pauses again.
    backfilled = logged("glute-bridge", 10, hours=12, received=at(30), flags=(SEE_CLINICIAN,), id="late")
    result = run(flagged, backfilled, *since, as_of=at(24 * 6), clearances=[cleared])
    assert (result.action, ids(result)) == ("pause", ("late",))


def test_worked_example_back_after_three_weeks_has_too_few_sessions():
    before, back = logged(hours=0, id="old"), logged(hours=24 * 21, id="back")
    result = run(before, back, as_of=at(24 * 21 + 2))
    assert (result.action, unmet(result), ids(result)) == ("repeat", ["too_few_sessions"], ("back",))


def test_worked_example_182_days_away_drops_13_positions():
    result = run(logged("lateral-reverse-lunge", 12, hours=0, during=7, id="last"), as_of=at(24 * 182))
    assert (result.action, where(result.next), result.next.sets, codes(result), ids(result)) == (
        "regress_step",
        ("reverse-lunge", 8),
        3,
        ["break"],
        ("last",),
    )


def test_worked_example_thighs_doing_the_work_three_times_goes_back_to_the_supported_lunge():
    sessions = [logged(hours=24 * i, faults=("thigh_dominant",), id=f"f{i}") for i in range(3)]
    result = run(*sessions)
    assert (result.action, where(result.next), codes(result), ids(result)) == (
        "regress_step",
        ("supported-reverse-lunge", 10),
        ["form_faults"],
        ("f0", "f1", "f2"),
    )
    correction = GUIDANCE.corrections["reverse-lunge"]["thigh_dominant"]
    assert correction in result.reasons[0].message and "Thigh dominant" in result.reasons[0].message


def test_worked_example_leg_symptoms_spreading_below_the_knee_steps_down():
    result = run(logged(legs=("none", "below_knee"), id="legs"))
    assert (result.action, where(result.next), codes(result), ids(result)) == (
        "decrease_dose",
        ("reverse-lunge", 6),
        ["leg_symptoms_spreading"],
        ("legs",),
    )


# -- rule 1: red flags stay until a clearance covers them ------------------------------------------


def test_no_history_starts_at_the_bottom():
    result = run()
    assert (result.action, result.current, where(result.next), codes(result)) == (
        "start",
        None,
        ("half-squat-hold", 5),
        ["no_history"],
    )
    assert result.reasons[0].session_ids == () and result.reasons[0].unmet == () and result.resume is None


@pytest.mark.parametrize(
    ("cleared_at", "recorded_at", "paused"),
    [
        (at(0), at(0), False),  # cleared at exactly the flagged session's time, recorded as it arrived
        (at(0) - SECOND, at(1), True),  # cleared a second before the session
        (at(1), at(0) - SECOND, True),  # recorded a second before the flag arrived
        (at(1), at(40), False),  # recorded exactly at as_of
        (at(1), at(40) + SECOND, True),  # recorded after as_of: not known yet
        (at(100), at(2), False),  # cleared_at may be later than recorded_at and as_of
    ],
)
def test_a_clearance_covers_a_flag_performed_before_it_and_arrived_before_it_was_recorded(
    cleared_at, recorded_at, paused
):
    flagged = logged(hours=0, flags=(SEE_CLINICIAN,), id="flag")
    result = run(flagged, logged(hours=24), as_of=at(40), clearances=[Clearance(cleared_at, recorded_at)])
    assert (result.action == "pause") == paused
    if not paused:  # a cleared flag still keeps its session from counting
        assert "red_flag" in unmet(result)


def test_any_uncleared_flag_of_any_exercise_pauses_however_late_it_arrived():
    ladder = [logged(hours=24 * i, id=f"l{i}") for i in range(3)]
    late = logged(OFF_LADDER, 10, hours=1, received=at(24 * 5), flags=(SEE_CLINICIAN,), id="late")
    result = run(*ladder, late, as_of=at(24 * 3))
    assert (result.action, ids(result), where(result.current)) == ("pause", ("late",), ("reverse-lunge", 8))


def test_every_uncleared_flag_is_listed_oldest_first_and_covered_ones_are_not():
    one = logged(hours=0, flags=(SEE_CLINICIAN,), id="one")
    two = logged(OFF_LADDER, 10, hours=30, flags=(SEE_CLINICIAN,), id="two")
    three = logged(hours=50, flags=(SEE_CLINICIAN,), id="three")
    result = run(three, one, two, as_of=at(60), clearances=[Clearance(at(31), at(31))])
    assert ids(result) == ("three",)
    assert ids(run(three, one, two, as_of=at(60))) == ("one", "two", "three")


def test_a_flag_without_any_ladder_session_pauses_with_no_current():
    result = run(logged(OFF_LADDER, 10, flags=(SEE_CLINICIAN,)))
    assert (result.action, result.current, result.next, result.resume) == ("pause", None, None, None)


def test_a_flag_performed_after_as_of_does_not_exist_yet():
    result = run(*easy_pair(), logged(hours=60, flags=(EMERGENCY,)), as_of=at(30))
    assert result.action == "increase_dose"


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        ((SEE_CLINICIAN,), "doctor or physiotherapist should check"),
        ((URGENT,), "needs a doctor today"),
        ((EMERGENCY,), "emergency department"),
        ((SEE_CLINICIAN, URGENT), "needs a doctor today"),
        ((SEE_CLINICIAN, EMERGENCY, URGENT), "emergency department"),
    ],
)
def test_the_red_flag_message_follows_the_most_urgent_flag_and_says_when_exercise_restarts(flags, words):
    sessions = [logged(hours=i, flags=(flag,)) for i, flag in enumerate(flags)]
    message = run(*sessions).reasons[0].message
    assert words in message and "restart once a clinician has" in message and "cleared you" in message
    assert "symptom" not in message  # a history is a warning sign, not a symptom


# -- rule 2: severe pain pauses until a rested, gentler restart ------------------------------------


@pytest.mark.parametrize("when", ["before", "during", "after", "morning"])
def test_severe_pain_at_any_of_the_four_times_pauses(when):
    painful = logged(hours=0, id="painful", **{when: 8})
    result = run(logged(hours=-24), painful)
    assert (result.action, codes(result), ids(result), where(result.resume)) == (
        "pause",
        ["pain_stop"],
        ("painful",),
        ("supported-reverse-lunge", 4),
    )
    assert run(logged(hours=-24), logged(hours=0, **{when: 7})).action != "pause"


@pytest.mark.parametrize(
    ("rest", "restarted"),
    [(timedelta(hours=24) - SECOND, False), (timedelta(hours=24), True), (timedelta(hours=24) + SECOND, True)],
)
def test_a_restart_comes_at_least_24_hours_after_the_severe_pain(rest, restarted):
    painful = logged(hours=0, during=9)
    restart = logged("supported-reverse-lunge", 4, when=at(0) + rest)
    assert (run(painful, restart).action != "pause") == restarted


@pytest.mark.parametrize(
    ("exercise", "dose", "before", "restarted"),
    [
        ("supported-reverse-lunge", 4, None, True),  # at the restart position
        ("supported-reverse-lunge", 5, None, True),  # counts as 4
        ("half-squat-hold", 30, None, True),  # below it
        ("supported-reverse-lunge", 6, None, False),  # above it
        ("reverse-lunge", 6, None, False),  # the painful step itself
        ("supported-reverse-lunge", 4, 5, True),  # pain before at the limit
        ("supported-reverse-lunge", 4, 6, False),  # pain before above the limit
        ("glute-bridge", 10, None, False),  # not a ladder session
    ],
)
def test_a_restart_is_at_or_below_the_restart_position_with_pain_before_within_the_limit(
    exercise, dose, before, restarted
):
    painful = logged(hours=0, during=9, id="painful")
    later = logged(exercise, dose, hours=30, before=before)
    result = run(painful, later)
    assert (result.action != "pause") == restarted
    if not restarted:
        assert (ids(result), where(result.resume)) == (("painful",), ("supported-reverse-lunge", 4))


def test_the_restart_position_of_the_first_step_is_its_start():
    result = run(logged("half-squat-hold", 25, during=8))
    assert (where(result.current), where(result.resume)) == (("half-squat-hold", 25), ("half-squat-hold", 5))
    assert "at the easier level suggested" in result.reasons[0].message


def test_severe_pain_off_the_ladder_restarts_below_the_ladder_step_before_it():
    history = [logged("long-step-reverse-lunge", 6, hours=0), logged("glute-bridge", 10, hours=1, during=9)]
    assert where(run(*history).resume) == ("kneeling-reverse-lunge", 4)
    # With no ladder session before it, the first step at its start; no current, so no "easier" level.
    result = run(logged("glute-bridge", 10, during=9))
    assert (result.current, where(result.resume)) == (None, ("half-squat-hold", 5))
    assert "easier" not in result.reasons[0].message


def test_only_the_latest_severe_pain_counts_and_a_restart_after_it_resumes_the_rules():
    first_pain = logged(hours=0, during=9)
    restart = logged("supported-reverse-lunge", 4, hours=30)
    assert run(first_pain, restart).action == "repeat"
    second_pain = logged("supported-reverse-lunge", 4, hours=40, morning=8, id="again")
    result = run(first_pain, restart, second_pain)
    assert (ids(result), where(result.resume)) == (("again",), ("half-squat-hold", 5))


def test_a_session_logged_above_the_restart_position_does_not_end_the_pause():
    painful = logged(hours=0, during=9, id="painful")
    result = run(painful, *[logged(hours=24 * i) for i in range(2, 6)])
    assert (result.action, ids(result)) == ("pause", ("painful",))


def test_the_pause_says_easier_level_only_when_resume_is_below_current():
    below = run(logged(hours=0, during=9))
    assert "at the easier level suggested" in below.reasons[0].message
    # Severe pain on a reverse lunge, then a half-squat within the day: current is below the resume.
    above = run(logged(hours=0, during=9), logged("half-squat-hold", 10, hours=2))
    assert where(above.resume) == ("supported-reverse-lunge", 4) and where(above.current) == ("half-squat-hold", 10)
    assert "easier" not in above.reasons[0].message and "at the level suggested" in above.reasons[0].message


# -- rule 4: a break eases back in -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("away", "positions_down"),
    [
        (timedelta(days=14), 0),
        (timedelta(days=14) + SECOND, 1),
        (timedelta(days=28) - SECOND, 1),
        (timedelta(days=28), 2),
        (timedelta(days=42), 3),
        (timedelta(days=400), 11),  # never below the lowest position
    ],
)
def test_a_break_moves_down_a_position_per_whole_break_days_away(away, positions_down):
    result = run(logged(hours=0, id="last"), as_of=at(0) + away)
    here = GRID.index(("reverse-lunge", 8))
    if positions_down == 0:
        assert codes(result) != ["break"]
        return
    assert (codes(result), ids(result)) == (["break"], ("last",))
    assert where(result.next) == GRID[here - positions_down]
    same_step = result.next.exercise == "reverse-lunge"
    assert result.action == ("decrease_dose" if same_step else "regress_step")


def test_a_break_at_the_lowest_position_repeats():
    result = run(logged("half-squat-hold", 5), as_of=at(24 * 30))
    assert (result.action, codes(result), where(result.next)) == ("repeat", ["break"], ("half-squat-hold", 5))
    assert "step back" not in result.reasons[0].message.lower()


def test_a_break_is_read_before_the_pain_and_faults_of_that_old_session():
    old = logged(hours=0, during=7, morning=7, faults=("hips_uneven",), legs=("none", "below_knee"))
    assert codes(run(old, as_of=at(24 * 15))) == ["break"]


# -- rule 5: recent pain, flares and spreading leg symptoms ----------------------------------------


@pytest.mark.parametrize(("earlier", "recent"), [(timedelta(hours=48), True), (timedelta(hours=48) + SECOND, False)])
def test_the_recent_set_reaches_48_hours_back_from_the_latest_session(earlier, recent):
    flare = logged(when=at(100) - earlier, before=0, morning=5, id="flare")
    result = run(flare, logged(hours=100, id="latest"))
    assert (codes(result) == ["flare"]) == recent
    if recent:
        assert ids(result) == ("flare",)


def test_a_recent_session_above_the_latest_position_does_not_count():
    above = logged("reverse-lunge", 10, hours=0, during=7)
    result = run(above, logged(hours=5))
    assert codes(result) != ["pain_above_limit"]
    same = logged("reverse-lunge", 8, hours=0, during=7, id="same")
    assert ids(run(same, logged(hours=5))) == ("same",)


def test_each_reason_lists_its_own_recent_sessions_in_rule_order():
    a = logged(hours=0, during=6, id="a")
    b = logged(hours=5, before=0, morning=6, id="b")
    c = logged(hours=10, legs=("above_knee", "below_knee"), after=6, id="c")
    result = run(c, a, b)
    assert codes(result) == ["pain_above_limit", "flare", "leg_symptoms_spreading"]
    assert [r.session_ids for r in result.reasons] == [("a", "c"), ("b",), ("c",)]
    assert result.action == "decrease_dose"


@pytest.mark.parametrize(
    ("pain", "legs", "fires"),
    [
        ({"during": 5}, (None, None), False),
        ({"during": 6}, (None, None), True),
        ({"after": 6}, (None, None), True),
        ({"before": 1, "morning": 3}, (None, None), False),  # not above pain_ok
        ({"before": 1, "morning": 4}, (None, None), True),  # above before + margin and pain_ok
        ({"before": 3, "morning": 4}, (None, None), False),  # within the margin
        ({"morning": 4}, (None, None), True),  # a missing before counts as 0
        ({}, ("above_knee", "above_knee"), False),
        ({}, ("below_knee", "above_knee"), False),
        ({}, ("none", "above_knee"), True),
        ({}, (None, "below_knee"), False),  # spreading needs both
    ],
)
def test_rule_5_boundaries(pain, legs, fires):
    result = run(logged(legs=legs, **pain))
    assert (result.action == "decrease_dose") == fires, result


def test_at_the_lowest_position_recent_pain_pauses_with_resume_there():
    result = run(logged("half-squat-hold", 5, during=6, id="low"))
    assert (result.action, result.next, where(result.resume), codes(result), ids(result)) == (
        "pause",
        None,
        ("half-squat-hold", 5),
        ["pain_above_limit"],
        ("low",),
    )
    assert "easier" not in result.reasons[0].message and "step back" not in result.reasons[0].message.lower()


# -- rules 6 and 7: incomplete sessions and form faults --------------------------------------------


def test_two_incomplete_sessions_here_step_down_and_at_the_bottom_repeat():
    short = dict(sets=[8, 8])
    result = run(logged(hours=0, **short, id="x"), logged(hours=24, **short, id="y"))
    assert (result.action, codes(result), ids(result), where(result.next)) == (
        "decrease_dose",
        ["incomplete_streak"],
        ("x", "y"),
        ("reverse-lunge", 6),
    )
    bottom = run(*(logged("half-squat-hold", 5, hours=24 * i, sets=[5]) for i in range(2)))
    assert (bottom.action, codes(bottom)) == ("repeat", ["incomplete_streak"])
    # One complete session in between breaks the streak.
    mixed = run(logged(hours=0, sets=[8]), logged(hours=24), logged(hours=48, sets=[8]))
    assert codes(mixed) != ["incomplete_streak"]


def test_fault_streak_needs_three_sessions_here_each_with_a_fault():
    two = run(*(logged(hours=24 * i, faults=("hips_uneven",)) for i in range(2)))
    assert (codes(two), unmet(two)) == (["keep_practising"], ["faults"])
    moved = [logged("reverse-lunge", 10, hours=0, faults=("hips_uneven",))]
    here = [logged(hours=24 * i, faults=("hips_uneven",)) for i in (1, 2)]
    assert codes(run(*moved, *here)) == ["keep_practising"]  # one of the three was at another position


def test_form_faults_name_every_fault_with_the_exercise_correction():
    sessions = [
        logged(hours=0, faults=("spine_bending",)),
        logged(hours=24, faults=("hips_uneven", "spine_bending")),
        logged(hours=48, faults=("leaning_sideways",)),
    ]
    message = run(*sessions).reasons[0].message
    for code in ("spine_bending", "hips_uneven", "leaning_sideways"):
        assert GUIDANCE.corrections["reverse-lunge"][code] in message
        assert code.replace("_", " ").capitalize() in message


def test_form_faults_on_the_first_step_move_one_position_down_or_repeat_at_the_bottom():
    result = run(*(logged("half-squat-hold", 20, hours=24 * i, faults=("spine_bending",)) for i in range(3)))
    assert (result.action, where(result.next), codes(result)) == (
        "decrease_dose",
        ("half-squat-hold", 15),
        ["form_faults"],
    )
    bottom = run(*(logged("half-squat-hold", 5, hours=24 * i, faults=("spine_bending",)) for i in range(3)))
    assert (bottom.action, codes(bottom), where(bottom.next)) == ("repeat", ["form_faults"], ("half-squat-hold", 5))


# -- rules 8 and 9: the window -----------------------------------------------------------------------


def test_two_easy_sessions_at_the_top_complete_the_ladder():
    result = run(*easy_pair(exercise="lateral-reverse-lunge", dose=12))
    assert (result.action, codes(result), where(result.next)) == (
        "repeat",
        ["ladder_complete"],
        ("lateral-reverse-lunge", 12),
    )


def test_moving_from_a_step_top_advances_to_the_next_step_start():
    result = run(*easy_pair(exercise="supported-reverse-lunge", dose=10))
    assert (result.action, where(result.next)) == ("advance_step", ("reverse-lunge", 6))


@pytest.mark.parametrize(("rest", "counted"), [(timedelta(hours=20) - SECOND, False), (timedelta(hours=20), True)])
def test_sessions_count_when_min_rest_hours_apart(rest, counted):
    first = logged(hours=0)
    second = logged(when=at(0) + rest)
    result = run(first, second)
    assert (result.action == "increase_dose") == counted
    if not counted:
        assert unmet(result) == ["too_soon"]


def test_the_window_stops_at_another_position_and_at_a_gap_longer_than_break_days():
    other = logged("reverse-lunge", 10, hours=0)
    assert unmet(run(other, logged(hours=24))) == ["too_few_sessions"]
    far = logged(hours=0)
    assert unmet(run(far, logged(when=at(0) + timedelta(days=14) + SECOND))) == ["too_few_sessions"]
    near = logged(hours=0)
    assert run(near, logged(when=at(0) + timedelta(days=14))).action == "increase_dose"


def test_the_window_takes_at_most_50_sessions():
    sessions = [logged(when=at(0) + timedelta(minutes=10 * i), id=f"w{i}") for i in range(60)]
    result = run(*sessions)
    assert (unmet(result), len(ids(result)), ids(result)[0], ids(result)[-1]) == (["too_soon"], 50, "w10", "w59")


def test_every_session_of_the_window_must_qualify_even_uncounted_ones():
    mon_08 = logged(hours=0, id="a")
    mon_20 = logged(hours=12, rpe=7, morning=None, id="b")
    tue_0830 = logged(hours=24.5, morning=None, id="c")
    result = run(mon_08, mon_20, tue_0830)
    assert (unmet(result), ids(result)) == (["rpe_above_easy"], ("a", "b", "c"))


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (dict(sets=[8, 8, 7]), "not_completed"),
        (dict(rpe=None), "rpe_missing"),
        (dict(rpe=5), "rpe_above_easy"),
        (dict(during=4), "pain_above_ok"),
        (dict(after=4), "pain_above_ok"),
        (dict(before=6), "pain_before_high"),
        (dict(faults=("hips_uneven",)), "faults"),
        (dict(support=True), "support_used"),
        (dict(legs=("below_knee", "below_knee")), "leg_symptoms"),
    ],
)
def test_each_shortfall_of_a_window_session_is_named(change, code):
    first = logged(hours=0, **change)
    assert unmet(run(first, logged(hours=24))) == [code]


@pytest.mark.parametrize(
    "change", [dict(before=5), dict(rpe=4), dict(during=3, after=3), dict(legs=("above_knee", "above_knee"))]
)
def test_the_edges_that_still_qualify(change):
    assert run(logged(hours=0, **change), logged(hours=24)).action == "increase_dose"


def test_a_cleared_red_flag_still_keeps_its_session_from_counting():
    flagged = logged(hours=0, flags=(SEE_CLINICIAN,))
    result = run(flagged, logged(hours=24), clearances=[Clearance(at(1), at(1))])
    assert unmet(result) == ["red_flag"]


def test_a_flare_outside_the_recent_set_still_keeps_the_window_from_moving_up():
    ladder = SimpleNamespace(
        slug="weekly", rules=LADDER.rules.model_copy(update={"min_rest_hours": 72}), steps=LADDER.steps
    )
    flare = logged(hours=0, before=0, morning=5)
    result = run(flare, logged(hours=24 * 3), ladder=ladder)
    assert unmet(result) == ["flare"]


def test_unmet_codes_come_in_the_rules_order_each_once():
    first = logged(hours=0, rpe=None, during=4, morning=None, faults=("hips_uneven",), sets=[1])
    result = run(first, logged(hours=1, support=True, rpe=None, during=4))
    assert unmet(result) == [
        "not_completed",
        "rpe_missing",
        "pain_above_ok",
        "faults",
        "support_used",
        "too_soon",
    ]
    # A counted session other than L without its next morning (here, with the window complete).
    late = run(logged(hours=0, morning=None, during=4), logged(hours=12, rpe=6), logged(hours=24))
    assert unmet(late) == ["rpe_above_easy", "pain_above_ok", "next_morning_missing"]


def test_support_is_only_a_shortfall_on_a_step_without_support():
    result = run(*(logged("supported-reverse-lunge", 6, hours=24 * i, support=True) for i in range(2)))
    assert result.action == "increase_dose"


def test_a_session_naming_another_ladder_plays_no_part_in_this_one():
    other = logged(hours=24, during=7, progression="someone-elses")
    result = run(logged(hours=0), other)
    assert unmet(result) == ["too_few_sessions"]


# -- messages ---------------------------------------------------------------------------------------


def test_ready_to_progress_says_pain_stayed_within_the_limits():
    message = run(*easy_pair()).reasons[0].message
    assert "pain stayed within the limits" in message and "comfortable" not in message


def test_effort_is_no_harder_than_somewhat_hard():
    message = run(logged(hours=0, rpe=5), logged(hours=24)).reasons[0].message
    assert "no harder than somewhat hard (4 out of 10 or less)" in message


def test_keep_practising_lists_short_separate_items():
    first = logged(hours=0, rpe=None, during=4, morning=None, faults=("hips_uneven",), sets=[1])
    message = run(first, logged(hours=1, support=True, rpe=None, during=4)).reasons[0].message
    items = _sentences(message)
    assert len(items) >= 6 and all(len(item.split()) <= 25 for item in items)


def test_pain_before_high_and_leg_symptoms_suggest_a_clinician():
    before = run(logged(hours=0, before=7), logged(hours=24)).reasons[0].message
    assert "clinician to review your plan" in before
    legs = run(logged(hours=0, legs=(None, "below_knee")), logged(hours=24)).reasons[0].message
    assert "below the knee keep coming back" in legs and "checked by a clinician" in legs


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text) if s]


# -- properties ---------------------------------------------------------------------------------------

session_strategy = st.fixed_dictionaries(
    {
        "exercise": st.sampled_from(LADDER_EXERCISES + [OFF_LADDER]),
        "dose": st.integers(1, 14),
        "hours": st.integers(0, 24 * 40),
        "received_late": st.sampled_from([0, 0, 0, 30]),
        "rpe": st.none() | st.integers(0, 10),
        "during": st.integers(0, 10),
        "after": st.none() | st.integers(0, 10),
        "before": st.none() | st.integers(0, 10),
        "morning": st.none() | st.integers(0, 10),
        "faults": st.sampled_from([(), (), ("hips_uneven",)]),
        "support": st.booleans(),
        "short": st.booleans(),
        "flags": st.sampled_from([(), (), (), (), (SEE_CLINICIAN,), (URGENT,), (EMERGENCY,)]),
        "legs": st.sampled_from([(None, None), ("none", "below_knee"), ("below_knee", "below_knee")]),
    }
)
clearance_strategy = st.builds(
    lambda cleared, recorded: Clearance(at(cleared), at(recorded)),
    st.integers(0, 24 * 40),
    st.integers(0, 24 * 40),
)


def _to_logged(item) -> LoggedSession:
    sets = [item["dose"]] * 3 if not item["short"] else [max(item["dose"] - 1, 0)]
    faults = item["faults"] if item["exercise"] != OFF_LADDER else ()
    return logged(
        item["exercise"],
        item["dose"],
        hours=item["hours"],
        received=at(item["hours"] + item["received_late"]),
        sets=sets,
        rpe=item["rpe"],
        before=item["before"],
        during=item["during"],
        after=item["after"],
        morning=item["morning"],
        faults=faults,
        support=item["support"],
        flags=item["flags"],
        legs=item["legs"],
    )


histories = st.lists(session_strategy, max_size=12)


@settings(max_examples=400, deadline=None)
@given(items=histories, clearances=st.lists(clearance_strategy, max_size=3), days=st.integers(0, 60))
def test_answers_keep_their_promises(items, clearances, days):
    """`unmet` exactly on keep_practising, in order, each once; `resume` only on a pain pause;
    `next` null exactly on pause; every move one position except a break's and form faults';
    every sentence short except the emergency one."""
    result = run(*map(_to_logged, items), as_of=at(24 * days), clearances=clearances)
    for reason in result.reasons:
        assert bool(reason.unmet) == (reason.code == "keep_practising")
        assert list(reason.unmet) == [c for c in UNMET_ORDER if c in reason.unmet]
        assert len(set(reason.unmet)) == len(reason.unmet)
        if reason.message != GUIDANCE_EMERGENCY:
            assert all(len(s.split()) <= 25 for s in _sentences(reason.message)), reason.message
    assert (result.next is None) == (result.action == "pause")
    assert (result.resume is not None) == (result.action == "pause" and codes(result)[0] != "red_flag")
    if result.action in ("increase_dose", "advance_step", "decrease_dose", "regress_step"):
        moved = GRID.index(where(result.next)) - GRID.index(where(result.current))
        if codes(result)[0] not in ("break", "form_faults"):
            assert abs(moved) == 1
        assert (moved > 0) == (result.action in ("increase_dose", "advance_step"))
        same_step = result.next.exercise == result.current.exercise
        assert same_step == (result.action in ("increase_dose", "decrease_dose"))


GUIDANCE_EMERGENCY = run(logged(flags=(EMERGENCY,))).reasons[0].message


@settings(max_examples=300, deadline=None)
@given(items=histories, days=st.integers(0, 60), cut=st.integers(1, 12))
def test_a_block_the_engine_says_suffices_gives_the_answer_of_the_whole_history(items, days, cut):
    """`history_suffices` (what the stored path relies on to read no further back): when it says
    the latest ladder sessions suffice, dropping older ladder sessions changes nothing."""
    sessions = [_to_logged(item) for item in items if item["exercise"] != OFF_LADDER and not item["flags"]]
    sessions = [s for s in sessions if max(p or 0 for p in s.performance.pain) < LADDER.rules.pain_stop]
    as_of = at(24 * days)
    ordered = sorted((s for s in sessions if s.performed_at <= as_of), key=lambda s: (s.performed_at, s.received_order))
    block = ordered[-cut:]
    if len(block) < len(ordered) and history_suffices(LADDER, block):
        older_relevant = [
            s
            for s in ordered[: -len(block)]
            if max(s.performance.pain.during, s.performance.pain.after or 0, s.performance.pain.next_morning or 0)
            > LADDER.rules.pain_ok
            or s.performance.leg_symptoms.after in ("above_knee", "below_knee")
        ]
        # The stored path also reads the recent sessions whose pain or leg symptoms rule 5 may need.
        assert run(*block, *older_relevant, as_of=as_of) == run(*ordered, as_of=as_of)


def test_assessment_reads_a_session_as_the_rules_do():
    step = LADDER.steps[2]
    assessed = assess(
        logged(before=6, legs=("none", "above_knee")).performance,
        progression="lunge-ladder",
        step=step,
        rules=LADDER.rules,
    )
    assert (assessed.qualifying, assessed.leg_symptoms_spreading, assessed.pain_zone) == (False, True, "low")
    assert assess(logged().performance, progression="lunge-ladder", step=step, rules=LADDER.rules).qualifying
