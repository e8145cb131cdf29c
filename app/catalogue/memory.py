"""The catalogue held in memory between syncs, with every answer it has given pre-serialised.

A `LiveCatalogue` is immutable: a sync elsewhere produces a new one, swapped in whole. Each
response it renders is kept as bytes (plus a gzip variant and its ETag), keyed by path and the
canonical query (the route's own parameters, sorted; anything else in the query string is
ignored, so `?junk=N` never renders or stores a copy). The raw query strings seen are kept as
aliases of those answers in a bounded LRU, so a repeated request costs a dictionary lookup; the
fast path serves from there.
"""

import gzip
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import LRUCache
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session

from app.catalogue import store
from app.catalogue.schemas import (
    Catalogue,
    Exercise,
    ExerciseSummary,
    Progression,
    ProgressionSummary,
    Routine,
    Safety,
    Step,
)
from app.errors import NotFound
from app.progression.engine import RULES_REVISION
from app.progression.model import Guidance
from app.responses import if_none_match_names

GZIP_MIN_BYTES = 1024
# Answers compressed per request (session lists, batch results) use level 1: measured on a
# 500-session batch answer, 0.7 ms against 1.3 ms at level 5 (and 3 ms at 9) for a body 18%
# larger. Catalogue answers are compressed once per sync, so they take level 6.
GZIP_LEVEL = 1
CACHE_CONTROL = b"private, max-age=300"
_MAX_CACHED_RESPONSES = 4096
# Raw (path, query string) -> the answer's key: one small entry per spelling of a request.
_MAX_ALIASES = 16_384


@dataclass(frozen=True, slots=True)
class CachedResponse:
    route: str
    body: bytes
    gzip_body: bytes | None
    etag: bytes
    gzip_etag: bytes
    identity_headers: list[tuple[bytes, bytes]]
    gzip_headers: list[tuple[bytes, bytes]]

    def size(self) -> int:
        return len(self.body) + len(self.gzip_body or b"")

    @classmethod
    def build(cls, route: str, version: str, body: bytes, extra_headers: dict[str, str]) -> "CachedResponse":
        tag = f"{version[:12]}-{hashlib.sha256(body).hexdigest()[:12]}"
        etag, gzip_etag = f'"{tag}"'.encode(), f'"{tag}-gzip"'.encode()
        common = [(b"cache-control", CACHE_CONTROL), (b"vary", b"Accept-Encoding, Authorization")]
        common += [(k.lower().encode(), v.encode("latin-1")) for k, v in extra_headers.items()]
        content_type = (b"content-type", b"application/json")
        gzip_body = gzip.compress(body, compresslevel=6, mtime=0) if len(body) >= GZIP_MIN_BYTES else None
        return cls(
            route=route,
            body=body,
            gzip_body=gzip_body,
            etag=etag,
            gzip_etag=gzip_etag,
            identity_headers=[content_type, (b"content-length", str(len(body)).encode()), (b"etag", etag), *common],
            gzip_headers=[
                content_type,
                (b"content-encoding", b"gzip"),
                (b"content-length", str(len(gzip_body or b"")).encode()),
                (b"etag", gzip_etag),
                *common,
            ],
        )

    def respond(
        self, if_none_match: bytes | None, accept_encoding: bytes | None
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Status, headers and body for a request with these conditional and encoding headers."""
        use_gzip = self.gzip_body is not None and accepts_gzip(accept_encoding)
        headers = self.gzip_headers if use_gzip else self.identity_headers
        if if_none_match is not None and self.matches(if_none_match):
            return (
                304,
                [h for h in headers if h[0] not in (b"content-length", b"content-type", b"content-encoding")],
                b"",
            )
        return 200, headers, (self.gzip_body if use_gzip and self.gzip_body is not None else self.body)

    def matches(self, if_none_match: bytes) -> bool:
        return if_none_match_names(if_none_match, self.etag, self.gzip_etag)


def accepts_gzip(accept_encoding: bytes | None) -> bool:
    if not accept_encoding:
        return False
    for part in accept_encoding.lower().split(b","):
        coding, _, params = part.strip().partition(b";")
        if coding.strip() in (b"gzip", b"*"):
            q = params.strip().removeprefix(b"q=").strip()
            return not (q and q.replace(b"0", b"").strip(b".") == b"")
    return False


def load_live(engine: Engine) -> "LiveCatalogue":
    """The synced catalogue from the database (empty, with no version, before the first sync)."""
    with Session(engine) as session:
        catalogue = store.read(session=session)
    return LiveCatalogue(catalogue or EMPTY)


def stored_version(engine: Engine) -> str | None:
    with Session(engine) as session:
        return store.stored_version(session=session)


EMPTY = Catalogue(
    version="",
    safety=Safety(disclaimer="", red_flags=[]),
    muscles=[],
    equipment=[],
    exercises=[],
    progressions=[],
    routines=[],
)


def _rules_version(progression: Progression) -> str:
    """The rules' revision, then a hash of the ladder's content: changes when either does."""
    data = progression.model_dump(mode="json", include={"slug", "name", "goal", "rules", "steps"})
    return f"{RULES_REVISION}.{hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]}"


class LiveCatalogue:
    def __init__(
        self,
        catalogue: Catalogue,
        *,
        max_cached_responses: int = _MAX_CACHED_RESPONSES,
        max_cached_bytes: int | None = None,
    ) -> None:
        self._max_cached_responses = max_cached_responses
        # At most this many bytes of answers kept (a partner's view: its content is the partner's
        # to grow); an answer larger than that is answered each time, not kept.
        self._max_cached_bytes = max_cached_bytes
        self._cached_bytes = 0
        self.document = catalogue
        self.version: str | None = catalogue.version or None
        self.exercises = {e.slug: e for e in catalogue.exercises}
        self.progressions = {p.slug: p for p in catalogue.progressions}
        self.routines = {r.slug: r for r in catalogue.routines}
        summary_fields = set(ExerciseSummary.model_fields)
        self._summaries = sorted(
            (ExerciseSummary(**e.model_dump(include=summary_fields)) for e in catalogue.exercises),
            key=lambda s: (s.level, s.slug),
        )
        self._search_text = {e.slug: f"{e.name} {e.summary}".casefold() for e in catalogue.exercises}
        self._responses: dict[tuple[str, str], CachedResponse] = {}
        # -> the answer's key, not the answer: an answer evicted from `_responses` is freed.
        self._aliases: LRUCache[tuple[str, bytes], tuple[str, str]] = LRUCache(maxsize=_MAX_ALIASES)
        self._rules_versions = {p.slug: _rules_version(p) for p in catalogue.progressions}
        self._fault_codes = {e.slug: frozenset(f.code for f in e.faults) for e in catalogue.exercises}
        self.red_flag_codes = frozenset(f.code for f in catalogue.safety.red_flags)
        # What the rules' messages quote: each red flag's urgency, each exercise's corrections.
        self.guidance = Guidance(
            urgency={f.code: f.urgency for f in catalogue.safety.red_flags},
            corrections={e.slug: {f.code: f.correction for f in e.faults} for e in catalogue.exercises},
        )
        # A session that names no ladder is assessed on the partner's own ladder with its exercise
        # (the oldest: partner ladders come oldest first), else on the built-in one.
        self._ladder_steps: dict[str, tuple[Progression, Step]] = {}
        for progression in sorted(catalogue.progressions, key=lambda p: p.owner != "partner"):
            for step in progression.steps:
                self._ladder_steps.setdefault(step.exercise, (progression, step))

    # -- queries -------------------------------------------------------------------------------

    def exercise(self, slug: str) -> Exercise:
        if slug not in self.exercises:
            raise NotFound(f"There is no exercise {slug!r} in the catalogue.")
        return self.exercises[slug]

    def progression(self, slug: str) -> Progression:
        if slug not in self.progressions:
            raise NotFound(f"There is no progression {slug!r} in the catalogue.")
        return self.progressions[slug]

    def routine(self, slug: str) -> Routine:
        if slug not in self.routines:
            raise NotFound(f"There is no routine {slug!r} in the catalogue.")
        return self.routines[slug]

    def rules_version(self, progression: str) -> str:
        """A hash of the ladder's rule data (steps and thresholds): changes when the rules do."""
        return self._rules_versions[progression]

    def fault_codes(self, exercise: str) -> frozenset[str] | None:
        """The fault codes an exercise lists, or None for an exercise not in the catalogue."""
        return self._fault_codes.get(exercise)

    def ladder_step(self, exercise: str, progression: str | None = None) -> tuple[Progression, Step] | None:
        """The ladder (and its step) a session of `exercise` is assessed on: the one it names
        (`progression`), else the partner's own oldest with the exercise, else the built-in one;
        None when there is none."""
        if progression is None:
            return self._ladder_steps.get(exercise)
        ladder = self.progressions.get(progression)
        step = next((s for s in ladder.steps if s.exercise == exercise), None) if ladder else None
        return None if ladder is None or step is None else (ladder, step)

    def progression_summaries(self) -> list[ProgressionSummary]:
        return [
            ProgressionSummary(
                slug=p.slug,
                owner=p.owner,
                name=p.name,
                goal=p.goal,
                step_count=len(p.steps),
                exercises=[s.exercise for s in p.steps],
            )
            for p in self.document.progressions
        ]

    def find_exercises(
        self,
        *,
        muscle: str | None,
        equipment: str | None,
        tag: str | None,
        max_level: int | None,
        q: str | None,
        after: tuple[int, str] | None,
        limit: int,
    ) -> tuple[list[ExerciseSummary], tuple[int, str] | None]:
        """One page of summaries ordered by (level, slug), and the sort key to continue after."""
        terms = q.casefold().split() if q else []
        page: list[ExerciseSummary] = []
        for s in self._summaries:
            if after is not None and (s.level, s.slug) <= after:
                continue
            if muscle and muscle not in s.muscles.primary and muscle not in s.muscles.secondary:
                continue
            if (equipment and equipment not in s.equipment) or (tag and tag not in s.tags):
                continue
            if (max_level is not None and s.level > max_level) or any(
                t not in self._search_text[s.slug] for t in terms
            ):
                continue
            if len(page) == limit:
                last = page[-1]
                return page, (last.level, last.slug)
            page.append(s)
        return page, None

    # -- pre-serialised responses --------------------------------------------------------------

    def cached_response(self, path: str, query: bytes) -> CachedResponse | None:
        key = self._aliases.get((path, query))
        return None if key is None else self._responses.get(key)

    def render(
        self,
        route: str,
        path: str,
        query: bytes,
        canonical_query: str,
        build: Callable[[], BaseModel | tuple[BaseModel, dict[str, str]]],
    ) -> CachedResponse:
        """The cached response for this request (`query` as sent, `canonical_query` the
        parameters that count), building and keeping it on first use."""
        entry = self.kept(path, query, canonical_query)
        if entry is None:
            result = build()
            model, headers = result if isinstance(result, tuple) else (result, {})
            entry = CachedResponse.build(route, self.version or "", model.model_dump_json().encode(), headers)
            size = entry.size()
            budget = self._max_cached_bytes
            if budget is not None and size > budget:
                return entry
            while self._responses and (
                len(self._responses) >= self._max_cached_responses
                or (budget is not None and self._cached_bytes + size > budget)
            ):
                self._cached_bytes -= self._responses.pop(next(iter(self._responses))).size()
            self._responses[(path, canonical_query)] = entry
            self._cached_bytes += size
            self._aliases[(path, query)] = (path, canonical_query)
        return entry

    def kept(self, path: str, query: bytes, canonical_query: str) -> CachedResponse | None:
        """The response kept for these parameters, if one is (`query`, as sent, then finds it
        directly: `cached_response`); None until `render` has built it."""
        entry = self._responses.get((path, canonical_query))
        if entry is not None:
            self._aliases[(path, query)] = (path, canonical_query)
        return entry

    def cached_sizes(self) -> tuple[int, int]:
        """(answers, aliases) held, for tests and benches."""
        return len(self._responses), len(self._aliases)
