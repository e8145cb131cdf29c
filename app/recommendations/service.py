"""Recommendations: the stored and the stateless path feed the same engine, so the same history
gives the same answer either way."""

import math
from datetime import UTC, datetime

from app.catalogue.ladders import LadderIn, checked_ladder
from app.catalogue.memory import LiveCatalogue
from app.catalogue.schemas import Exercise, Progression, RoutineBlock
from app.db.transactions import Statements
from app.errors import InvalidRequest, ProblemError
from app.progression import messages
from app.progression.engine import recommend
from app.progression.model import Clearance, LoggedSession, Recommendation
from app.recommendations.history import read_history
from app.recommendations.schemas import EvaluatedSessionIn, EvaluateIn, RecommendationOut, TodaysRoutine
from app.sessions.checks import check_against_catalogue
from app.sessions.documents import content_of, performance

SECONDS_PER_REP = 3
STEP_REST_SECONDS = 60  # between the sets of a partner ladder's step (the built-in ladder says its own)


DRAFT_RULES_VERSION = "draft"


def _session_problems(
    item: EvaluatedSessionIn, ladder: Progression, catalogue: LiveCatalogue, *, draft: bool
) -> list[ProblemError]:
    """A session checked as a post would be; one naming a draft ladder names it by its slug
    (the draft is in no catalogue), and must be of one of its steps."""
    if not (draft and item.progression == ladder.slug):
        return check_against_catalogue(item, catalogue)
    problems = check_against_catalogue(item.model_copy(update={"progression": None}), catalogue)
    if not any(step.exercise == item.exercise for step in ladder.steps):
        msg = f"there is no ladder {ladder.slug!r} with {item.exercise!r} as a step"
        problems.insert(0, ProblemError(loc=["progression"], msg=msg))
    return problems


def _answer(
    catalogue: LiveCatalogue, ladder: Progression, result: Recommendation, as_of: datetime, *, draft: bool = False
) -> RecommendationOut:
    return RecommendationOut.model_validate(
        {
            "progression": ladder.slug,
            "as_of": as_of,
            "rules_version": DRAFT_RULES_VERSION if draft else catalogue.rules_version(ladder.slug),
            "action": result.action,
            "current": result.current,
            "next": result.next,
            "resume": result.resume,
            "reasons": result.reasons,
        },
        from_attributes=True,
    )


async def recommend_from_history(
    *,
    statements: Statements,
    catalogue: LiveCatalogue,
    partner_id: int,
    user_id: str,
    progression: str,
    as_of: datetime | None,
) -> RecommendationOut:
    """From stored sessions and clearances: only the part of the history the rules can look at
    is read (`app.recommendations.history`: indexed, whatever the history's length)."""
    ladder = catalogue.progression(progression)
    as_of = as_of or datetime.now(UTC)
    history = await read_history(
        statements=statements, ladder=ladder, partner_id=partner_id, user_id=user_id, as_of=as_of
    )
    result = recommend(ladder, history.sessions, as_of, clearances=history.clearances, guidance=catalogue.guidance)
    return _answer(catalogue, ladder, result, as_of)


def evaluate(*, catalogue: LiveCatalogue, body: EvaluateIn) -> RecommendationOut:
    """From sessions sent in the request, counted as received in their order, on a ladder of
    the catalogue or a draft one (checked as a published one is); nothing stored."""
    draft = isinstance(body.progression, LadderIn)
    if isinstance(body.progression, LadderIn):
        ladder = checked_ladder(body.progression, exercises=catalogue.exercises, at=["body", "progression"])
    else:
        ladder = catalogue.progression(body.progression)
    errors = [
        ProblemError(loc=["body", "sessions", index, *problem.loc], msg=problem.msg)
        for index, item in enumerate(body.sessions)
        for problem in _session_problems(item, ladder, catalogue, draft=draft)
    ]
    if errors:
        raise InvalidRequest.of(errors)
    as_of = body.as_of or datetime.now(UTC)
    logged = [
        LoggedSession(
            id=item.id or f"#{index}",
            exercise=item.exercise,
            progression=item.progression,
            performed_at=item.performed_at,
            received_at=item.received_at or item.performed_at,
            received_order=index,
            performance=performance(content_of(item)),
        )
        for index, item in enumerate(body.sessions)
    ]
    clearances = [Clearance(c.cleared_at, c.recorded_at or c.cleared_at) for c in body.clearances]
    result = recommend(ladder, logged, as_of, clearances=clearances, guidance=catalogue.guidance)
    return _answer(catalogue, ladder, result, as_of, draft=draft)


def _block_seconds(block: RoutineBlock, exercise: Exercise) -> int:
    """A rough length for planning: holds last their dose, a repetition about three seconds."""
    work = block.dose if block.unit == "seconds" else block.dose * SECONDS_PER_REP
    return block.sets * (work * (2 if exercise.per_side else 1) + block.rest_seconds)


def _dose_text(sets: int, dose: int, unit: str, exercise: Exercise) -> str:
    """ "3 x 8 reps each side": the dose of a per-side exercise counts each side."""
    return f"{sets} x {dose} {unit}{' each side' if exercise.per_side else ''}"


async def todays_routine(
    *, statements: Statements, catalogue: LiveCatalogue, partner_id: int, user_id: str, progression: str
) -> TodaysRoutine:
    """Warm-up, the recommended step, then the daily habit (as scaled for that step); on
    `pause`, no exercise at all but advice: calm for pain, urgent where a red flag calls for it."""
    recommendation = await recommend_from_history(
        statements=statements,
        catalogue=catalogue,
        partner_id=partner_id,
        user_id=user_id,
        progression=progression,
        as_of=None,
    )
    ladder = catalogue.progression(progression)
    name = f"Today on the {ladder.name.lower()}"
    step = recommendation.next  # None exactly on `pause`
    if step is None:
        return TodaysRoutine(
            slug=f"{ladder.slug}-today",
            name=name,
            duration_minutes=0,
            blocks=[],
            recommendation=recommendation,
            summary=recommendation.reasons[0].message,
        )
    exercise = catalogue.exercise(step.exercise)
    support = messages.SUPPORT_NOTES[step.support]
    # The built-in ladder wraps its step in a warm-up and a daily habit; a partner's ladder has
    # no routine of its own, so its routine is the recommended step alone.
    routine = ladder.routine
    blocks = [
        *(b for b in (routine.warm_up if routine else []) if b.applies_to(step.step)),
        RoutineBlock(
            exercise=step.exercise,
            sets=step.sets,
            dose=step.dose,
            unit=step.unit,
            rest_seconds=routine.step_rest_seconds if routine else STEP_REST_SECONDS,
            notes=" ".join(filter(None, [routine.step_notes if routine else "", support])),
        ),
        *(b for b in (routine.daily_habit if routine else []) if b.applies_to(step.step)),
    ]
    exercises = [catalogue.exercise(b.exercise) for b in blocks]
    seconds = sum(_block_seconds(b, e) for b, e in zip(blocks, exercises, strict=True))
    return TodaysRoutine(
        slug=f"{ladder.slug}-today",
        name=name,
        summary=f"{'Warm up, then' if routine and routine.warm_up else 'Today:'} "
        f"{_dose_text(step.sets, step.dose, step.unit, exercise)} of {exercise.name.lower()}"
        f" ({recommendation.reasons[0].message})",
        duration_minutes=max(1, math.ceil(seconds / 60)),
        blocks=[
            b.model_dump(include=set(RoutineBlock.model_fields))
            | {"notes": f"{_dose_text(b.sets, b.dose, b.unit, e)}. {b.notes}".strip()}
            for b, e in zip(blocks, exercises, strict=True)
        ],
        recommendation=recommendation,
    )
