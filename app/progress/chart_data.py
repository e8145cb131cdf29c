"""What a progress chart draws: the data only, so that reading it (and its ETag) needs no
drawing library; `app.progress.chart` draws it."""

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class ChartSession:
    performed_at: datetime  # timezone-aware UTC
    position: int  # 1-based position on the ladder (higher = harder)
    pain_during: int  # 0-10
    pain_next_morning: int | None  # 0-10 or None when not reported
    red_flag: bool  # the session reported a red-flag symptom
    paused: bool  # pain reached the ladder's stop level: the rules pause the ladder


@dataclass(frozen=True, slots=True)
class Chart:
    user_id: str
    ladder_name: str  # e.g. "Lunge ladder for low back pain"
    positions: int  # how many positions the ladder has (y axis max)
    steps: list[tuple[int, str]]  # (first position of each step, the step's exercise name), bottom to top
    since: datetime  # the window shown (UTC)
    until: datetime
    sessions: list[ChartSession]  # oldest first; may be empty
