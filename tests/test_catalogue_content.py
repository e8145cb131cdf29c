"""What the built-in catalogue says, checked against the article and current guidance (rules v3
clinical review): warning signs by urgency, bending never presented as harmful, a first step done
standing, muscles that agree with each other, and fault corrections that read well on their own."""

import re

import pytest

from app.catalogue.schemas import Exercise, LadderRoutineBlock
from tests.content import CONTENT, LADDER

FLAGS = {flag.code: flag for flag in CONTENT.safety.red_flags}
EXERCISES = {exercise.slug: exercise for exercise in CONTENT.exercises}
ROUTINES = {routine.slug: routine for routine in CONTENT.routines}
MUSCLES = {muscle.slug: muscle for muscle in CONTENT.muscles}
ROUTINE = LADDER.routine
STEPS = [step.step for step in LADDER.steps]
FAULT_CODES = {"thigh_dominant", "hips_uneven", "leaning_sideways", "short_depth", "spine_bending"}
# Codes partners have stored with their users' sessions since v1: never renamed or dropped.
V1_CODES = {
    "bladder_bowel_change",
    "saddle_numbness",
    "worsening_leg_weakness",
    "fever_or_unwell",
    "unexplained_weight_loss",
    "cancer_history",
    "recent_fall_or_injury",
    "constant_night_pain",
    "pain_below_knee_with_numbness",
}
HISTORIES = ("cancer_history", "steroids_or_osteoporosis", "weakened_immune_system")
# Step 1's everyday habit: a half squat with a support, on no ladder step (unlike half-squat-hold).
STEP_ONE_HABIT = "supported-half-squat-habit"


def _blocks_on(step: int) -> tuple[list[LadderRoutineBlock], list[LadderRoutineBlock]]:
    assert ROUTINE is not None
    return (
        [b for b in ROUTINE.warm_up if b.applies_to(step)],
        [b for b in ROUTINE.daily_habit if b.applies_to(step)],
    )


def _on_floor_or_knees(exercise: Exercise) -> bool:
    """Done lying or kneeling: by its tags, or by what its instructions ask."""
    asks = " ".join(exercise.instructions).lower()
    return bool({"floor", "kneeling"} & set(exercise.tags)) or bool(re.search(r"\b(lie|lying|kneel\w*)\b", asks))


def _texts(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _texts(item)]
    if isinstance(value, list):
        return [text for item in value for text in _texts(item)]
    return []


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?;:])\s+", text.strip()) if s]


# --- warning signs (red flags) ---------------------------------------------------------------


def test_every_red_flag_has_one_of_the_three_urgencies():
    assert {flag.urgency for flag in FLAGS.values()} == {"emergency", "urgent", "see_clinician"}


def test_codes_partners_stored_are_all_kept():
    assert V1_CODES <= set(FLAGS)


def test_fever_or_feeling_unwell_means_a_doctor_today():
    fever = FLAGS["fever_or_unwell"]
    assert fever.urgency == "urgent" and "doctor today" in fever.description


@pytest.mark.parametrize(
    ("code", "urgency"),
    [
        ("both_legs_symptoms", "emergency"),
        ("new_sexual_dysfunction", "emergency"),
        ("steroids_or_osteoporosis", "see_clinician"),
        ("weakened_immune_system", "see_clinician"),
    ],
)
def test_new_warning_signs_have_their_urgency(code, urgency):
    assert FLAGS[code].urgency == urgency


def test_emergency_flags_say_get_emergency_care_now_not_today():
    emergencies = [flag for flag in FLAGS.values() if flag.urgency == "emergency"]
    assert {"bladder_bowel_change", "saddle_numbness", "worsening_leg_weakness"} <= {f.code for f in emergencies}
    for flag in emergencies:
        text = flag.description.lower()
        assert "emergency care now" in text and "emergency department" in text and "emergency number" in text
        assert "today" not in text and "same day" not in text


def test_see_clinician_flags_say_get_checked_before_exercising_again():
    for flag in FLAGS.values():
        if flag.urgency == "see_clinician":
            assert "before you exercise again" in flag.description, flag.code
            assert "today" not in flag.description and "emergency" not in flag.description.lower()


def test_a_history_is_a_warning_sign_never_a_symptom():
    for code in HISTORIES:
        flag = FLAGS[code]
        assert "symptom" not in (flag.name + flag.description).lower(), code
        assert "warning sign" in flag.description, code


def test_every_exercise_repeats_the_warning_signs_by_urgency():
    for exercise in CONTENT.exercises:
        safety = " ".join(exercise.safety)
        assert "emergency care now" in safety and "emergency department" in safety, exercise.slug
        assert "both legs" in safety and "sexual" in safety and "bladder" in safety, exercise.slug
        assert re.search(r"doctor today[^.]*fever|fever[^.]*doctor today", safety), exercise.slug
        assert "warning signs" in safety and "urgent medical care" not in safety, exercise.slug


# --- bending is normal ---------------------------------------------------------------------------

# Ways of presenting bending (or using the back) as something to avoid or that does harm.
HARMFUL_BENDING = [
    r"\b(instead of|rather than|not by|avoid\w*|never|don't|do not|without)\s+(\w+\s+){0,2}bend",
    r"\bbend\w*[^.]{0,60}\b(harm|injur|damag|risk|danger|strain|wear)",
    r"\bnot (with )?(your|the) (lower )?back\b",
    r"\b(protect|save|spare|shield)\w* (your|the) (lower )?back\b",
    r"\bdiscs?\b",
    r"\bstraight back\b",
]


def _content_texts() -> list[tuple[str, str]]:
    """Every text a person reads about exercising: exercises, routines, ladders, muscles, sources."""
    owners = [
        *((f"exercise {e.slug}", e.model_dump(exclude={"safety", "sources"})) for e in CONTENT.exercises),
        *((f"routine {r.slug}", r.model_dump()) for r in CONTENT.routines),
        *((f"progression {p.slug}", p.model_dump(include={"name", "goal", "routine"})) for p in CONTENT.progressions),
        *((f"muscle {m.slug}", m.model_dump()) for m in CONTENT.muscles),
    ]
    return [(owner, text) for owner, value in owners for text in _texts(value)]


def test_no_text_presents_bending_as_harmful():
    texts = _content_texts()
    assert len(texts) > 100  # the walk reaches the nested texts
    found = [(owner, text) for owner, text in texts for p in HARMFUL_BENDING if re.search(p, text, re.IGNORECASE)]
    assert found == []


@pytest.mark.parametrize("slug", ["lunge-to-reach-floor", STEP_ONE_HABIT])
def test_daily_habits_are_offered_as_an_option_next_to_bending(slug):
    habit = EXERCISES[slug]
    said = " ".join([habit.summary, *habit.instructions, *habit.cues])
    assert re.search(r"bending[^.;]*\b(normal|safe|fine)\b", said, re.IGNORECASE)
    assert "option" in said
    goal = LADDER.goal.lower()
    assert "bending" not in goal or "option" in goal


# --- step 1 is done standing -------------------------------------------------------------------


def test_floor_and_kneeling_detection_sees_the_bridge_and_the_kneeling_stretch():
    assert _on_floor_or_knees(EXERCISES["glute-bridge"])
    assert _on_floor_or_knees(EXERCISES["kneeling-hip-flexor-stretch"])
    assert not _on_floor_or_knees(EXERCISES["half-squat-hold"])
    assert not _on_floor_or_knees(EXERCISES[STEP_ONE_HABIT])


def test_step_one_routine_is_standing_with_a_supported_half_squat_habit():
    warm_up, habit = _blocks_on(1)
    slugs = [b.exercise for b in warm_up + habit]
    assert not [s for s in slugs if _on_floor_or_knees(EXERCISES[s])]
    assert "lunge-to-reach-floor" not in slugs
    assert [b.exercise for b in warm_up] == ["standing-glute-squeeze", "standing-hip-flexor-stretch"]
    assert [b.exercise for b in habit] == [STEP_ONE_HABIT]
    assert "support" in habit[0].notes
    exercise = EXERCISES[STEP_ONE_HABIT]
    assert "half squat" in exercise.name.lower() and "sturdy-support" in exercise.equipment


def test_no_daily_habit_is_a_ladder_step():
    """A partner may log each block of the day as a session: a habit that were a ladder step would
    be logged as that step and become the ladder's latest session, moving the person's position."""
    on_ladders = {step.exercise for progression in CONTENT.progressions for step in progression.steps}
    habits = {b.exercise for p in CONTENT.progressions if p.routine for b in p.routine.daily_habit}
    assert STEP_ONE_HABIT in habits and not habits & on_ladders


def test_step_one_habit_is_a_complete_supported_exercise():
    exercise = EXERCISES[STEP_ONE_HABIT]
    assert {"daily-habit", "standing"} <= set(exercise.tags) and exercise.level == 1
    assert (exercise.unit, exercise.per_side) == ("reps", False)
    assert len(exercise.instructions) >= 3 and exercise.cues and exercise.safety
    assert exercise.faults and {f.code for f in exercise.faults} <= FAULT_CODES
    assert all(f.description and f.correction for f in exercise.faults)
    assert exercise.muscles.primary[0] == "gluteus-maximus"
    assert exercise.sources[0].kind == "article"
    said = " ".join([*exercise.instructions, *exercise.safety]).lower()
    assert "support" in said and exercise.equipment == ["sturdy-support"]


def test_floor_and_kneeling_warm_ups_start_at_step_two():
    for step in STEPS:
        warm_up, _ = _blocks_on(step)
        slugs = [b.exercise for b in warm_up]
        assert len(slugs) == 2, step
        assert ("glute-bridge" in slugs and "kneeling-hip-flexor-stretch" in slugs) == (step >= 2), step
        assert ("standing-glute-squeeze" in slugs) == (step == 1), step


def test_the_lunge_habit_starts_at_step_two_on_a_stool_and_reaches_the_floor_at_step_three():
    for step in STEPS:
        _, habit = _blocks_on(step)
        lunges = [b for b in habit if b.exercise == "lunge-to-reach-floor"]
        assert len(lunges) == (1 if step >= 2 else 0), step
        if step == 2:
            assert "stool" in lunges[0].notes and "support" in lunges[0].notes
        if step >= 3:
            assert "floor" in lunges[0].notes and "stool" not in lunges[0].notes


@pytest.mark.parametrize("slug", ["standing-glute-squeeze", "standing-hip-flexor-stretch"])
def test_standing_warm_ups_are_complete_exercises(slug):
    exercise = EXERCISES[slug]
    assert not _on_floor_or_knees(exercise) and {"standing", "warm-up"} <= set(exercise.tags)
    assert len(exercise.instructions) >= 3 and exercise.cues and exercise.safety and exercise.equipment
    assert exercise.faults and {f.code for f in exercise.faults} <= FAULT_CODES
    assert all(f.description and f.correction for f in exercise.faults)
    assert exercise.muscles.primary
    assert exercise.sources[0].kind == "article" and exercise.level == 1


def test_first_session_routine_is_standing_and_starts_the_ladder_at_its_first_position():
    first = ROUTINES["ten-minute-starter"]
    assert not [b.exercise for b in first.blocks if _on_floor_or_knees(EXERCISES[b.exercise])]
    assert "lunge-to-reach-floor" not in [b.exercise for b in first.blocks]
    step_one = LADDER.steps[0]
    assert [(b.exercise, b.sets, b.dose) for b in first.blocks if b.exercise == step_one.exercise] == [
        (step_one.exercise, step_one.sets, step_one.start)
    ]


def test_daily_floor_reach_says_it_starts_at_step_two():
    notes = " ".join(b.notes for b in ROUTINES["daily-floor-reach"].blocks)
    assert "step 2" in notes and "stool" in notes


# --- muscles -------------------------------------------------------------------------------------


def test_glutes_lead_and_no_quadriceps_muscle_claims_the_load():
    assert re.search(r"\bmain muscle\b", MUSCLES["gluteus-maximus"].description)
    for muscle in CONTENT.muscles:
        if muscle.group == "quadriceps":
            assert not re.search(r"\b(most|much) of the (load|work)\b|\bmain\b|\bprimary\b", muscle.description)
    for step in LADDER.steps:
        assert EXERCISES[step.exercise].muscles.primary[0] == "gluteus-maximus", step.exercise


def test_iliopsoas_makes_no_claim_about_arching_the_back():
    assert "arch" not in MUSCLES["iliopsoas"].description.lower()


# --- fault corrections, quoted on their own by rule 7 ---------------------------------------------


def test_every_correction_is_one_short_sentence():
    for exercise in CONTENT.exercises:
        for fault in exercise.faults:
            where = f"{exercise.slug} {fault.code}"
            text = fault.correction
            assert text[0].isupper() and text.endswith("."), where
            assert len(_sentences(text)) == 1 and ";" not in text, where
            assert len(text.split()) <= 25, where


def test_unsupported_steps_name_the_easier_version_as_a_correction():
    assert "supported version" in {f.code: f for f in EXERCISES["reverse-lunge"].faults}["leaning_sideways"].correction
    for step in LADDER.steps:
        if step.support == "none":
            corrections = [f.correction for f in EXERCISES[step.exercise].faults]
            assert any("back to" in c for c in corrections), step.exercise


def test_catalogue_sentences_stay_short():
    texts = [*_content_texts(), *((f"flag {f.code}", f.description) for f in FLAGS.values())]
    texts += [(f"safety of {e.slug}", s) for e in CONTENT.exercises for s in e.safety]
    long = [(owner, s) for owner, text in texts for s in _sentences(text) if len(s.split()) > 25]
    assert long == []
