"""A ladder's thresholds, each declared once: its range, its default, what it means and how a
partner publishing a ladder is asked for it, the value of the published example, and the
`unmet` code rule 9 reports when it holds a person back, with the sentence a person reads then.

Everything else is derived from `THRESHOLDS`: the catalogue's `Rules` schema (what a served
ladder holds), the ladder a partner sends (`LadderRulesIn`, its ranges and example), the
checks it must pass, the column default of a ladder stored before a threshold existed, and the
rule-9 sentences (`app.progression.messages`).
`Rules` (the protocol the rules read) and the catalogue's table name each threshold too, and
the suite checks that they name exactly these, in this order. Adding a threshold: one entry
here, its property on `Rules`, its column (and migration), and its rule.
"""

from dataclasses import dataclass

from app.progression.model import UnmetCode


@dataclass(frozen=True, slots=True)
class Threshold:
    name: str
    low: int
    high: int  # the highest a partner may publish
    meaning: str  # what the catalogue says it does
    asked: str  # what a partner publishing a ladder is told
    example: int  # its value in the published example ladder
    default: int | None = None  # what a ladder stored before it existed, or sent without it, reads
    open_ended: bool = False  # the catalogue shows no maximum: a built-in ladder may go past `high`
    unmet: UnmetCode | None = None  # what rule 9 reports when this threshold holds a person back
    # ... and the sentence a person reads then: `{value}` is the ladder's value, `{sessions}` it
    # as "N session(s)", `{effort}` it as an effort's name, `{rest}` the rest between sessions.
    missing: str | None = None


THRESHOLDS: tuple[Threshold, ...] = (
    Threshold(
        "streak",
        1,
        10,
        meaning="How many qualifying sessions in a row, all at the current position, it takes to move up.",
        asked="Qualifying sessions in a row at one position that move the person up, 1–10.",
        example=3,
        open_ended=True,
        unmet="too_few_sessions",
        missing="Log {sessions} at this level{rest}",
    ),
    Threshold(
        "easy_rpe",
        0,
        10,
        meaning="An rpe (0–10) at or below this counts as easy enough.",
        asked="An rpe (0–10) at or below this counts as easy enough.",
        example=5,
        unmet="rpe_above_easy",
        missing="Effort should be no harder than {effort} ({value} out of 10 or less).",
    ),
    Threshold(
        "pain_ok",
        0,
        10,
        meaning="To move up, pain during (and after, when given) must be at or below this (0–10).",
        asked="Pain during (and after) at or below this (0–10) allows moving up; below `pain_limit`.",
        example=2,
        unmet="pain_above_ok",
        missing="Pain during and after should stay at {value} out of 10 or less.",
    ),
    Threshold(
        "pain_limit",
        0,
        10,
        meaning="Pain during or after above this (0–10) moves one position down; pain before above it does not "
        "allow moving up.",
        asked="Pain during or after above this (0–10) moves one position down; below `pain_stop`.",
        example=4,
        unmet="pain_before_high",
        missing="Pain before a session should be {value} out of 10 or less. "
        "If it stays this high before sessions, ask a clinician to review your plan.",
    ),
    Threshold(
        "pain_stop",
        0,
        10,
        meaning="Pain before, during, after or the next morning at or above this (0–10), on any session, pauses "
        "the ladder until a restart at least 24 hours later, a step lower.",
        asked="Pain before, during, after or the next morning at or above this (0–10), on any session, pauses "
        "the ladder until a rested, gentler restart.",
        example=7,
    ),
    Threshold(
        "flare_margin",
        0,
        10,
        meaning="Next-morning pain is a flare only when more than this above the pain before (a missing "
        "`before` counts as 0) and above `pain_ok`.",
        asked="Next-morning pain is a flare when more than this (0–10) above the pain before, and above pain_ok.",
        example=0,
        unmet="flare",
        missing="Pain the next morning should settle back to how it was before.",
    ),
    Threshold(
        "incomplete_streak",
        1,
        10,
        meaning="How many incomplete sessions in a row at the current position move one position down.",
        asked="Incomplete sessions in a row at one position that move the person down, 1–10.",
        example=2,
        open_ended=True,
    ),
    Threshold(
        "fault_streak",
        1,
        10,
        meaning="How many sessions in a row at the current position, each with a form fault, go back to the "
        "previous exercise (3 for a ladder stored before this threshold existed).",
        asked="Sessions in a row at one position, each with a form fault, that go back to the previous "
        "exercise, 1–10 (default 3).",
        example=3,
        default=3,
    ),
    Threshold(
        "break_days",
        1,
        365,
        meaning="Days (of 24 hours) after the latest session beyond which the person moves down, a position per "
        "whole `break_days` away; a longer gap between sessions also ends a streak.",
        asked="Days (1–365) after the latest session beyond which the person moves down, a position per whole "
        "`break_days` away.",
        example=14,
        open_ended=True,
    ),
    Threshold(
        "min_rest_hours",
        0,
        168,
        meaning="Hours (0–168) each session of a streak must come after the one before it.",
        asked="Hours (0–168) each session of a streak must come after the one before it.",
        example=0,
        unmet="too_soon",
        missing="Leave at least {value} hours between the sessions that count.",
    ),
)
THRESHOLD = {threshold.name: threshold for threshold in THRESHOLDS}
BY_UNMET = {threshold.unmet: threshold for threshold in THRESHOLDS if threshold.unmet is not None}
