"""Drawn charts, kept by ETag: the same history (and ladder, period and drawing) gives the same
tag, so an unchanged chart is answered 304, or from memory, without being drawn again."""

import hashlib
from collections import OrderedDict
from functools import partial

import anyio.to_thread

from app.progress.chart_data import Chart

CHART_REVISION = "1"  # part of every ETag: a change to the drawing makes every chart new


class DrawnCharts:
    """The SVG of the charts drawn lately, by ETag (the same history draws the same chart)."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._drawn: OrderedDict[str, bytes] = OrderedDict()

    async def svg(self, etag: str, chart: Chart) -> bytes:
        if (drawn := self._drawn.get(etag)) is not None:
            self._drawn.move_to_end(etag)
            return drawn
        # Imported at the first chart: the drawing library costs a process about 0.4 s and tens of MB.
        from app.progress.chart import render_svg

        # Drawing is CPU work: in a worker thread, so other requests go on meanwhile.
        drawn = (await anyio.to_thread.run_sync(partial(render_svg, chart))).encode()
        self._drawn[etag] = drawn
        while len(self._drawn) > self._size:
            self._drawn.popitem(last=False)
        return drawn


def chart_etag(partner_id: int, chart: Chart) -> str:
    """A strong tag for the chart `chart` draws (its data, its ladder, the period and the drawing's revision)."""
    digest = hashlib.sha256(f"{CHART_REVISION}|{partner_id}|{chart!r}".encode()).hexdigest()
    return f'"{digest[:32]}"'
