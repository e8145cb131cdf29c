"""The sentences a person reads in a recommendation's reasons and a paused routine.

Each sentence matches the action actually taken (at the easiest position nothing says "step
back"), and numbers come from the ladder's own thresholds. Partners key on reason codes; these
words may be reworded.
"""

from app.progression.model import Action, ReasonCode, Rules, UnmetCode

NO_HISTORY = "No sessions on this ladder yet: start at the first step, at its easiest dose."

# Calm and plain: flare-ups are common and usually settle; gentle movement helps.
PAUSE_ADVICE = (
    "Take a break from these exercises for now. Flare-ups of back pain are common and usually settle "
    "within days. Keep moving gently in your everyday life: short walks and your usual activities, as "
    "comfort allows. Check with a physiotherapist or doctor before you start the exercises again; "
    "when you do, restart at the dose suggested."
)
RED_FLAG_URGENT_ADVICE = (
    "You reported a symptom that needs urgent medical attention. Please get urgent medical care today "
    "(call your doctor's urgent line or go to an emergency department), and do no more of these "
    "exercises until you have been seen."
)
RED_FLAG_ADVICE = (
    "You reported a symptom that a doctor or physiotherapist should check. Pause these exercises and "
    "arrange to see one soon; carry on once they have checked you and say it is fine."
)

# Added to the notes of today's step in a routine, by the step's support.
SUPPORT_NOTES = {
    "required": "Keep a hand on a sturdy support (a worktop or the back of a heavy chair) throughout.",
    "optional": "Rest a hand on a sturdy support if you need it for balance.",
    "none": "No support: if you find you need to hold on, say so when you log the session.",
}

_DOWN = {
    "decrease_dose": "step back to a lower dose of the same exercise",
    "regress_step": "step back to the previous exercise on the ladder",
}
_UP = {
    "increase_dose": "move up to a higher dose of the same exercise",
    "advance_step": "move on to the next exercise on the ladder",
}
_PAUSE = (
    "pause these exercises for now. Flare-ups are common and usually settle; keep moving gently, and check "
    "with a physiotherapist or doctor before restarting, then start again at the easier dose suggested"
)


def red_flag(*, urgent: bool) -> str:
    return RED_FLAG_URGENT_ADVICE if urgent else RED_FLAG_ADVICE


def for_action(code: ReasonCode, action: Action, rules: Rules, unmet: tuple[UnmetCode, ...] = ()) -> str:
    """The sentence for reason `code` when the answer's action is `action`."""
    if code == "keep_practising":
        return f"Keep practising at this level. To move up: {'; '.join(_unmet_phrase(u, rules) for u in unmet)}."
    if code == "ladder_complete":
        return "You have reached the top of the ladder: keep practising this level to stay strong."
    if code == "ready_to_progress":
        return (
            f"The last {_sessions(rules.streak)} here were complete, felt easy and stayed comfortable: {_UP[action]}."
        )
    cause = {
        "pain_stop": "Pain reached a level where it is best to stop",
        "pain_above_limit": "Pain during or after the last session was higher than is comfortable for progress",
        "flare": "Pain the next morning was higher than before the session and had not settled",
        "incomplete_streak": f"The last {_sessions(rules.incomplete_streak)} at this level were not completed",
        "break": f"The last session was more than {rules.break_days} days ago",
    }[code]
    if action == "pause":
        return f"{cause}: {_PAUSE}."
    if action in _DOWN:
        easing = " to ease back in" if code == "break" else ""
        return f"{cause}: {_DOWN[action]}{easing}."
    # "repeat" at the easiest position: there is nowhere lower to go.
    return f"{cause}: stay at this easiest level and repeat it{_UNTIL[code]}."


_UNTIL = {
    "flare": " until the mornings after feel settled",
    "incomplete_streak": " until every set is complete",
    "break": " to ease back in",
}


def _sessions(count: int) -> str:
    return f"{count} session" if count == 1 else f"{count} sessions"


def _unmet_phrase(code: UnmetCode, rules: Rules) -> str:
    return {
        "too_few_sessions": f"log {_sessions(rules.streak)} in a row at this level",
        "not_completed": "complete every set at the planned dose",
        "rpe_missing": "record how hard each session felt (effort from 0 to 10)",
        "rpe_above_easy": f"the effort should feel easy, {rules.easy_rpe} out of 10 or less",
        "pain_above_ok": f"pain during and after should stay at {rules.pain_ok} out of 10 or less",
        "faults": "do the movement without the form faults that were noted",
        "support_used": "do this exercise without holding on to a support",
        "flare": "next-morning pain should settle back to how it was before",
        "red_flag": "a warning symptom that was reported should be checked by a clinician first",
        "too_soon": f"leave at least {rules.min_rest_hours} hours between sessions",
        "next_morning_missing": "record how the back felt the next morning after each session",
    }[code]
