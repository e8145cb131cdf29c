"""The catalogue in the database: an idempotent sync from content, and reading it back.

`sync` makes the tables match a catalogue exactly (insert, update, delete by primary key) and
records its version; run twice with the same content, the second run changes nothing.

About 300 lines on purpose: `_rows` (catalogue -> rows) and `read` (rows -> catalogue) are the
two directions of one mapping, kept side by side so a new field is added to both in one place.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import inspect
from sqlmodel import Session, SQLModel, col, select

from app.catalogue import tables as t
from app.catalogue.schemas import (
    Catalogue,
    Equipment,
    Exercise,
    ExerciseMuscles,
    Fault,
    LadderRoutine,
    LadderRoutineBlock,
    Muscle,
    Progression,
    RedFlag,
    Routine,
    RoutineBlock,
    Rules,
    Safety,
    Source,
    Step,
)
from app.progression.model import Unit

Row = dict[str, Any]


@dataclass
class SyncReport:
    version: str
    inserted: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return any(self.inserted.values()) or any(self.updated.values()) or any(self.deleted.values())

    def summary(self) -> str:
        def total(counts: dict[str, int]) -> int:
            return sum(counts.values())

        return (
            f"catalogue {self.version}: {total(self.inserted)} rows inserted, "
            f"{total(self.updated)} updated, {total(self.deleted)} deleted"
        )


def _rows(catalogue: Catalogue) -> dict[type[SQLModel], list[Row]]:
    rows: dict[type[SQLModel], list[Row]] = defaultdict(list)
    rows[t.SafetyRow] = [dict(id=1, disclaimer=catalogue.safety.disclaimer)]
    rows[t.RedFlagRow] = [flag.model_dump() | {"position": i} for i, flag in enumerate(catalogue.safety.red_flags)]
    for position, m in enumerate(catalogue.muscles):
        rows[t.MuscleRow].append(
            dict(slug=m.slug, name=m.name, muscle_group=m.group, description=m.description, position=position)
        )
    for position, kit in enumerate(catalogue.equipment):
        rows[t.EquipmentRow].append(kit.model_dump() | {"position": position})
    sources = {s.slug: s for e in catalogue.exercises for s in e.sources}
    rows[t.SourceRow] = [s.model_dump() for s in sources.values()]
    for position, e in enumerate(catalogue.exercises):
        rows[t.ExerciseRow].append(
            e.model_dump(
                include={
                    "slug",
                    "name",
                    "summary",
                    "level",
                    "unit",
                    "per_side",
                    "instructions",
                    "cues",
                    "safety",
                    "tags",
                }
            )
            | {"position": position}
        )
        for i, fault in enumerate(e.faults):
            rows[t.ExerciseFaultRow].append(fault.model_dump() | {"exercise_slug": e.slug, "position": i})
        muscles = [(m, "primary") for m in e.muscles.primary] + [(m, "secondary") for m in e.muscles.secondary]
        for i, (muscle, role) in enumerate(muscles):
            rows[t.ExerciseMuscleRow].append(dict(exercise_slug=e.slug, muscle_slug=muscle, role=role, position=i))
        for i, slug in enumerate(e.equipment):
            rows[t.ExerciseEquipmentRow].append(dict(exercise_slug=e.slug, equipment_slug=slug, position=i))
        for i, source in enumerate(e.sources):
            rows[t.ExerciseSourceRow].append(dict(exercise_slug=e.slug, source_slug=source.slug, position=i))
    for position, p in enumerate(catalogue.progressions):
        rows[t.ProgressionRow].append(
            p.model_dump(include={"slug", "name", "goal"})
            | p.rules.model_dump()
            | {
                "position": position,
                "routine_step_rest_seconds": p.routine.step_rest_seconds if p.routine else None,
                "routine_step_notes": p.routine.step_notes if p.routine else None,
            }
        )
        for part in ("warm_up", "daily_habit"):
            for i, b in enumerate(getattr(p.routine, part) if p.routine else []):
                rows[t.ProgressionRoutineBlockRow].append(
                    b.model_dump(exclude={"exercise", "unit"})
                    | {"progression_slug": p.slug, "part": part, "position": i, "exercise_slug": b.exercise}
                )
        for s in p.steps:
            rows[t.ProgressionStepRow].append(
                s.model_dump(exclude={"exercise", "unit"}) | {"progression_slug": p.slug, "exercise_slug": s.exercise}
            )
    for position, r in enumerate(catalogue.routines):
        rows[t.RoutineRow].append(r.model_dump(exclude={"blocks"}) | {"position": position})
        for i, b in enumerate(r.blocks):
            rows[t.RoutineBlockRow].append(
                b.model_dump(exclude={"exercise", "unit"})
                | {"routine_slug": r.slug, "position": i, "exercise_slug": b.exercise}
            )
    return rows


def _table_name(model: type[SQLModel]) -> str:
    return str(model.__tablename__)


def _key(model: type[SQLModel], row: Row | SQLModel) -> tuple:
    names = [c.name for c in inspect(model).primary_key]
    if isinstance(row, dict):
        return tuple(row[n] for n in names)
    return tuple(getattr(row, n) for n in names)


def sync(*, session: Session, catalogue: Catalogue) -> SyncReport:
    report = SyncReport(version=catalogue.version)
    wanted = _rows(catalogue)
    stale: dict[type[SQLModel], list[SQLModel]] = {}
    for model in t.SYNC_ORDER:
        name = _table_name(model)
        existing = {_key(model, row): row for row in session.exec(select(model)).all()}
        inserted = updated = 0
        for values in wanted.get(model, []):
            row = existing.pop(_key(model, values), None)
            if row is None:
                session.add(model(**values))
                inserted += 1
            elif any(getattr(row, k) != v for k, v in values.items()):
                for k, v in values.items():
                    setattr(row, k, v)
                session.add(row)
                updated += 1
        session.flush()
        stale[model] = list(existing.values())
        report.inserted[name], report.updated[name] = inserted, updated
    for model in reversed(t.SYNC_ORDER):
        for row in stale[model]:
            session.delete(row)
        session.flush()
        report.deleted[_table_name(model)] = len(stale[model])

    state = session.get(t.CatalogueStateRow, 1)
    if state is None:
        session.add(t.CatalogueStateRow(id=1, version=catalogue.version, synced_at=datetime.now(UTC)))
    elif state.version != catalogue.version:
        state.version, state.synced_at = catalogue.version, datetime.now(UTC)
        session.add(state)
    session.flush()
    return report


def stored_version(*, session: Session) -> str | None:
    state = session.get(t.CatalogueStateRow, 1)
    return state.version if state else None


def _grouped(session: Session, model: type[SQLModel], parent: str) -> dict[str, list]:
    groups: dict[str, list] = defaultdict(list)
    columns = inspect(model).columns
    for row in session.exec(select(model).order_by(columns[parent], columns["position"])).all():
        groups[getattr(row, parent)].append(row)
    return groups


def read(*, session: Session) -> Catalogue | None:
    """The stored catalogue, or None before the first sync."""
    version = stored_version(session=session)
    if version is None:
        return None
    faults = _grouped(session, t.ExerciseFaultRow, "exercise_slug")
    muscles = _grouped(session, t.ExerciseMuscleRow, "exercise_slug")
    equipment = _grouped(session, t.ExerciseEquipmentRow, "exercise_slug")
    sources = {s.slug: s for s in session.exec(select(t.SourceRow)).all()}
    exercise_sources = _grouped(session, t.ExerciseSourceRow, "exercise_slug")
    exercise_units: dict[str, Unit] = {}
    exercises = []
    for row in session.exec(select(t.ExerciseRow).order_by(col(t.ExerciseRow.position))).all():
        exercise_units[row.slug] = cast(Unit, row.unit)  # checked against `Unit` by the sync
        exercises.append(
            Exercise(
                **row.model_dump(exclude={"position"}),
                faults=[
                    Fault(code=f.code, description=f.description, correction=f.correction) for f in faults[row.slug]
                ],
                muscles=ExerciseMuscles(
                    primary=[m.muscle_slug for m in muscles[row.slug] if m.role == "primary"],
                    secondary=[m.muscle_slug for m in muscles[row.slug] if m.role == "secondary"],
                ),
                equipment=[e.equipment_slug for e in equipment[row.slug]],
                sources=[Source(**sources[s.source_slug].model_dump()) for s in exercise_sources[row.slug]],
            )
        )
    steps = defaultdict(list)
    for s in session.exec(
        select(t.ProgressionStepRow).order_by(
            col(t.ProgressionStepRow.progression_slug), col(t.ProgressionStepRow.step)
        )
    ):
        steps[s.progression_slug].append(
            Step(
                **s.model_dump(exclude={"progression_slug", "exercise_slug"}),
                exercise=s.exercise_slug,
                unit=exercise_units[s.exercise_slug],
            )
        )
    rule_names = set(Rules.model_fields)
    ladder_blocks = defaultdict(list)
    for b in session.exec(
        select(t.ProgressionRoutineBlockRow).order_by(
            col(t.ProgressionRoutineBlockRow.progression_slug),
            col(t.ProgressionRoutineBlockRow.part),
            col(t.ProgressionRoutineBlockRow.position),
        )
    ):
        ladder_blocks[(b.progression_slug, b.part)].append(
            LadderRoutineBlock(
                **b.model_dump(include={"sets", "dose", "rest_seconds", "notes", "min_step", "max_step"}),
                exercise=b.exercise_slug,
                unit=exercise_units[b.exercise_slug],
            )
        )

    def ladder_routine(p: t.ProgressionRow) -> LadderRoutine | None:
        if p.routine_step_rest_seconds is None:
            return None
        return LadderRoutine(
            warm_up=ladder_blocks[(p.slug, "warm_up")],
            step_rest_seconds=p.routine_step_rest_seconds,
            step_notes=p.routine_step_notes or "",
            daily_habit=ladder_blocks[(p.slug, "daily_habit")],
        )

    progressions = [
        Progression(
            slug=p.slug,
            name=p.name,
            goal=p.goal,
            rules=Rules(**p.model_dump(include=rule_names)),
            steps=steps[p.slug],
            routine=ladder_routine(p),
        )
        for p in session.exec(select(t.ProgressionRow).order_by(col(t.ProgressionRow.position)))
    ]
    blocks = _grouped(session, t.RoutineBlockRow, "routine_slug")
    routines = [
        Routine(
            **r.model_dump(exclude={"position"}),
            blocks=[
                RoutineBlock(
                    **b.model_dump(include={"sets", "dose", "rest_seconds", "notes"}),
                    exercise=b.exercise_slug,
                    unit=exercise_units[b.exercise_slug],
                )
                for b in blocks[r.slug]
            ],
        )
        for r in session.exec(select(t.RoutineRow).order_by(col(t.RoutineRow.position)))
    ]
    disclaimer = session.get(t.SafetyRow, 1)
    red_flags = session.exec(select(t.RedFlagRow).order_by(col(t.RedFlagRow.position)))
    return Catalogue(
        version=version,
        safety=Safety(
            disclaimer=disclaimer.disclaimer if disclaimer else "",
            red_flags=[RedFlag(**f.model_dump(exclude={"position"})) for f in red_flags],
        ),
        muscles=[
            Muscle(slug=m.slug, name=m.name, group=m.muscle_group, description=m.description)
            for m in session.exec(select(t.MuscleRow).order_by(col(t.MuscleRow.position)))
        ],
        equipment=[
            Equipment(**e.model_dump(exclude={"position"}))
            for e in session.exec(select(t.EquipmentRow).order_by(col(t.EquipmentRow.position)))
        ],
        exercises=exercises,
        progressions=progressions,
        routines=routines,
    )
