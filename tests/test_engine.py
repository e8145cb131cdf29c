"""The progression engine, rule by rule and boundary by boundary (pure functions, no I/O)."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from app.catalogue.content import load_content
from app.progression.engine import LoggedSession, Pain, Performance, positions, recommend

LADDER = load_content().progressions[0]
T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
AS_OF = T0 + timedelta(days=2)
_counter = iter(range(10**6))


def s(exercise="reverse-lunge", target=8, *, minute=0, sets=None, rpe=4, during=1, after=None, before=None,
      next_morning=None, faults=0, support=False, id=None) -> LoggedSession:
    order = next(_counter)
    doses = tuple(sets if sets is not None else [target] * 3)
    return LoggedSession(
        id=id or f"s{order}", exercise=exercise, performed_at=T0 + timedelta(minutes=minute), received_order=order,
        performance=Performance(target, doses, rpe, Pain(during, before, after, next_morning), support, faults),
    )


def rec(*sessions, as_of=AS_OF, ladder=LADDER):
    return recommend(ladder, list(sessions), as_of)


def where(prescription):
    return None if prescription is None else (prescription.exercise, prescription.dose)


def codes(result):
    return [r.code for r in result.reasons]


def test_ladder_has_25_positions():
    assert len(positions(LADDER)) == 25


def test_no_history_starts_at_the_bottom():
    result = rec()
    assert (result.action, result.current, where(result.next), codes(result)) == ("start", None, ("half-squat-hold", 5), ["no_history"])
    assert result.next.sets == 3 and result.next.unit == "seconds"


def test_worked_example_progresses():
    result = rec(s(rpe=4, during=2, minute=0), s(rpe=3, during=1, minute=10))
    assert result.action == "increase_dose" and where(result.next) == ("reverse-lunge", 10) and result.next.sets == 3
    assert codes(result) == ["ready_to_progress"] and len(result.reasons[0].session_ids) == 2
    assert where(result.current) == ("reverse-lunge", 8)


def test_worked_example_with_pain_six_decreases():
    result = rec(s(rpe=4, during=2, minute=0), s(rpe=3, during=6, minute=10))
    assert (result.action, where(result.next), codes(result)) == ("decrease_dose", ("reverse-lunge", 6), ["pain_above_limit"])


def test_worked_example_at_start_dose_regresses_a_step():
    result = rec(s(target=6, during=6))
    assert (result.action, where(result.next)) == ("regress_step", ("supported-reverse-lunge", 10))
    assert result.next.sets == 2 and result.next.support == "required"


@pytest.mark.parametrize(
    ("pain", "action"),
    [
        (dict(during=8), "pause"), (dict(during=7), "decrease_dose"), (dict(during=1, after=8), "pause"),
        (dict(during=1, next_morning=8, before=8), "pause"), (dict(during=1, next_morning=7, before=7), "repeat"),
        (dict(during=10, after=10, next_morning=10), "pause"),
    ],
)
def test_pain_stop_pauses_at_or_above_the_threshold(pain, action):
    result = rec(s(**pain))
    assert result.action == action
    if action == "pause":
        assert result.next is None and codes(result) == ["pain_stop"] and where(result.current) == ("reverse-lunge", 8)


@pytest.mark.parametrize(
    ("pain", "expected"),
    [
        (dict(during=5), []), (dict(during=6), ["pain_above_limit"]), (dict(during=1, after=5), []),
        (dict(during=1, after=6), ["pain_above_limit"]),
        (dict(during=1, next_morning=1), []), (dict(during=1, next_morning=2), ["flare"]),
        (dict(during=1, before=3, next_morning=4), []), (dict(during=1, before=3, next_morning=5), ["flare"]),
        (dict(during=6, before=0, next_morning=2), ["pain_above_limit", "flare"]),
    ],
)
def test_pain_limit_and_flare_boundaries(pain, expected):
    result = rec(s(**pain))
    if expected:
        assert result.action == "decrease_dose" and codes(result) == expected and where(result.next) == ("reverse-lunge", 6)
    else:
        assert result.action == "repeat" and codes(result) == ["keep_practising"]


def test_pain_above_limit_at_the_bottom_pauses():
    result = rec(s("half-squat-hold", 5, during=6, sets=[5, 5, 5]))
    assert (result.action, result.next, codes(result)) == ("pause", None, ["pain_above_limit"])


def test_flare_at_the_bottom_pauses_with_flare_reason():
    result = rec(s("half-squat-hold", 5, next_morning=3, sets=[5, 5, 5]))
    assert (result.action, codes(result)) == ("pause", ["flare"])


def test_incomplete_streak_moves_down():
    result = rec(s(sets=[8, 8, 7], minute=0), s(sets=[8, 6], minute=1))
    assert (result.action, where(result.next), codes(result)) == ("decrease_dose", ("reverse-lunge", 6), ["incomplete_streak"])
    assert len(result.reasons[0].session_ids) == 2


def test_one_incomplete_session_is_not_a_streak():
    assert rec(s(sets=[8, 8, 8], minute=0, rpe=6), s(sets=[8, 6], minute=1)).action == "repeat"
    assert rec(s(sets=[8, 6])).action == "repeat"


def test_incomplete_sessions_at_different_positions_are_not_a_streak():
    result = rec(s(target=10, sets=[10, 8], minute=0), s(target=8, sets=[8, 6], minute=1))
    assert codes(result) == ["keep_practising"]


def test_incomplete_streak_at_the_bottom_repeats():
    result = rec(s("half-squat-hold", 5, sets=[5], minute=0), s("half-squat-hold", 5, sets=[5, 4], minute=1))
    assert (result.action, codes(result), where(result.next)) == ("repeat", ["incomplete_streak"], ("half-squat-hold", 5))


@pytest.mark.parametrize(("gap", "broke"), [(timedelta(days=14), False), (timedelta(days=14, seconds=1), True)])
def test_break_boundary(gap, broke):
    result = rec(s(rpe=6), as_of=T0 + gap)
    assert codes(result) == (["break"] if broke else ["keep_practising"])
    if broke:
        assert result.action == "decrease_dose"


def test_break_at_the_bottom_repeats():
    result = rec(s("half-squat-hold", 5, sets=[5, 5, 5], rpe=6), as_of=T0 + timedelta(days=30))
    assert (result.action, codes(result)) == ("repeat", ["break"])


def test_break_is_checked_before_progress():
    result = rec(s(minute=0), s(minute=1), as_of=T0 + timedelta(days=20))
    assert codes(result) == ["break"]


@pytest.mark.parametrize(
    ("change", "progresses"),
    [
        (dict(), True), (dict(rpe=5), False), (dict(rpe=None), False), (dict(during=4), False), (dict(after=4), False),
        (dict(after=3), True), (dict(faults=1), False), (dict(support=True), False), (dict(sets=[8, 8]), False),
        (dict(next_morning=2, before=1), True), (dict(during=3, before=0, next_morning=1), True),
    ],
)
def test_qualifying_boundaries(change, progresses):
    result = rec(s(minute=0), s(minute=1, **change))
    assert (result.action == "increase_dose") == progresses


def test_support_is_allowed_where_the_step_allows_it():
    result = rec(*(s("supported-reverse-lunge", 4, sets=[4, 4], support=True, minute=m) for m in range(2)))
    assert (result.action, where(result.next)) == ("increase_dose", ("supported-reverse-lunge", 6))


def test_streak_needs_the_same_position():
    result = rec(s(target=8, minute=0), s(target=10, minute=1))
    assert codes(result) == ["keep_practising"] and where(result.current) == ("reverse-lunge", 10)


def test_top_of_a_step_advances_to_the_next_step():
    result = rec(s(target=12, minute=0), s(target=12, minute=1))
    assert (result.action, where(result.next)) == ("advance_step", ("kneeling-reverse-lunge", 4))


def test_top_of_the_ladder_repeats_as_complete():
    result = rec(*(s("lateral-reverse-lunge", 12, minute=m) for m in range(2)))
    assert (result.action, codes(result), where(result.next)) == ("repeat", ["ladder_complete"], ("lateral-reverse-lunge", 12))


def test_bottom_of_a_step_regresses_to_the_previous_step_target():
    result = rec(s("kneeling-reverse-lunge", 4, sets=[4, 4], during=6))
    assert (result.action, where(result.next)) == ("regress_step", ("reverse-lunge", 12))


@pytest.mark.parametrize(
    ("target", "current", "up", "down"),
    [(7, 6, 8, ("supported-reverse-lunge", 10)), (4, 6, 8, ("supported-reverse-lunge", 10)),
     (14, 12, None, ("reverse-lunge", 10)), (11, 10, 12, ("reverse-lunge", 8))],
)
def test_off_grid_targets_snap_to_the_step_grid(target, current, up, down):
    assert where(rec(s(target=target)).current) == ("reverse-lunge", current)
    lower = rec(s(target=target, during=6))
    assert where(lower.next) == down
    higher = rec(s(target=target, minute=0), s(target=target, minute=1))
    if up:
        assert where(higher.next) == ("reverse-lunge", up)
    else:
        assert where(higher.next) == ("kneeling-reverse-lunge", 4)


def test_completed_compares_with_the_sessions_own_target():
    # target 7 counts as position 6, but completion needs doses of 7
    result = rec(s(target=7, sets=[6, 6, 6], minute=0), s(target=7, sets=[6, 6, 6], minute=1))
    assert codes(result) == ["incomplete_streak"]


def test_ties_in_performed_at_go_by_received_order():
    first, second = s(minute=5, during=6, id="a"), s(minute=5, id="b")
    assert codes(rec(first, second)) == ["keep_practising"]
    assert codes(rec(second, first)) == ["keep_practising"]  # list order is not received order
    late = s(minute=5, during=6, id="c")
    assert codes(rec(first, second, late)) == ["pain_above_limit"]


def test_sessions_after_as_of_are_ignored():
    result = rec(s(minute=0), s(minute=1), s(minute=60 * 24 * 3, during=9), as_of=T0 + timedelta(days=1))
    assert result.action == "increase_dose"


def test_sessions_of_other_exercises_neither_count_nor_break_a_streak():
    result = rec(s(minute=0), s("glute-bridge", 10, minute=1, during=9), s(minute=2))
    assert result.action == "increase_dose" and "s" not in result.reasons[0].session_ids


def test_only_other_exercises_means_no_history():
    assert rec(s("glute-bridge", 10)).action == "start"


def test_a_ladder_with_other_thresholds_is_followed_without_code_changes():
    rules = LADDER.rules.model_copy(update=dict(streak=1, easy_rpe=7, pain_ok=1, pain_limit=2, pain_stop=4, break_days=2))
    other = SimpleNamespace(slug="strict", rules=rules, steps=LADDER.steps[2:4])
    assert rec(s(rpe=6, during=1), ladder=other).action == "increase_dose"  # streak 1, easy_rpe 7
    assert rec(s(during=3), ladder=other).action == "decrease_dose"  # pain_limit 2
    assert rec(s(during=4), ladder=other).action == "pause"
    assert codes(rec(s(rpe=9), ladder=other, as_of=T0 + timedelta(days=2, seconds=1))) == ["break"]
    assert rec(s(target=6, during=3), ladder=other).action == "pause"  # bottom of this two-step ladder
    assert rec(ladder=other).next.exercise == "reverse-lunge"
