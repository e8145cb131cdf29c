"""The progression engine (rules v2), rule by rule and boundary by boundary (pure functions, no I/O)."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.progression.engine import assess, positions, recommend
from app.progression.model import UNMET_ORDER, LoggedSession, Pain, Performance
from tests.content import EMERGENCY_FLAGS, LADDER, LADDER_EXERCISES, OFF_LADDER, SEE_CLINICIAN

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)  # a Monday
AS_OF = T0 + timedelta(days=3)
DAY = 24 * 60
_counter = iter(range(10**6))


def logged(
    exercise="reverse-lunge",
    target=8,
    *,
    minute=0,
    sets=None,
    rpe=4,
    during=1,
    after=None,
    before=None,
    next_morning=0,
    faults=0,
    support=False,
    flags=(),
    id=None,
) -> LoggedSession:
    """A session `minute`s after T0; by default complete, easy, pain-free, with next-morning pain 0."""
    order = next(_counter)
    doses = tuple(sets if sets is not None else [target] * 3)
    return LoggedSession(
        id=id or f"s{order}",
        exercise=exercise,
        performed_at=T0 + timedelta(minutes=minute),
        received_order=order,
        performance=Performance(
            target, doses, rpe, Pain(during, before, after, next_morning), support, faults, tuple(flags)
        ),
    )


def recommend_for(*sessions, as_of=AS_OF, ladder=LADDER):
    """The engine's recommendation on `ladder` from these sessions, as of `as_of`."""
    return recommend(ladder, list(sessions), as_of, emergency_flags=EMERGENCY_FLAGS)


def position_of(prescription):
    """(exercise, dose) of a prescription, or None."""
    return None if prescription is None else (prescription.exercise, prescription.dose)


def codes(result):
    return [r.code for r in result.reasons]


def unmet(result):
    return list(result.reasons[0].unmet)


def test_ladder_has_25_positions():
    assert len(positions(LADDER)) == 25


def test_no_history_starts_at_the_bottom():
    result = recommend_for()
    assert (result.action, result.current, position_of(result.next), codes(result)) == (
        "start",
        None,
        ("half-squat-hold", 5),
        ["no_history"],
    )
    assert result.next.sets == 3 and result.next.unit == "seconds" and result.resume is None
    assert result.reasons[0].session_ids == () and result.reasons[0].unmet == ()


# -- the worked example, as written ---------------------------------------------------------------

MONDAY_18 = 10 * 60  # T0 is 08:00
TUESDAY_1830 = DAY + 10 * 60 + 30


def worked(second_minute=TUESDAY_1830, first_morning=1, second_during=1, target=8):
    first = logged(target=target, minute=MONDAY_18, rpe=4, before=1, during=2, next_morning=first_morning, id="mon")
    second = logged(target=target, minute=second_minute, rpe=3, during=second_during, next_morning=None, id="tue")
    return recommend_for(first, second)


def test_worked_example_progresses():
    result = worked()
    assert (result.action, position_of(result.current), position_of(result.next), result.next.sets) == (
        "increase_dose",
        ("reverse-lunge", 8),
        ("reverse-lunge", 10),
        3,
    )
    assert codes(result) == ["ready_to_progress"] and result.reasons[0].session_ids == ("mon", "tue")
    assert result.reasons[0].unmet == () and result.resume is None


def test_worked_example_three_hours_later_is_too_soon():
    result = worked(second_minute=MONDAY_18 + 3 * 60)
    assert (result.action, codes(result), unmet(result)) == ("repeat", ["keep_practising"], ["too_soon"])
    assert result.reasons[0].session_ids == ("mon", "tue") and position_of(result.next) == ("reverse-lunge", 8)


def test_worked_example_without_the_first_mornings_pain():
    assert unmet(worked(first_morning=None)) == ["next_morning_missing"]


def test_worked_example_with_pain_six_decreases():
    result = worked(second_during=6)
    assert (result.action, position_of(result.next), codes(result)) == (
        "decrease_dose",
        ("reverse-lunge", 6),
        ["pain_above_limit"],
    )
    assert result.reasons[0].session_ids == ("tue",)


def test_worked_example_at_start_dose_regresses_a_step():
    result = worked(target=6, second_during=6)
    assert (result.action, position_of(result.next)) == ("regress_step", ("supported-reverse-lunge", 10))
    assert codes(result) == ["pain_above_limit"] and result.reasons[0].session_ids == ("tue",)
    assert result.next.sets == 2 and result.next.support == "required"


def test_worked_example_morning_pain_two_without_before_is_no_flare_but_five_after_one_is():
    calm = recommend_for(logged("half-squat-hold", 5, sets=[5, 5, 5], next_morning=2))
    assert codes(calm) == ["keep_practising"]
    flare = recommend_for(logged("half-squat-hold", 5, sets=[5, 5, 5], before=1, next_morning=5))
    assert (flare.action, codes(flare), position_of(flare.next), flare.resume) == (
        "repeat",
        ["flare"],
        ("half-squat-hold", 5),
        None,
    )


# -- rule 1: red flags ---------------------------------------------------------------------------


def test_red_flag_on_the_latest_session_pauses_without_resume():
    result = recommend_for(logged(minute=0), logged(minute=DAY, flags=[SEE_CLINICIAN], id="flagged"))
    assert (result.action, result.next, result.resume, codes(result)) == ("pause", None, None, ["red_flag"])
    assert position_of(result.current) == ("reverse-lunge", 8) and result.reasons[0].session_ids == ("flagged",)
    assert "urgent" not in result.reasons[0].message.lower()


def test_emergency_red_flag_says_urgent_care_today():
    result = recommend_for(logged(flags=sorted(EMERGENCY_FLAGS)[:1]))
    assert result.action == "pause" and "urgent medical care today" in result.reasons[0].message


def test_red_flag_on_another_exercise_after_the_ladder_pauses_too():
    result = recommend_for(
        logged(minute=0), logged(minute=DAY), logged("glute-bridge", 10, minute=DAY + 5, flags=[SEE_CLINICIAN], id="gb")
    )
    assert (result.action, codes(result), result.reasons[0].session_ids) == ("pause", ["red_flag"], ("gb",))
    assert position_of(result.current) == ("reverse-lunge", 8)


def test_red_flag_without_any_ladder_session_pauses_with_no_current():
    result = recommend_for(logged("glute-bridge", 10, flags=[SEE_CLINICIAN]))
    assert (result.action, result.current, result.next, codes(result)) == ("pause", None, None, ["red_flag"])


def test_a_later_session_without_red_flags_ends_the_pause():
    result = recommend_for(logged(minute=0, flags=[SEE_CLINICIAN]), logged("glute-bridge", 10, minute=5))
    assert result.action == "repeat" and unmet(result) == ["too_few_sessions", "red_flag"]


def test_red_flag_on_an_earlier_window_session_blocks_progress_only():
    result = recommend_for(logged(minute=0, flags=[SEE_CLINICIAN]), logged(minute=DAY))
    assert (result.action, codes(result), unmet(result)) == ("repeat", ["keep_practising"], ["red_flag"])


def test_red_flag_after_as_of_is_ignored():
    result = recommend_for(
        logged(minute=0),
        logged(minute=DAY),
        logged(minute=5 * DAY, flags=[SEE_CLINICIAN]),
        as_of=T0 + timedelta(days=2),
    )
    assert result.action == "increase_dose"


# -- rule 3: pain at the stop level ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("pain", "action"),
    [
        (dict(during=8), "pause"),
        (dict(during=7), "decrease_dose"),
        (dict(during=1, after=8), "pause"),
        (dict(during=1, next_morning=8, before=8), "pause"),
        (dict(during=1, next_morning=7, before=7), "repeat"),
        (dict(during=10, after=10, next_morning=10), "pause"),
    ],
)
def test_pain_stop_pauses_at_or_above_the_threshold(pain, action):
    result = recommend_for(logged(**pain))
    assert result.action == action
    if action == "pause":
        assert (
            result.next is None
            and codes(result) == ["pain_stop"]
            and position_of(result.current) == ("reverse-lunge", 8)
        )
        assert position_of(result.resume) == ("reverse-lunge", 6)  # the current step at its start


# -- rule 4: pain above the limit, flares ------------------------------------------------------------


@pytest.mark.parametrize(
    ("pain", "expected"),
    [
        (dict(during=5), []),
        (dict(during=6), ["pain_above_limit"]),
        (dict(during=1, after=5), []),
        (dict(during=1, after=6), ["pain_above_limit"]),
        # a flare needs next-morning pain above pain_ok (3) too; a missing `before` counts as 0
        (dict(during=1, next_morning=3), []),
        (dict(during=1, next_morning=4), ["flare"]),
        (dict(during=1, before=0, next_morning=3), []),
        (dict(during=1, before=0, next_morning=4), ["flare"]),
        (dict(during=1, before=3, next_morning=4), []),
        (dict(during=1, before=3, next_morning=5), ["flare"]),
        (dict(during=1, before=2, next_morning=4), ["flare"]),
        (dict(during=1, before=4, next_morning=5), []),
        (dict(during=6, before=0, next_morning=4), ["pain_above_limit", "flare"]),
    ],
)
def test_pain_limit_and_flare_boundaries(pain, expected):
    result = recommend_for(logged(**pain))
    if expected:
        assert (
            result.action == "decrease_dose"
            and codes(result) == expected
            and position_of(result.next) == ("reverse-lunge", 6)
        )
        assert result.resume is None and all(r.session_ids == result.reasons[0].session_ids for r in result.reasons)
    else:
        assert result.action == "repeat" and codes(result) == ["keep_practising"]


def test_assessment_flare_follows_the_same_definition():
    step = LADDER.steps[2]
    assert not assess(logged(next_morning=2).performance, progression="x", step=step, rules=LADDER.rules).flare
    assert assess(logged(next_morning=4).performance, progression="x", step=step, rules=LADDER.rules).flare
    assert assess(logged(flags=[SEE_CLINICIAN]).performance, progression="x", step=step, rules=LADDER.rules).red_flag


def test_pain_above_limit_at_the_bottom_pauses_with_resume():
    result = recommend_for(logged("half-squat-hold", 5, during=6, sets=[5, 5, 5]))
    assert (result.action, result.next, codes(result)) == ("pause", None, ["pain_above_limit"])
    assert position_of(result.resume) == ("half-squat-hold", 5) and "step back" not in result.reasons[0].message


def test_pain_above_limit_and_flare_at_the_bottom_pause():
    result = recommend_for(logged("half-squat-hold", 5, during=6, before=0, next_morning=5, sets=[5, 5, 5]))
    assert (result.action, codes(result), position_of(result.resume)) == (
        "pause",
        ["pain_above_limit", "flare"],
        ("half-squat-hold", 5),
    )


def test_flare_alone_at_the_bottom_repeats():
    result = recommend_for(logged("half-squat-hold", 5, next_morning=4, sets=[5, 5, 5]))
    assert (result.action, codes(result), position_of(result.next), result.resume) == (
        "repeat",
        ["flare"],
        ("half-squat-hold", 5),
        None,
    )
    assert "step back" not in result.reasons[0].message


def test_resume_is_the_start_of_the_current_step_on_a_pain_pause_higher_up():
    result = recommend_for(logged(target=10, during=9))
    assert (result.action, position_of(result.resume), result.resume.sets) == ("pause", ("reverse-lunge", 6), 3)


# -- rule 5: incomplete sessions, and completion against the step's start ---------------------------


def test_incomplete_streak_moves_down():
    result = recommend_for(logged(sets=[8, 8, 7], minute=0, id="a"), logged(sets=[8, 6], minute=1, id="b"))
    assert (result.action, position_of(result.next), codes(result)) == (
        "decrease_dose",
        ("reverse-lunge", 6),
        ["incomplete_streak"],
    )
    assert result.reasons[0].session_ids == ("a", "b")


def test_one_incomplete_session_is_not_a_streak():
    assert recommend_for(logged(sets=[8, 8, 8], minute=0, rpe=6), logged(sets=[8, 6], minute=1)).action == "repeat"
    assert recommend_for(logged(sets=[8, 6])).action == "repeat"


def test_incomplete_sessions_at_different_positions_are_not_a_streak():
    result = recommend_for(logged(target=10, sets=[10, 8], minute=0), logged(target=8, sets=[8, 6], minute=1))
    assert codes(result) == ["keep_practising"]


def test_incomplete_streak_at_the_bottom_repeats():
    result = recommend_for(
        logged("half-squat-hold", 5, sets=[5], minute=0), logged("half-squat-hold", 5, sets=[5, 4], minute=1)
    )
    assert (result.action, codes(result), position_of(result.next)) == (
        "repeat",
        ["incomplete_streak"],
        ("half-squat-hold", 5),
    )
    assert "step back" not in result.reasons[0].message


def test_sessions_planned_below_the_steps_start_cannot_complete_it():
    # reverse-lunge starts at 6: target 1 with sets of 1 sits at (step 3, 6) but completes nothing
    low = [logged(target=1, sets=[1, 1, 1], minute=m * DAY) for m in range(2)]
    result = recommend_for(*low)
    assert codes(result) == ["incomplete_streak"] and result.action == "regress_step"
    assert not assess(low[0].performance, progression="x", step=LADDER.steps[2], rules=LADDER.rules).completed


def test_completed_compares_with_the_sessions_own_target():
    # target 7 counts as position 6, but completion needs doses of 7
    result = recommend_for(logged(target=7, sets=[6, 6, 6], minute=0), logged(target=7, sets=[6, 6, 6], minute=1))
    assert codes(result) == ["incomplete_streak"]


# -- rule 6: breaks ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("gap", "broke"), [(timedelta(days=14), False), (timedelta(days=14, seconds=1), True)])
def test_a_gap_of_more_than_break_days_is_a_break(gap, broke):
    result = recommend_for(logged(rpe=6), as_of=T0 + gap)
    assert codes(result) == (["break"] if broke else ["keep_practising"])
    if broke:
        assert result.action == "decrease_dose"


def test_break_at_the_bottom_repeats():
    result = recommend_for(logged("half-squat-hold", 5, sets=[5, 5, 5], rpe=6), as_of=T0 + timedelta(days=30))
    assert (result.action, codes(result)) == ("repeat", ["break"])
    assert "step back" not in result.reasons[0].message


def test_break_is_checked_before_progress():
    result = recommend_for(logged(minute=0), logged(minute=DAY), as_of=T0 + timedelta(days=20))
    assert codes(result) == ["break"]


# -- rule 7: moving up --------------------------------------------------------------------------------


@pytest.mark.parametrize(("gap_minutes", "moves_up"), [(20 * 60, True), (20 * 60 - 1, False)])
def test_sessions_of_a_streak_need_min_rest_hours_between_them(gap_minutes, moves_up):
    result = recommend_for(logged(minute=0), logged(minute=gap_minutes))
    assert (result.action == "increase_dose") == moves_up
    if not moves_up:
        assert unmet(result) == ["too_soon"]


def test_the_gap_to_sessions_before_the_streak_does_not_matter():
    result = recommend_for(logged(minute=0, rpe=9), logged(minute=5), logged(minute=5 + 20 * 60))
    assert result.action == "increase_dose"


def test_fifty_sessions_five_minutes_apart_climb_nothing():
    result = recommend_for(*(logged(minute=5 * m) for m in range(50)))
    assert (result.action, unmet(result)) == ("repeat", ["too_soon"])


def test_next_morning_pain_missing_on_the_latest_session_still_moves_up():
    assert recommend_for(logged(minute=0), logged(minute=DAY, next_morning=None)).action == "increase_dose"


def test_next_morning_pain_missing_on_the_earlier_session_blocks():
    result = recommend_for(logged(minute=0, next_morning=None), logged(minute=DAY))
    assert (result.action, unmet(result)) == ("repeat", ["next_morning_missing"])


@pytest.mark.parametrize(
    ("change", "progresses"),
    [
        (dict(), True),
        (dict(rpe=5), False),
        (dict(rpe=None), False),
        (dict(during=4), False),
        (dict(after=4), False),
        (dict(after=3), True),
        (dict(faults=1), False),
        (dict(support=True), False),
        (dict(sets=[8, 8]), False),
        (dict(next_morning=2, before=1), True),
        (dict(during=3, before=0, next_morning=1), True),
        (dict(next_morning=3, before=0), True),
        (dict(next_morning=4, before=2), False),
    ],
)
def test_qualifying_thresholds_decide_whether_two_sessions_move_up(change, progresses):
    result = recommend_for(logged(minute=0), logged(minute=DAY, **change))
    assert (result.action == "increase_dose") == progresses


def test_support_is_allowed_where_the_step_allows_it():
    result = recommend_for(
        *(logged("supported-reverse-lunge", 4, sets=[4, 4], support=True, minute=m * DAY) for m in range(2))
    )
    assert (result.action, position_of(result.next)) == ("increase_dose", ("supported-reverse-lunge", 6))


def test_top_of_a_step_advances_to_the_next_step():
    result = recommend_for(logged(target=12, minute=0), logged(target=12, minute=DAY))
    assert (result.action, position_of(result.next)) == ("advance_step", ("kneeling-reverse-lunge", 4))


def test_top_of_the_ladder_repeats_as_complete():
    result = recommend_for(*(logged("lateral-reverse-lunge", 12, minute=m * DAY, id=f"t{m}") for m in range(2)))
    assert (result.action, codes(result), position_of(result.next)) == (
        "repeat",
        ["ladder_complete"],
        ("lateral-reverse-lunge", 12),
    )
    assert result.reasons[0].session_ids == ("t0", "t1") and result.reasons[0].unmet == ()


def test_bottom_of_a_step_regresses_to_the_previous_step_target():
    result = recommend_for(logged("kneeling-reverse-lunge", 4, sets=[4, 4], during=6))
    assert (result.action, position_of(result.next)) == ("regress_step", ("reverse-lunge", 12))


@pytest.mark.parametrize(
    ("target", "current", "up", "down"),
    [
        (7, 6, 8, ("supported-reverse-lunge", 10)),
        (4, 6, 8, ("supported-reverse-lunge", 10)),
        (14, 12, None, ("reverse-lunge", 10)),
        (11, 10, 12, ("reverse-lunge", 8)),
    ],
)
def test_off_grid_targets_snap_to_the_step_grid(target, current, up, down):
    assert position_of(recommend_for(logged(target=target)).current) == ("reverse-lunge", current)
    lower = recommend_for(logged(target=target, during=6))
    assert position_of(lower.next) == down
    higher = recommend_for(logged(target=target, minute=0), logged(target=target, minute=DAY))
    if target < 6:  # planned below the step's start: never complete
        assert codes(higher) == ["incomplete_streak"]
    elif up:
        assert position_of(higher.next) == ("reverse-lunge", up)
    else:
        assert position_of(higher.next) == ("kneeling-reverse-lunge", 4)


# -- rule 8: what is unmet ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("earlier", "latest", "expected"),
    [
        (None, dict(), ["too_few_sessions"]),
        (dict(target=10), dict(), ["too_few_sessions"]),
        (dict(), dict(sets=[8, 8, 6], rpe=9), ["not_completed", "rpe_above_easy"]),
        (dict(), dict(sets=[8, 8, 6]), ["not_completed"]),
        (dict(rpe=None), dict(), ["rpe_missing"]),
        (dict(), dict(rpe=5), ["rpe_above_easy"]),
        (dict(), dict(during=4), ["pain_above_ok"]),
        (dict(after=4), dict(), ["pain_above_ok"]),
        (dict(), dict(faults=2), ["faults"]),
        (dict(), dict(support=True), ["support_used"]),
        (dict(before=0, next_morning=4), dict(), ["flare"]),
        (dict(flags=[SEE_CLINICIAN]), dict(), ["red_flag"]),
        (dict(), dict(minute=60), ["too_soon"]),
        (dict(next_morning=None), dict(), ["next_morning_missing"]),
        (
            dict(rpe=None, next_morning=None, faults=1),
            dict(minute=60, rpe=6, during=4, support=True, sets=[8, 8, 6]),
            [
                "not_completed",
                "rpe_missing",
                "rpe_above_easy",
                "pain_above_ok",
                "faults",
                "support_used",
                "too_soon",
                "next_morning_missing",
            ],
        ),
        (dict(target=10, rpe=None), dict(rpe=None, minute=60), ["too_few_sessions", "rpe_missing"]),
    ],
)
def test_unmet_codes_alone_and_together_in_order(earlier, latest, expected):
    history = [] if earlier is None else [logged(**({"minute": 0} | earlier))]
    history.append(logged(**({"minute": DAY} | latest)))
    result = recommend_for(*history)
    assert (result.action, codes(result), unmet(result)) == ("repeat", ["keep_practising"], expected)
    assert result.reasons[0].session_ids == tuple(h.id for h in history)


def test_keep_practising_names_what_is_unmet_in_words():
    message = recommend_for(logged(rpe=None, minute=0), logged(minute=60, rpe=None)).reasons[0].message
    assert "20 hours" in message and "how hard" in message


def test_unmet_ignores_window_sessions_at_another_position():
    # the earlier session (at 10) is not judged: only "too few here" and what the latest lacks
    result = recommend_for(logged(target=10, rpe=None, faults=3, minute=0), logged(rpe=9, minute=DAY))
    assert unmet(result) == ["too_few_sessions", "rpe_above_easy"]


# -- ordering and which sessions count ------------------------------------------------------------------


def test_ties_in_performed_at_go_by_received_order():
    first, second = logged(minute=5, during=6, id="a"), logged(minute=5, id="b")
    assert codes(recommend_for(first, second)) == ["keep_practising"]
    assert codes(recommend_for(second, first)) == ["keep_practising"]  # list order is not received order
    late = logged(minute=5, during=6, id="c")
    assert codes(recommend_for(first, second, late)) == ["pain_above_limit"]


def test_sessions_after_as_of_are_ignored():
    result = recommend_for(
        logged(minute=0), logged(minute=DAY), logged(minute=DAY * 3, during=9), as_of=T0 + timedelta(days=2)
    )
    assert result.action == "increase_dose"


def test_sessions_of_other_exercises_neither_count_nor_break_a_streak():
    result = recommend_for(
        logged(minute=0, id="a"),
        logged("glute-bridge", 10, minute=DAY - 60, during=9, id="gb"),
        logged(minute=DAY, id="b"),
    )
    assert result.action == "increase_dose" and result.reasons[0].session_ids == ("a", "b")


def test_only_other_exercises_means_no_history():
    assert recommend_for(logged("glute-bridge", 10)).action == "start"


def test_a_ladder_with_other_thresholds_is_followed_without_code_changes():
    rules = LADDER.rules.model_copy(
        update=dict(streak=1, easy_rpe=7, pain_ok=1, pain_limit=2, pain_stop=4, break_days=2, min_rest_hours=0)
    )
    other = SimpleNamespace(slug="strict", rules=rules, steps=LADDER.steps[2:4])
    soon = T0 + timedelta(days=1)
    # streak 1, easy_rpe 7
    assert recommend_for(logged(rpe=6, during=1), ladder=other, as_of=soon).action == "increase_dose"
    assert recommend_for(logged(during=3), ladder=other, as_of=soon).action == "decrease_dose"  # pain_limit 2
    assert recommend_for(logged(during=4), ladder=other, as_of=soon).action == "pause"
    assert codes(recommend_for(logged(rpe=9), ladder=other, as_of=T0 + timedelta(days=2, seconds=1))) == ["break"]
    # the bottom of this two-step ladder
    assert recommend_for(logged(target=6, during=3), ladder=other, as_of=soon).action == "pause"
    assert recommend_for(ladder=other).next.exercise == "reverse-lunge"
    rested = SimpleNamespace(
        slug="rested", rules=LADDER.rules.model_copy(update=dict(min_rest_hours=48)), steps=LADDER.steps
    )
    assert unmet(recommend_for(logged(minute=0), logged(minute=DAY), ladder=rested)) == ["too_soon"]


def test_no_message_says_step_back_unless_the_action_steps_back():
    bottom = dict(exercise="half-squat-hold", target=5, sets=[5, 5, 5])
    histories = [
        [logged(**bottom, during=6)],
        [logged(**bottom, next_morning=5)],
        [logged(**bottom, during=9)],
        [logged(**bottom | {"sets": [4]}, minute=0), logged(**bottom | {"sets": [4]}, minute=1)],
    ]
    for history in histories:
        result = recommend_for(*history)
        assert result.action in ("pause", "repeat")
        assert all("step back" not in r.message.lower() for r in result.reasons), result
    assert recommend_for(logged(during=6)).reasons[0].message.count("step back") == 1
    bottom_break = recommend_for(logged(**bottom, rpe=6), as_of=T0 + timedelta(days=30))
    assert "step back" not in bottom_break.reasons[0].message


# -- properties -----------------------------------------------------------------------------------------

session_strategy = st.fixed_dictionaries(
    {
        "exercise": st.sampled_from(LADDER_EXERCISES + [OFF_LADDER]),
        "target": st.integers(1, 14),
        "minute": st.integers(0, 6 * DAY),
        "rpe": st.none() | st.integers(0, 10),
        "during": st.integers(0, 10),
        "after": st.none() | st.integers(0, 10),
        "before": st.none() | st.integers(0, 10),
        "next_morning": st.none() | st.integers(0, 10),
        "faults": st.integers(0, 1),
        "support": st.booleans(),
        "short": st.booleans(),
        "flags": st.sampled_from([(), (), (), (SEE_CLINICIAN,)]),
    }
)


def _to_logged(item) -> LoggedSession:
    """A drawn `session_strategy` item as a logged session (complete, or one short set)."""
    sets = [item["target"]] * 3 if not item["short"] else [max(item["target"] - 1, 0)]
    fields = {k: v for k, v in item.items() if k not in ("short", "exercise", "target")}
    return logged(item["exercise"], item["target"], sets=sets, **fields)


@settings(max_examples=300, deadline=None)
@given(items=st.lists(session_strategy, max_size=6), days=st.integers(0, 10))
def test_unmet_is_non_empty_exactly_on_keep_practising(items, days):
    result = recommend_for(*map(_to_logged, items), as_of=T0 + timedelta(days=days))
    for reason in result.reasons:
        assert bool(reason.unmet) == (reason.code == "keep_practising")
        assert list(reason.unmet) == [c for c in UNMET_ORDER if c in reason.unmet]
        assert len(set(reason.unmet)) == len(reason.unmet)
    assert (result.resume is not None) == (result.action == "pause" and codes(result)[0] != "red_flag")


@settings(max_examples=300, deadline=None)
@given(items=st.lists(session_strategy, min_size=2, max_size=6), gap=st.integers(0, 20 * 60 - 1))
def test_no_move_up_when_window_sessions_are_closer_than_min_rest_hours(items, gap):
    sessions = list(map(_to_logged, items))
    ladder_sessions = sorted(
        (x for x in sessions if x.exercise in LADDER_EXERCISES),
        key=lambda x: (x.performed_at, x.received_order),
    )
    if len(ladder_sessions) >= 2:
        # move the latest ladder session to within `gap` minutes of the one before it
        previous, latest = ladder_sessions[-2], ladder_sessions[-1]
        moved = LoggedSession(
            latest.id,
            latest.exercise,
            previous.performed_at + timedelta(minutes=gap),
            latest.received_order,
            latest.performance,
        )
        sessions = [moved if x is latest else x for x in sessions]
    # every session counts (as_of after all of them, within break_days)
    assert recommend_for(*sessions, as_of=T0 + timedelta(days=7)).action not in ("increase_dose", "advance_step")
