"""Each partner's view of the catalogue: the built-in one plus its own exercises and ladders.

A partner without content of its own gets the shared built-in `LiveCatalogue` (and its fast,
shared answer cache). A partner with content gets a `LiveCatalogue` of its own, built from the
built-in one and its documents: its own answer cache, its own version (so its ETags are its
own), its own ladders first when a session's ladder is chosen. Nothing of one partner's view is
ever in another's. Views are rebuilt when the partner's content changes (on the replica that
wrote it at once, on the others when they see its revision change) or the built-in catalogue is
re-synced (lazily, on the next request).
"""

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
from pydantic import ValidationError

from app.catalogue.ladders import LadderIn, ladder_problems, to_progression
from app.catalogue.memory import LiveCatalogue
from app.catalogue.schemas import Catalogue, Exercise
from app.content.exercises import exercise_of

logger = logging.getLogger("stepwise")
_PARTNER_CACHED_RESPONSES = 512


@dataclass(frozen=True)
class PartnerContent:
    """A partner's documents as stored (progressions oldest first) and their revision."""

    revision: int
    exercises: list[dict[str, Any]] = field(default_factory=list)
    progressions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.exercises and not self.progressions


def build_view(shared: LiveCatalogue, content: PartnerContent) -> LiveCatalogue:
    """The built-in catalogue plus the partner's content (a document the built-in catalogue
    has since taken the slug of, or a ladder no longer valid against it, is left out, logged)."""
    document = shared.document
    exercises: dict[str, Exercise] = dict(shared.exercises)
    own = []
    for stored in content.exercises:
        try:
            exercise = exercise_of(stored)
        except ValidationError:  # stored under rules since tightened: hidden, never a 500
            logger.warning("partner exercise %r hidden: it no longer passes the checks", stored.get("slug"))
            continue
        if exercise.slug in exercises:
            logger.warning("partner exercise %r hidden: the built-in catalogue has that slug now", exercise.slug)
            continue
        exercises[exercise.slug] = exercise
        own.append(exercise)
    ladders = []
    for stored in content.progressions:
        try:
            ladder = LadderIn.model_validate(stored)
            if ladder.slug in shared.progressions or ladder_problems(ladder, exercises=exercises, at=[]):
                raise ValueError("no longer valid")
            ladders.append(to_progression(ladder, exercises=exercises, owner="partner"))
        except ValueError:  # pydantic's ValidationError too: hidden, never a 500
            logger.warning("partner ladder %r hidden: it no longer fits the catalogue", stored.get("slug"))
    digest = hashlib.sha256(
        json.dumps([shared.version, content.exercises, content.progressions], sort_keys=True).encode()
    ).hexdigest()
    merged = Catalogue(
        version=digest[:16],
        safety=document.safety,
        muscles=document.muscles,
        equipment=document.equipment,
        exercises=[*document.exercises, *own],
        progressions=[*document.progressions, *ladders],
        routines=document.routines,
    )
    return LiveCatalogue(merged, max_cached_responses=_PARTNER_CACHED_RESPONSES)


async def rebuild_view(views: "PartnerViews", shared: LiveCatalogue, partner_id: int, content: PartnerContent) -> None:
    """Build the partner's view of `shared` in a worker thread (hundreds of documents are tens
    of milliseconds of CPU, which the event loop, and every other partner, must not wait for),
    then answer with it."""
    view = None if content.empty else await anyio.to_thread.run_sync(build_view, shared, content)
    views.replace(partner_id, content, None if view is None else (shared, view))


class PartnerViews:
    """The views of the partners with content, each built against one shared catalogue."""

    def __init__(self) -> None:
        self.contents: dict[int, PartnerContent] = {}  # the partners with content only
        self.revisions: dict[int, int] = {}  # every partner's revision seen, with content or not
        self._views: dict[int, tuple[LiveCatalogue, LiveCatalogue]] = {}  # partner -> (built on, view)
        self._replaced_at: dict[int, float] = {}

    def replace(
        self, partner_id: int, content: PartnerContent, view: tuple[LiveCatalogue, LiveCatalogue] | None = None
    ) -> None:
        """The partner's content changed: its `view` (built on a shared catalogue) is the one to
        answer with, or, without one, one is built on its next request. (An older revision than
        one already seen is ignored: two writes' reloads may cross.)"""
        if content.revision < self.revisions.get(partner_id, -1):
            return
        self.revisions[partner_id] = content.revision
        self._replaced_at[partner_id] = time.monotonic()
        if content.empty:
            self.contents.pop(partner_id, None)
        else:
            self.contents[partner_id] = content
        if view is None or content.empty:
            self._views.pop(partner_id, None)
        else:
            self._views[partner_id] = view

    def changed(self, stored: dict[int, int], read_at: float) -> list[int]:
        """The partners whose stored revision (read at `read_at`, monotonic) is not the one seen
        here (to reload), forgetting partners no longer stored (removed: with SQLite a new
        partner may get a removed one's id). A partner whose first write was applied here after
        the read is not forgotten."""
        for partner in set(self.revisions) - set(stored):
            if self._replaced_at.get(partner, 0.0) >= read_at:
                continue
            self.revisions.pop(partner)
            self._replaced_at.pop(partner, None)
            self.contents.pop(partner, None)
            self._views.pop(partner, None)
        return [partner for partner, revision in stored.items() if self.revisions.get(partner) != revision]

    def for_partner(self, shared: LiveCatalogue, partner_id: int) -> LiveCatalogue:
        content = self.contents.get(partner_id)
        if content is None:
            return shared
        built = self._views.get(partner_id)
        if built is None or built[0] is not shared:
            view = build_view(shared, content)
            self._views[partner_id] = (shared, view)
            return view
        return built[1]
