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
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
import orjson
from pydantic import ValidationError

from app.catalogue.ladders import LadderIn, ladder_problems, to_progression
from app.catalogue.memory import LiveCatalogue
from app.catalogue.schemas import Catalogue, Exercise
from app.content.exercises import exercise_of

logger = logging.getLogger("stepwise")
_PARTNER_CACHED_RESPONSES = 512
_PARTNER_CACHED_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class PartnerContent:
    """A partner's documents as stored (progressions oldest first) and their revision."""

    revision: int
    exercises: list[dict[str, Any]] = field(default_factory=list)
    progressions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.exercises and not self.progressions

    def with_document(self, kind: str, document: dict[str, Any]) -> "PartnerContent":
        """This content with `document` (an exercise or a ladder, by `kind`) published: in its
        place if its slug is taken, else last, as the store orders them (oldest first)."""
        exercises, progressions = self.exercises, self.progressions
        documents = exercises if kind == "exercise" else progressions
        slugs = [d["slug"] for d in documents]
        changed = list(documents)
        if document["slug"] in slugs:
            changed[slugs.index(document["slug"])] = document
        else:
            changed.append(document)
        if kind == "exercise":
            return PartnerContent(self.revision, changed, progressions)
        return PartnerContent(self.revision, exercises, changed)

    def without_document(self, kind: str, slug: str) -> "PartnerContent":
        if kind == "exercise":
            return PartnerContent(self.revision, [d for d in self.exercises if d["slug"] != slug], self.progressions)
        return PartnerContent(self.revision, self.exercises, [d for d in self.progressions if d["slug"] != slug])


# A document (as held, by identity) and the exercise built from it, by the document's id().
Built = dict[int, tuple[dict[str, Any], Exercise]]


def build_view(
    shared: LiveCatalogue, content: PartnerContent, reuse: Built | None = None, built: Built | None = None
) -> LiveCatalogue:
    """The built-in catalogue plus the partner's content (a document the built-in catalogue
    has since taken the slug of, or a ladder no longer valid against it, is left out, logged).
    An exercise already built from the very same document (`reuse`, by identity: a write keeps
    the documents it did not change) is not built again; `built` is filled with this build's."""
    document = shared.document
    exercises: dict[str, Exercise] = dict(shared.exercises)
    own = []
    for stored in content.exercises:
        earlier = reuse.get(id(stored)) if reuse else None
        try:
            exercise = earlier[1] if earlier is not None and earlier[0] is stored else exercise_of(stored)
        except ValidationError:  # stored under rules since tightened: hidden, never a 500
            logger.warning("partner exercise %r hidden: it no longer passes the checks", stored.get("slug"))
            continue
        if built is not None:
            built[id(stored)] = (stored, exercise)
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
    # The view's version: a hash of what it is built from, a document at a time (the partner's
    # whole content at once would be tens of MB at its limits, to be allocated and dropped).
    hashed = hashlib.sha256(orjson.dumps(shared.version))
    for part in (*content.exercises, "|", *content.progressions):
        hashed.update(orjson.dumps(part, option=orjson.OPT_SORT_KEYS))
    digest = hashed.hexdigest()
    merged = Catalogue(
        version=digest[:16],
        safety=document.safety,
        muscles=document.muscles,
        equipment=document.equipment,
        exercises=[*document.exercises, *own],
        progressions=[*document.progressions, *ladders],
        routines=document.routines,
    )
    return LiveCatalogue(merged, max_cached_responses=_PARTNER_CACHED_RESPONSES, max_cached_bytes=_PARTNER_CACHED_BYTES)


async def rebuild_view(views: "PartnerViews", shared: LiveCatalogue, partner_id: int, content: PartnerContent) -> None:
    """Build the partner's view of `shared` in a worker thread (hundreds of documents are tens
    of milliseconds of CPU, which the event loop, and every other partner, must not wait for),
    then answer with it."""
    built: Built = {}
    reuse = views.built.get(partner_id)
    view = None if content.empty else await anyio.to_thread.run_sync(build_view, shared, content, reuse, built)
    views.replace(partner_id, content, None if view is None else (shared, view), built)


class PartnerViews:
    """The views of the partners with content, each built against one shared catalogue."""

    def __init__(self) -> None:
        self.contents: dict[int, PartnerContent] = {}  # the partners with content only
        self.revisions: dict[int, int] = {}  # every partner's revision seen, with content or not
        self._views: dict[int, tuple[LiveCatalogue, LiveCatalogue]] = {}  # partner -> (built on, view)
        self.built: dict[int, Built] = {}  # partner -> its exercises as built for its view
        self._replaced_at: dict[int, float] = {}

    def replace(
        self,
        partner_id: int,
        content: PartnerContent,
        view: tuple[LiveCatalogue, LiveCatalogue] | None = None,
        built: Built | None = None,
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
            self.built.pop(partner_id, None)
        else:
            self._views[partner_id] = view
            self.built[partner_id] = built or {}

    def known(self, partner_id: int) -> PartnerContent | None:
        """The partner's content as this replica last saw it (with its revision), if it did."""
        revision = self.revisions.get(partner_id)
        if revision is None:
            return None
        return self.contents.get(partner_id) or PartnerContent(revision)

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
            self.built.pop(partner, None)
        return [partner for partner, revision in stored.items() if self.revisions.get(partner) != revision]

    def for_partner(self, shared: LiveCatalogue, partner_id: int) -> LiveCatalogue:
        content = self.contents.get(partner_id)
        if content is None:
            return shared
        built = self._views.get(partner_id)
        if built is None or built[0] is not shared:
            view = build_view(shared, content, self.built.get(partner_id))
            self._views[partner_id] = (shared, view)
            return view
        return built[1]
