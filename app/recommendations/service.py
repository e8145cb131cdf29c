"""Recommendations: the stored and the stateless path feed the same engine, so the same history
gives the same answer either way."""

import math
from datetime import UTC, datetime

from sqlmodel import Session

from app.catalogue.memory import LiveCatalogue
from app.catalogue.schemas import Exercise, Progression, RoutineBlock
from app.errors import InvalidRequest, ProblemError
from app.progression.engine import LoggedSession, Recommendation, recommend, window
from app.recommendations.schemas import EvaluateIn, RecommendationOut, TodaysRoutine

SECONDS_PER_REP = 3
PAUSE_ADVICE = (
    "Stop: pain reached the level at which the ladder pauses. Do no exercise from it today, and "
    "seek clinical advice before you carry on."
)
from app.sessions.service import check_against_catalogue, latest_of_exercises_query, performance_of_body, performance_of_row


def _answer(catalogue: LiveCatalogue, ladder: Progression, result: Recommendation, as_of: datetime) -> RecommendationOut:
    return RecommendationOut.model_validate(
        {
            "progression": ladder.slug,
            "as_of": as_of,
            "rules_version": catalogue.rules_version(ladder.slug),
            "action": result.action,
            "current": result.current,
            "next": result.next,
            "reasons": result.reasons,
        },
        from_attributes=True,
    )


def recommend_from_history(
    *, session: Session, catalogue: LiveCatalogue, partner_id: int, user_id: str, progression: str, as_of: datetime | None
) -> RecommendationOut:
    """From stored sessions: only the latest few the rules can look at are loaded (indexed)."""
    ladder = catalogue.progression(progression)
    as_of = as_of or datetime.now(UTC)
    query = latest_of_exercises_query(
        partner_id=partner_id,
        user_id=user_id,
        exercises=sorted({step.exercise for step in ladder.steps}),
        as_of=as_of,
        limit=window(ladder),
    )
    logged = [
        LoggedSession(
            id=row.id,
            exercise=row.exercise,
            performed_at=row.performed_at,
            received_order=row.seq,
            performance=performance_of_row(row.model_dump()),
        )
        for row in session.execute(query).scalars()
    ]
    return _answer(catalogue, ladder, recommend(ladder, logged, as_of), as_of)


def evaluate(*, catalogue: LiveCatalogue, body: EvaluateIn) -> RecommendationOut:
    """From sessions sent in the request, counted as received in their order; nothing stored."""
    ladder = catalogue.progression(body.progression)
    errors = [
        ProblemError(loc=["body", "sessions", index, *problem.loc], msg=problem.msg)
        for index, item in enumerate(body.sessions)
        for problem in check_against_catalogue(item, catalogue)
    ]
    if errors:
        raise InvalidRequest(errors[0].msg if len(errors) == 1 else f"{len(errors)} problems; see errors.", errors=errors)
    as_of = body.as_of or datetime.now(UTC)
    logged = [
        LoggedSession(
            id=item.id or f"#{index}",
            exercise=item.exercise,
            performed_at=item.performed_at,
            received_order=index,
            performance=performance_of_body(item),
        )
        for index, item in enumerate(body.sessions)
    ]
    return _answer(catalogue, ladder, recommend(ladder, logged, as_of), as_of)


def _block_seconds(block: RoutineBlock, exercise: Exercise) -> int:
    """A rough length for planning: holds last their dose, a repetition about three seconds."""
    work = block.dose if block.unit == "seconds" else block.dose * SECONDS_PER_REP
    return block.sets * (work * (2 if exercise.per_side else 1) + block.rest_seconds)


def todays_routine(
    *, session: Session, catalogue: LiveCatalogue, partner_id: int, user_id: str, progression: str
) -> TodaysRoutine:
    """Warm-up, the recommended step, then the daily habit; on `pause`, no exercise at all but
    the advice to stop and seek clinical advice."""
    recommendation = recommend_from_history(
        session=session, catalogue=catalogue, partner_id=partner_id, user_id=user_id, progression=progression, as_of=None
    )
    ladder = catalogue.progression(progression)
    name = f"Today on the {ladder.name.lower()}"
    if recommendation.action == "pause" or ladder.routine is None:
        return TodaysRoutine(
            slug=f"{ladder.slug}-today", name=name, duration_minutes=0, blocks=[], recommendation=recommendation,
            summary=PAUSE_ADVICE if recommendation.action == "pause" else "This ladder has no daily routine.",
        )
    step = recommendation.next
    blocks = [
        *ladder.routine.warm_up,
        RoutineBlock(
            exercise=step.exercise, sets=step.sets, dose=step.dose, unit=step.unit,
            rest_seconds=ladder.routine.step_rest_seconds, notes=ladder.routine.step_notes,
        ),
        *ladder.routine.daily_habit,
    ]
    seconds = sum(_block_seconds(b, catalogue.exercise(b.exercise)) for b in blocks)
    return TodaysRoutine(
        slug=f"{ladder.slug}-today",
        name=name,
        summary=f"Warm up, then {step.sets} x {step.dose} {step.unit} of {catalogue.exercise(step.exercise).name.lower()}"
        f" ({recommendation.reasons[0].message})",
        duration_minutes=max(1, math.ceil(seconds / 60)),
        blocks=[b.model_dump() for b in blocks],
        recommendation=recommendation,
    )
