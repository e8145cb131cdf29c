"""docs/rules.md's worked examples are real answers of the service.

Each example in the guide is marked `<!-- example: NAME -->` (or `<!-- example: NAME (trimmed) -->`)
and followed by exactly two JSON blocks: a `POST /v1/recommendations/evaluate` body, then the
answer. Each body is posted, on SQLite and on PostgreSQL, and the answer must equal the one
shown; a trimmed answer shows some of the answer's fields (always `rules_version`), and exactly
those are compared. So the guide fails the suite as soon as it drifts from the service.
"""

import json
import re
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from app.recommendations.schemas import RecommendationOut

RULES = Path(__file__).parent.parent / "docs" / "rules.md"
MARKER = re.compile(r"<!-- example: ([a-z0-9-]+)( \(trimmed\))? -->")
# An example runs from its marker to the next marker or heading.
EXAMPLE = re.compile(r"<!-- example: ([a-z0-9-]+)( \(trimmed\))? -->(.*?)(?=<!-- example:|\n#|\Z)", re.S)
JSON_BLOCK = re.compile(r"```json\n(.*?)```", re.S)
ANSWER_FIELDS = list(RecommendationOut.model_fields)

# What the guide promises to show with real answers (it may show more).
REQUIRED = {
    "two-easy-sessions-move-up",
    "too-soon",
    "twice-daily-moves-up-once-a-day",
    "next-morning-missing",
    "pain-above-limit",
    "late-flare",
    "leg-symptoms-spreading",
    "pain-at-the-lowest-position",
    "severe-pain-pauses",
    "restart-too-soon",
    "restart-above-the-restart-position",
    "restart-ends-the-pause",
    "break-of-182-days",
    "form-faults",
    "red-flag-pauses",
    "red-flag-cleared",
    "back-filled-flag-after-the-clearance",
}


class Example(NamedTuple):
    name: str
    trimmed: bool
    blocks: list[str]  # the JSON blocks as written
    lead: str  # the text before the marker, back to the previous example or heading


def _examples() -> list[Example]:
    text = RULES.read_text(encoding="utf-8")
    found = []
    for match in EXAMPLE.finditer(text):
        before = text[: match.start()]
        lead = re.split(r"<!-- example:[^>]*-->|\n#", before)[-1]
        blocks = JSON_BLOCK.findall(match.group(3))
        found.append(Example(match.group(1), bool(match.group(2)), blocks, lead))
    return found


EXAMPLES = _examples()


def test_each_example_is_marked_once_and_has_a_request_and_an_answer():
    text = RULES.read_text(encoding="utf-8")
    names = [example.name for example in EXAMPLES]
    assert len(names) == text.count("<!-- example") == len(MARKER.findall(text)), "a malformed example marker"
    assert len(names) == len(set(names)), "example names must be unique"
    assert REQUIRED <= set(names), f"examples missing from docs/rules.md: {sorted(REQUIRED - set(names))}"
    for example in EXAMPLES:
        assert len(example.blocks) == 2, f"{example.name}: a request block and an answer block"
        request, answer = (json.loads(block) for block in example.blocks)
        assert isinstance(request, dict) and request.get("progression") == "lunge-ladder", example.name
        assert "as_of" in request, f"{example.name}: a fixed as_of keeps the answer deterministic"
        assert isinstance(answer, dict) and "rules_version" in answer and "action" in answer, example.name
        assert [key for key in ANSWER_FIELDS if key in answer] == list(answer), f"{example.name}: fields in order"
        if example.trimmed:
            assert set(answer) < set(ANSWER_FIELDS), f"{example.name}: a trimmed answer leaves fields out"
        else:
            assert list(answer) == ANSWER_FIELDS, f"{example.name}: a full answer shows every field"
        # The reader is told which answers are trimmed, in the sentence that introduces each one.
        said = re.findall(r"answer (trimmed|in full)", example.lead)
        assert said and said[-1] == ("trimmed" if example.trimmed else "in full"), example.name


@pytest.mark.parametrize("example", EXAMPLES, ids=[example.name for example in EXAMPLES])
def test_the_documented_answer_is_the_service_answer(client, auth, example: Example):
    request, documented = (json.loads(block) for block in example.blocks)
    response = client.post("/v1/recommendations/evaluate", json=request, headers=auth())
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    shown = {key: answer.get(key) for key in documented} if example.trimmed else answer
    assert shown == documented, (
        f"docs/rules.md example {example.name!r} no longer matches the service; it now answers:\n"
        + json.dumps(shown, indent=2, ensure_ascii=False)
    )
