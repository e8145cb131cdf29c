"""A person's progress on a ladder as an SVG chart, drawn on the server with matplotlib.

Matplotlib (its SVG backend, through the object-oriented Figure API, no pyplot) draws step lines,
marker shapes and date axes by itself, and a year of daily sessions in about 60 ms; pygal, far
lighter but a little slower, has neither step lines nor marker shapes, and Vega-Lite through
vl-convert took 90-110 ms a chart and over half a second for a process's first
(bench/chart_libraries.py).
"""

import io
import re
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape

import matplotlib

# Set once, before any drawing, and never changed again: reading rcParams from worker threads
# is safe, changing them per call (rc_context) is not. The salt makes the SVG's ids a hash of
# their content rather than uuid4, so the same chart gives the same bytes (and ETag); "none"
# writes text as <text>, readable and smaller than glyph outlines.
matplotlib.rcParams["svg.hashsalt"] = "stepwise-progress"
matplotlib.rcParams["svg.fonttype"] = "none"

from matplotlib import dates as mdates  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.backends.backend_svg import FigureCanvasSVG  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.markers import TICKRIGHT, MarkerStyle  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from app.progress.chart_data import Chart, ChartSession  # noqa: E402

# Okabe-Ito colours, each series with a shape of its own as well.
BLUE, ORANGE, GREEN, VERMILLION, PURPLE = "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7"
WIDTH_IN, HEIGHT_IN = 9.0, 4.8
PAIN_MAX = 10
MAX_STEP_TICKS = 12  # more steps than this: ticks at round positions instead
EMPTY = "No sessions in this period."
_EPOCH = datetime.fromisoformat(mdates.get_epoch()).replace(tzinfo=UTC)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def render_svg(chart: Chart) -> str:
    """The chart as a standalone SVG document: the same bytes for the same chart."""
    since, until = _window(chart)
    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=100)
    FigureCanvasSVG(fig)
    ax = fig.add_subplot()
    fig.subplots_adjust(left=0.08, right=0.92, top=0.9, bottom=0.24)
    positions = max(chart.positions, 1)
    _axes(ax, chart, positions, since, until)
    _step_bands(ax, chart.steps, positions)
    _sessions(ax, chart.sessions, until)
    if not chart.sessions:
        ax.text(0.5, 0.5, EMPTY, transform=ax.transAxes, ha="center", va="center", fontsize=12, color="#333333")
    fig.legend(handles=_legend_handles(), loc="lower center", ncols=5, frameon=False, fontsize=9)
    out = io.StringIO()
    fig.savefig(out, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    return _accessible(out.getvalue(), _title(chart), _description(chart, since, until))


# --- drawing -------------------------------------------------------------------------------------


def _window(chart: Chart) -> tuple[datetime, datetime]:
    since, until = chart.since.astimezone(UTC), chart.until.astimezone(UTC)
    return since, max(until, since + timedelta(days=1))


def _axes(ax: Axes, chart: Chart, positions: int, since: datetime, until: datetime) -> None:
    ax.set_xlim(_x(since), _x(until))
    ax.set_ylim(0.5, positions + 0.5)
    if 0 < len(chart.steps) <= MAX_STEP_TICKS:  # a tick where each step starts, in line with its band
        ax.set_yticks([first for first, _ in chart.steps])
    else:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.set_ylabel("Ladder position")
    ax.set_xlabel("Date (UTC)")
    ax.set_title(_visible(_title(chart)), parse_math=False, fontsize=12, y=1.0, pad=14)
    locator = mdates.AutoDateLocator(tz=UTC, minticks=4, maxticks=9)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=UTC))
    _pain_axis(ax)


def _pain_axis(ax: Axes) -> None:
    """The right-hand pain axis, drawn by hand: a second Axes (twinx, secondary_yaxis) costs a
    fifth of the whole drawing."""
    pains = range(0, PAIN_MAX + 1, 2)
    heights = [_pain_height(p) for p in pains]
    right = ax.transAxes
    ax.add_line(
        Line2D([1] * len(heights), heights, ls="none", marker=MarkerStyle(TICKRIGHT), transform=right, clip_on=False)
    )
    for pain, height in zip(pains, heights, strict=True):
        ax.text(1.012, height, str(pain), transform=right, va="center", fontsize=10)
    ax.text(1.05, 0.5, "Pain (0-10)", transform=right, rotation=90, va="center", fontsize=10)


def _pain_height(pain: float) -> float:
    """Where pain 0-10 is drawn, as a fraction of the plot's height."""
    return (pain + 0.3) / (PAIN_MAX + 0.6)


def _step_bands(ax: Axes, steps: list[tuple[int, str]], positions: int) -> None:
    """A band per step of the ladder, every other one shaded, with the step's exercise when it fits."""
    bounds = [first for first, _ in steps] + [positions + 1]
    band_px = ax.get_position().height * HEIGHT_IN * 100 / positions
    for i, (first, name) in enumerate(steps):
        low, high = first - 0.5, bounds[i + 1] - 0.5
        if i % 2:
            ax.axhspan(low, high, color="#f2f2f2", zorder=0, linewidth=0)
        if (high - low) * band_px >= 11:
            label = _visible(f"Step {i + 1}: {_clean(name)}", 60)
            left = ax.get_yaxis_transform()  # x a fraction of the width, y in positions
            ax.text(0.005, low + 0.1, label, transform=left, fontsize=7, color="#666666", va="bottom", parse_math=False)


def _sessions(ax: Axes, sessions: list[ChartSession], until: datetime) -> None:
    dated = [(_x(s.performed_at), s) for s in sessions]
    at = [x for x, _ in dated]
    edge = ax.get_xaxis_transform()  # x in dates, y a fraction of the height
    during = [_pain_height(s.pain_during) for s in sessions]
    morning = [(x, _pain_height(s.pain_next_morning)) for x, s in dated if s.pain_next_morning is not None]
    ax.plot(at, during, "o", ms=3.5, color=ORANGE, transform=edge, zorder=2)
    ax.plot([x for x, _ in morning], [y for _, y in morning], "^", ms=4, color=GREEN, mfc="none", transform=edge)
    if sessions:  # each position holds until the next session, the latest one to the window's end
        steps_x, steps_y = at + [max(_x(until), at[-1])], [s.position for s in sessions] + [sessions[-1].position]
        ax.step(steps_x, steps_y, where="post", color=BLUE, linewidth=2, zorder=3)
    _events(ax, [x for x, s in dated if s.paused], VERMILLION, "s", (0, (4, 2)))
    _events(ax, [x for x, s in dated if s.red_flag], PURPLE, "X", (0, (1, 1.5)))


def _x(moment: datetime) -> float:
    """Matplotlib's date number (days since its epoch) of an aware datetime."""
    return (moment - _EPOCH) / timedelta(days=1)


def _events(ax: Axes, at: list[float], colour: str, marker: str, dashes: tuple[float, tuple[float, float]]) -> None:
    """A vertical rule through the plot and a marker on its top edge at each event."""
    if not at:
        return
    edge = ax.get_xaxis_transform()
    ax.vlines(at, 0, 1, transform=edge, colors=colour, linestyles=dashes, linewidth=1, zorder=1.5)
    ax.plot(at, [1] * len(at), marker, ms=7, color=colour, transform=edge, clip_on=False, zorder=4)


def _legend_handles() -> list[Line2D]:
    return [
        Line2D([], [], label="Ladder position", color=BLUE, linewidth=2),
        Line2D([], [], label="Pain during", color=ORANGE, marker="o", ms=5, linestyle="none"),
        Line2D([], [], label="Pain next morning", color=GREEN, marker="^", ms=6, mfc="none", linestyle="none"),
        Line2D([], [], label="Paused (stop level)", color=VERMILLION, marker="s", ms=6, linestyle=(0, (4, 2)), lw=1),
        Line2D([], [], label="Red flag", color=PURPLE, marker="X", ms=7, linestyle=(0, (1, 1.5)), lw=1),
    ]


# --- words ------------------------------------------------------------------------------------------


def _title(chart: Chart) -> str:
    return f"{_clean(chart.ladder_name)}: progress of {_clean(chart.user_id)}"


def _description(chart: Chart, since: datetime, until: datetime) -> str:
    window = f"Chart of ladder position and pain from {_day(since)} to {_day(until)}."
    sessions = chart.sessions
    if not sessions:
        return f"{window} {EMPTY}"
    first, latest = sessions[0], sessions[-1]
    span = f"from {_day(first.performed_at)} to {_day(latest.performed_at)}"
    if len(sessions) == 1:
        span = f"on {_day(first.performed_at)}"
    pauses = sum(s.paused for s in sessions)
    red_flags = sum(s.red_flag for s in sessions)
    return (
        f"{window} {_count(len(sessions), 'session')} {span}. "
        f"Ladder position {first.position} of {chart.positions} at the start, {latest.position} at the latest. "
        f"{_count(pauses, 'pause')}, {_count(red_flags, 'red flag')}."
    )


def _day(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return f"{moment.day} {moment:%B %Y}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _clean(text: str) -> str:
    """Drops the characters XML 1.0 cannot hold."""
    return _NOT_XML.sub("", text)


def _visible(text: str, limit: int = 72) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _accessible(svg: str, title: str, description: str) -> str:
    """Adds role, aria-labelledby and <title>/<desc> as the first children of the root <svg>."""
    start = svg.index("<svg ")
    end = svg.index(">", start) + 1
    root = svg[start : end - 1] + ' role="img" aria-labelledby="chart-title chart-desc">'
    words = f'<title id="chart-title">{escape(title)}</title><desc id="chart-desc">{escape(description)}</desc>'
    return svg[:start] + root + words + svg[end:]
