"""The sentences a person reads in a recommendation's reasons and a paused routine.

Plain words and short sentences. Each message matches the action actually taken (at the easiest
position nothing says "step back"; a pause mentions an easier level only when there is one),
and numbers come from the ladder's own thresholds. Partners key on reason codes; these words may
be reworded.
"""

from collections.abc import Sequence

from app.progression.model import Action, ReasonCode, Rules, UnmetCode, Urgency
from app.progression.thresholds import BY_UNMET

NO_HISTORY = "No sessions on this ladder yet. Start at the first step, at its easiest dose."

# Calm and plain: flare-ups are common and usually settle; gentle movement helps.
PAUSE_ADVICE = (
    "Take a break from these exercises for now. Flare-ups of back pain are common and usually settle within days. "
    "Keep moving gently in your everyday life, with short walks and your usual activities as comfort allows."
)

# By the most urgent red flag reported; each says when the exercises start again.
RED_FLAG = {
    "emergency": (
        "You reported a warning sign that needs emergency care: get care now at an emergency department, or "
        "call your local emergency number, and do no more of these exercises. "
        "They restart once a clinician has checked you and cleared you to exercise."
    ),
    "urgent": (
        "You reported a warning sign that needs a doctor today. Stop these exercises and see a doctor today. "
        "They restart once a clinician has checked you and cleared you to exercise."
    ),
    "see_clinician": (
        "You reported a warning sign that a doctor or physiotherapist should check. "
        "Pause these exercises and see one before you exercise again. "
        "They restart once a clinician has cleared you to exercise."
    ),
}

# Added to the notes of today's step in a routine, by the step's support.
SUPPORT_NOTES = {
    "required": "Keep a hand on a sturdy support (a worktop or the back of a heavy chair) throughout.",
    "optional": "Rest a hand on a sturdy support if you need it for balance.",
    "none": "No support: if you find you need to hold on, say so when you log the session.",
}

_MOVE = {
    "increase_dose": "Move up to a higher dose of the same exercise.",
    "advance_step": "Move on to the next exercise on the ladder.",
    "decrease_dose": "Step back to a lower dose of the same exercise.",
    "regress_step": "Step back to the previous exercise on the ladder.",
}

# Borg CR10 labels, for "no harder than ..." (4 is "somewhat hard").
_EFFORT = {
    0: "no effort at all",
    1: "very light",
    2: "light",
    3: "moderate",
    4: "somewhat hard",
    5: "hard",
    6: "hard",
    7: "very hard",
    8: "very hard",
    9: "very hard",
    10: "as hard as possible",
}


def _sessions(count: int) -> str:
    return f"{count} session" if count == 1 else f"{count} sessions"


def _words(code: str) -> str:
    """A fault code as words: `hips_uneven` -> "Hips uneven"."""
    return code.replace("_", " ").capitalize()


def for_reason(
    code: ReasonCode,
    action: Action,
    rules: Rules,
    *,
    urgency: Urgency = "see_clinician",
    easier: bool = False,
    days: int = 0,
    positions: int = 1,
    sessions: int = 0,
    faults: Sequence[tuple[str, str | None]] = (),
) -> str:
    """The message of reason `code` when the answer's action is `action` (every code but
    `keep_practising`, which `keep_practising` words)."""
    if code == "red_flag":
        return RED_FLAG[urgency]
    if code == "no_history":
        return NO_HISTORY
    if code == "ladder_complete":
        return "You have reached the top of the ladder. Keep practising this level to stay strong."
    if code == "ready_to_progress":
        return (
            f"Your last {_sessions(sessions)} here were complete and felt easy enough, and pain stayed within "
            f"the limits. {_MOVE[action]}"
        )
    if code == "pain_stop":
        restart = "at the easier level suggested" if easier else "at the level suggested"
        return (
            f"Pain reached {rules.pain_stop} out of 10 or more. {PAUSE_ADVICE} "
            f"Rest at least 24 hours, then restart {restart}."
        )
    if code == "break":
        cause = f"Your last session on this ladder was {days} days ago."
        if action == "repeat":
            return f"{cause} Ease back in at this easiest level."
        lower = "one level lower" if positions == 1 else f"{positions} levels lower"
        return f"{cause} Ease back in {lower}, then build up again."
    if code == "form_faults":
        cause = f"Form faults came up in each of your last {_sessions(rules.fault_streak)}."
        if action == "repeat":
            advice = "Stay at this easiest level and work on your form."
        elif action == "regress_step":
            advice = "Go back to the easier exercise before this one and work on your form there."
        else:
            advice = "Step back to a lower dose and work on your form."
        fixes = " ".join(f"{_words(code)}: {fix}" if fix else f"{_words(code)}." for code, fix in faults)
        return f"{cause} {advice} {fixes}".strip()
    cause = {
        "pain_above_limit": f"Pain during or after a recent session went above {rules.pain_limit} out of 10.",
        "flare": "Pain the next morning after a recent session was higher than before it and had not settled.",
        "leg_symptoms_spreading": "Leg symptoms after a recent session reached further down the leg than before it.",
        "incomplete_streak": f"Your last {_sessions(rules.incomplete_streak)} at this level were not completed.",
    }[code]
    if action == "pause":  # rule 5 at the easiest position
        return (
            f"{cause} Even the easiest level did not settle. {PAUSE_ADVICE} "
            "Rest for more than two days, then try this level again once it has settled."
        )
    if action == "repeat":  # rule 6 at the easiest position
        return f"{cause} Stay at this easiest level and repeat it until every set is complete."
    return f"{cause} {_MOVE[action]}"


def keep_practising(unmet: Sequence[UnmetCode], rules: Rules) -> str:
    """Rule 9: one short item for each thing still missing."""
    return " ".join(["Keep practising at this level before moving up.", *(_unmet_item(code, rules) for code in unmet)])


def _unmet_item(code: UnmetCode, rules: Rules) -> str:
    threshold = BY_UNMET.get(code)
    if threshold is not None and threshold.missing is not None:  # a threshold's own sentence
        value = getattr(rules, threshold.name)
        rest = f", each at least {rules.min_rest_hours} hours after the one before." if rules.min_rest_hours else "."
        return threshold.missing.format(
            value=value, sessions=_sessions(value), effort=_EFFORT.get(value, ""), rest=rest
        )
    return {
        "not_completed": "Complete every set at the planned dose.",
        "rpe_missing": "Record how hard each session felt, from 0 to 10.",
        "faults": "Do the movement without the form faults that were noted.",
        "support_used": "Do this exercise without holding on to a support.",
        "red_flag": "A session with a warning sign does not count, even once a clinician has cleared you.",
        "leg_symptoms": "Leg symptoms should not spread or reach below the knee. "
        "If symptoms below the knee keep coming back, get them checked by a clinician.",
        "next_morning_missing": "Record how your back felt the next morning after each session.",
    }[code]
