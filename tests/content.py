"""What tests take from the built-in content instead of copying it: the ladder, its exercises,
an exercise on no ladder, and red-flag codes by urgency."""

from app.catalogue.content import load_content

CONTENT = load_content()
LADDER = CONTENT.progressions[0]
LADDER_EXERCISES = [step.exercise for step in LADDER.steps]
OFF_LADDER = next(e.slug for e in CONTENT.exercises if e.slug not in LADDER_EXERCISES)  # an exercise on no step

EMERGENCY = next(f.code for f in CONTENT.safety.red_flags if f.urgency == "emergency")
SEE_CLINICIAN = next(f.code for f in CONTENT.safety.red_flags if f.urgency == "see_clinician")
SAFETY_CODES = [f.code for f in CONTENT.safety.red_flags]
URGENCY = {f.code: f.urgency for f in CONTENT.safety.red_flags}
