"""Which library draws the progress chart: install weight, import time and render time.

    python bench/chart_libraries.py [--renders 20] [--no-weight]

Candidates: pygal, matplotlib (Agg's SVG backend, the object-oriented Figure API) and Vega-Lite
through vl-convert-python (plain Vega-Lite JSON, no altair). Each draws the same chart, a year
of daily sessions (365): the ladder position as a step line on the left axis, pain during and
next morning as markers on a 0-10 right-hand axis, pauses and red flags as markers of their own,
a legend and axis titles, 900 x 450.

For each installed candidate it prints:
- install weight: the wheels it pulls in beyond what the project itself needs (stepwise and its
  dev extra, walked through the installed metadata), fetched once with `pip download` into
  /tmp/chart-wheels; both the wheels' size and their unpacked size;
- import time: median of 5 fresh interpreters, after one that warms the bytecode cache;
- first render in a fresh interpreter (after the import), then the median of N renders after a
  warm-up, and that median as a ratio to the fastest candidate.
A candidate that is not installed is skipped with a line saying so. Last, the same for the
renderer the service uses (app/progress/chart.py), when its library is installed.
"""

import argparse
import importlib.util
import io
import json
import random
import re
import statistics
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path

WHEELS = Path("/tmp/chart-wheels")
WIDTH, HEIGHT = 900, 450
COLOURS = {  # Okabe-Ito
    "position": "#0072B2",
    "pain_during": "#E69F00",
    "pain_next_morning": "#009E73",
    "paused": "#D55E00",
    "red_flag": "#CC79A7",
}


@dataclass(frozen=True)
class Candidate:
    name: str  # the distribution to install
    module: str  # what the renderer imports
    import_stmt: str


CANDIDATES = [
    Candidate("pygal", "pygal", "import pygal"),
    Candidate(
        "matplotlib",
        "matplotlib",
        "import matplotlib.figure, matplotlib.backends.backend_svg, matplotlib.dates",
    ),
    Candidate("vl-convert-python", "vl_convert", "import vl_convert"),
]


# --- the data: a year of daily sessions, the same for every library --------------------------


@dataclass(frozen=True)
class Session:
    at: datetime
    position: int
    pain_during: int
    pain_next_morning: int | None
    red_flag: bool
    paused: bool


def year_of_sessions(n: int = 365, positions: int = 25) -> list[Session]:
    rng = random.Random(20261201)
    start = datetime(2026, 1, 1, 7, 30, tzinfo=UTC)
    position, out = 1, []
    for day in range(n):
        pain = 8 if rng.random() < 0.02 else max(0, min(10, round(rng.gauss(3, 1.5))))
        paused = pain >= 8
        red_flag = rng.random() < 0.01
        if paused or red_flag:
            position = max(1, position - 2)
        elif rng.random() < 0.12:
            position = min(positions, position + 1)
        morning = None if rng.random() < 0.2 else max(0, min(10, pain + rng.choice((-1, 0, 0, 1))))
        out.append(Session(start + timedelta(days=day), position, pain, morning, red_flag, paused))
    return out


# --- the chart, once per library ---------------------------------------------------------------


def render_pygal(sessions: list[Session], positions: int) -> str:
    import pygal
    from pygal.style import Style

    style = Style(colors=tuple(COLOURS.values()), background="white", plot_background="white")
    chart = pygal.DateTimeLine(
        width=WIDTH,
        height=HEIGHT,
        style=style,
        title="Lunge ladder for low back pain",
        x_title="Date",
        y_title="Ladder position",
        range=(1, positions),
        secondary_range=(0, 10),
        x_label_rotation=0,
        x_value_formatter=lambda d: d.strftime("%d %b %Y"),
        show_x_guides=False,
        js=[],  # no script from a CDN
        disable_xml_declaration=True,
        legend_at_bottom=True,
        truncate_legend=-1,
        dots_size=2,
    )
    step: list[tuple[datetime, int]] = []  # a step line: each value holds until the next session
    for previous, current in zip(sessions, sessions[1:], strict=False):
        step += [(previous.at, previous.position), (current.at, previous.position)]
    step.append((sessions[-1].at, sessions[-1].position))
    chart.add("Ladder position", step, show_dots=False)
    chart.add("Pain during", [(s.at, s.pain_during) for s in sessions], secondary=True, stroke=False)
    chart.add(
        "Pain next morning",
        [(s.at, s.pain_next_morning) for s in sessions if s.pain_next_morning is not None],
        secondary=True,
        stroke=False,
    )
    chart.add("Paused", [(s.at, 10) for s in sessions if s.paused], secondary=True, stroke=False, dots_size=5)
    chart.add("Red flag", [(s.at, 10) for s in sessions if s.red_flag], secondary=True, stroke=False, dots_size=5)
    return chart.render(is_unicode=True)


def render_matplotlib(sessions: list[Session], positions: int) -> str:
    import matplotlib
    import matplotlib.dates as mdates
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    matplotlib.rcParams["svg.hashsalt"] = "stepwise"  # ids from content, not uuid4
    matplotlib.rcParams["svg.fonttype"] = "none"  # <text>, not glyph paths
    fig = Figure(figsize=(WIDTH / 100, HEIGHT / 100), dpi=100)
    FigureCanvasSVG(fig)
    ax = fig.add_subplot()
    pain = ax.twinx()
    dates = [s.at for s in sessions]
    ax.step(dates, [s.position for s in sessions], where="post", color=COLOURS["position"], label="Ladder position")
    pain.plot(dates, [s.pain_during for s in sessions], "o", ms=3, color=COLOURS["pain_during"], label="Pain during")
    morning = [(s.at, s.pain_next_morning) for s in sessions if s.pain_next_morning is not None]
    pain.plot(*zip(*morning, strict=True), "^", ms=3, color=COLOURS["pain_next_morning"], label="Pain next morning")
    for flag, marker, label in (("paused", "s", "Paused"), ("red_flag", "X", "Red flag")):
        at = [s.at for s in sessions if getattr(s, flag)]
        pain.plot(at, [10.4] * len(at), marker, ms=6, color=COLOURS[flag], label=label, clip_on=False)
    ax.set_ylim(0.5, positions + 0.5)
    pain.set_ylim(0, 10.5)
    ax.set_ylabel("Ladder position")
    pain.set_ylabel("Pain (0-10)")
    ax.set_title("Lunge ladder for low back pain")
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    handles = ax.get_legend_handles_labels()[0] + pain.get_legend_handles_labels()[0]
    fig.legend(handles=handles, loc="lower center", ncols=5, frameon=False)
    fig.subplots_adjust(bottom=0.2)
    out = io.StringIO()
    fig.savefig(out, format="svg", metadata={"Date": None})
    return out.getvalue()


def render_vega(sessions: list[Session], positions: int) -> str:
    import vl_convert

    rows = []
    for s in sessions:
        day = s.at.isoformat()
        rows.append({"at": day, "position": s.position})
        rows.append({"at": day, "pain": s.pain_during, "kind": "Pain during"})
        if s.pain_next_morning is not None:
            rows.append({"at": day, "pain": s.pain_next_morning, "kind": "Pain next morning"})
        if s.paused:
            rows.append({"at": day, "pain": 10, "kind": "Paused"})
        if s.red_flag:
            rows.append({"at": day, "pain": 10, "kind": "Red flag"})
    kinds = ["Pain during", "Pain next morning", "Paused", "Red flag"]
    x = {"field": "at", "type": "temporal", "title": "Date", "axis": {"format": "%d %b %Y", "labelOverlap": True}}
    spec = {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": "Lunge ladder for low back pain",
        "width": WIDTH - 160,
        "height": HEIGHT - 120,
        "data": {"values": rows},
        "layer": [
            {
                "transform": [{"filter": "isValid(datum.position)"}],
                "mark": {"type": "line", "interpolate": "step-after", "color": COLOURS["position"]},
                "encoding": {
                    "x": x,
                    "y": {
                        "field": "position",
                        "type": "quantitative",
                        "title": "Ladder position",
                        "scale": {"domain": [1, positions]},
                    },
                },
            },
            {
                "transform": [{"filter": "isValid(datum.pain)"}],
                "mark": {"type": "point", "filled": True, "size": 20},
                "encoding": {
                    "x": x,
                    "y": {
                        "field": "pain",
                        "type": "quantitative",
                        "title": "Pain (0-10)",
                        "scale": {"domain": [0, 10]},
                        "axis": {"orient": "right"},
                    },
                    "color": {
                        "field": "kind",
                        "title": None,
                        "scale": {"domain": kinds, "range": [COLOURS[k] for k in list(COLOURS)[1:]]},
                        "legend": {"orient": "bottom"},
                    },
                    "shape": {
                        "field": "kind",
                        "scale": {"domain": kinds, "range": ["circle", "triangle-up", "square", "cross"]},
                    },
                },
            },
        ],
        "resolve": {"scale": {"y": "independent"}},
    }
    return vl_convert.vegalite_to_svg(spec)


RENDERERS: dict[str, Callable[[list[Session], int], str]] = {
    "pygal": render_pygal,
    "matplotlib": render_matplotlib,
    "vl-convert-python": render_vega,
}


# --- install weight ----------------------------------------------------------------------------


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def project_closure() -> set[str]:
    """The distributions stepwise (with its dev extra) needs, walked through installed metadata,
    less the candidates and what only they need (so the chosen one still weighs what it does)."""
    from packaging.requirements import Requirement

    seen = {"stepwise"} | {_key(c.name) for c in CANDIDATES}
    todo: list[tuple[str, set[str]]] = [("stepwise", {"dev"})]
    while todo:
        name, extras = todo.pop()
        try:
            requires = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:
            continue
        for req in map(Requirement, requires):
            if req.marker and not any(req.marker.evaluate({"extra": e}) for e in extras | {""}):
                continue
            if _key(req.name) not in seen:
                seen.add(_key(req.name))
                todo.append((req.name, set(req.extras)))
    return seen - {_key(c.name) for c in CANDIDATES}


def install_weight(candidate: Candidate, needed: set[str]) -> tuple[float, float, list[str]] | None:
    """Wheel MB and unpacked MB of the candidate's dependency closure less what the project needs."""
    target = WHEELS / candidate.name
    if not any(target.glob("*.whl")):
        target.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "-d", str(target), candidate.name],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            print(f"  pip download {candidate.name} failed: {done.stderr.strip().splitlines()[-1:]}")
            return None
    wheel_bytes = unpacked = 0
    extra = []
    for wheel in sorted(target.glob("*.whl")):
        name = _key(wheel.name.split("-")[0])
        if name in needed:
            continue
        extra.append(name)
        wheel_bytes += wheel.stat().st_size
        with zipfile.ZipFile(wheel) as zf:
            unpacked += sum(info.file_size for info in zf.infolist())
    return wheel_bytes / 1e6, unpacked / 1e6, extra


# --- timing ------------------------------------------------------------------------------------


def import_ms(candidate: Candidate, runs: int = 5) -> float:
    code = f"import time; t = time.perf_counter(); {candidate.import_stmt}; print(time.perf_counter() - t)"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)  # bytecode cache
    times = [
        float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
        for _ in range(runs)
    ]
    return statistics.median(times) * 1000


def first_render_ms(candidate: Candidate) -> float:
    """A fresh interpreter: import, then time the first render alone."""
    code = (
        f"import sys, time; sys.path.insert(0, {str(Path(__file__).parent)!r}); {candidate.import_stmt}\n"
        "import chart_libraries as b\n"
        "s = b.year_of_sessions()\n"
        f"t = time.perf_counter(); b.RENDERERS[{candidate.name!r}](s, 25); print(time.perf_counter() - t)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return float(out) * 1000


def median_render_ms(candidate: Candidate, renders: int) -> tuple[float, str]:
    sessions = year_of_sessions()
    render = RENDERERS[candidate.name]
    svg = render(sessions, 25)  # warm-up
    times = []
    for _ in range(renders):
        t = time.perf_counter()
        svg = render(sessions, 25)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000, svg


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--renders", type=int, default=20)
    parser.add_argument("--no-weight", action="store_true", help="skip pip download")
    parser.add_argument("--save", type=Path, help="write each SVG here as NAME.svg")
    args = parser.parse_args()

    needed = project_closure()
    results: dict[str, dict[str, float]] = {}
    for candidate in CANDIDATES:
        if importlib.util.find_spec(candidate.module) is None:
            print(f"{candidate.name}: not installed, skipped (pip install {candidate.name})")
            continue
        row: dict[str, float] = {}
        if not args.no_weight:
            weight = install_weight(candidate, needed)
            if weight:
                row["wheels_mb"], row["unpacked_mb"], extra = weight
                print(f"{candidate.name}: pulls in {len(extra)} distributions: {', '.join(extra)}")
        row["import_ms"] = import_ms(candidate)
        row["first_render_ms"] = first_render_ms(candidate)
        row["render_ms"], svg = median_render_ms(candidate, args.renders)
        row["svg_kb"] = len(svg.encode()) / 1000
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            (args.save / f"{candidate.name}.svg").write_text(svg)
        results[candidate.name] = row

    if results:
        print_results(results, args.renders)
    service_renderer(args.renders)


def print_results(results: dict[str, dict[str, float]], renders: int) -> None:
    fastest = min(r["render_ms"] for r in results.values())
    print()
    print(
        f"{'library':<20}{'wheels MB':>10}{'unpacked MB':>12}{'import ms':>10}"
        f"{'1st render ms':>14}{'render ms':>10}{'ratio':>7}{'SVG kB':>8}"
    )
    for name, r in results.items():
        print(
            f"{name:<20}{r.get('wheels_mb', float('nan')):>10.1f}{r.get('unpacked_mb', float('nan')):>12.1f}"
            f"{r['import_ms']:>10.0f}{r['first_render_ms']:>14.0f}{r['render_ms']:>10.1f}"
            f"{r['render_ms'] / fastest:>7.2f}{r['svg_kb']:>8.0f}"
        )
    print(f"\n365 daily sessions, median of {renders} renders after a warm-up; ratio to the fastest.")
    print(json.dumps(results))


def service_renderer(renders: int) -> None:
    """app.progress.chart.render_svg on the same year of sessions."""
    sys.path.insert(0, str(Path(__file__).parents[1]))
    try:
        from app.progress.chart import Chart, ChartSession, render_svg
    except ImportError as missing:
        print(f"app.progress.chart: skipped ({missing})")
        return
    year = year_of_sessions()
    sessions = [ChartSession(s.at, s.position, s.pain_during, s.pain_next_morning, s.red_flag, s.paused) for s in year]
    steps = [
        (1, "half-squat-hold"),
        (7, "supported-reverse-lunge"),
        (11, "reverse-lunge"),
        (15, "kneeling-reverse-lunge"),
        (18, "long-step-reverse-lunge"),
        (22, "lateral-reverse-lunge"),
    ]
    chart = Chart("maria", "Lunge ladder for low back pain", 25, steps, year[0].at, year[-1].at, sessions)
    render_svg(chart)
    times = []
    for _ in range(renders):
        t = time.perf_counter()
        render_svg(chart)
        times.append(time.perf_counter() - t)
    print(f"app.progress.chart.render_svg, 365 sessions: median {statistics.median(times) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
