"""The example answers in README.md and docs/*.md are real answers of the service.

Each example is marked `<!-- example: NAME -->`, maybe with flags after the name
(`<!-- example: NAME (trimmed) -->`), followed by two blocks before the next marker or
heading. It is one of:

- a `POST /v1/recommendations/evaluate`: two JSON blocks, the body and the answer (docs/rules.md's
  worked examples). Each body is posted on every backend.
- commands: a `sh` block, then a JSON block showing the answer of its last command. A document's
  examples run in order, with bash and curl, against one running server on every backend, as
  one partner would run them (`$KEY` is its key, with every scope), so an example may build on
  an earlier one of its document.

Flags: `trimmed`: the answer shows some of its fields (a recommendation always `rules_version`),
and exactly those are compared. `delivered`: the JSON block is the body a webhook endpoint
receives because of the commands. `eventually`: the answer comes from work done in the
background, so the last command is run again until it answers as shown (a few seconds at most).
A block that uses `$ENDPOINT` gets, like `delivered`, a webhook endpoint of the partner
subscribed to every event; its receiver answers its first request 500 and the next ones 200.

Values that differ on every run by design (ids, times, secrets, tokens: VARYING) are compared by
their form; a session id in an answer must be one an earlier answer of its document gave.
Everything else, `rules_version` included, is compared as shown, so the docs fail the suite as
soon as they drift from the service.
"""

import json
import os
import re
import time
from collections.abc import Iterator
from typing import Any, NamedTuple, get_args

import httpx
import pytest

from app.main import create_app
from app.partners.service import SCOPES
from app.recommendations.schemas import RecommendationOut
from app.webhooks import urls
from app.webhooks.schemas import EventType
from tests import servers
from tests.conftest import settings_for
from tests.docs_shell import ROOT, curl_to, json_values, shell
from tests.webhook_receiver import Receiver, receiver

DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FLAGS = {"trimmed", "delivered", "eventually"}
MARKER = re.compile(r"<!-- example: ([a-z0-9-]+)(?: \(([a-z, ]+)\))? -->")
# An example is the first two blocks after its marker, before the next marker or heading (`## `
# and below: a line of a shell block may start with `# `).
HEADING = r"\n#{2,6} "
EXAMPLE = re.compile(rf"<!-- example: ([a-z0-9-]+)(?: \(([a-z, ]+)\))? -->(.*?)(?=<!-- example:|{HEADING}|\Z)", re.S)
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)
ANSWER_FIELDS = list(RecommendationOut.model_fields)

# What docs/rules.md promises to show with real answers (it may show more).
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

# The forms of values that differ on every run: (the whole value, as the docs may shorten it).
ID = (r"[0-9a-f]{32}", r"[0-9a-f]{8}\.\.\.")
MESSAGE_ID = (r"msg_[0-9a-f]{32}", r"msg_[0-9a-f]{8}\.\.\.")
TIME = (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z", None)
VARYING: dict[str, tuple[tuple[str, str | None], ...]] = {
    "id": (ID, MESSAGE_ID),
    "session_id": (ID,),
    "clearance_id": (ID,),
    "session_ids": (ID,),  # each of them
    "secret": ((r"whsec_[A-Za-z0-9+/]{43}=", r"whsec_\.\.\."),),
    "token": ((r"eyJ[\w-]+\.[\w-]+\.[\w-]+", r"eyJ\.\.\."),),
    "created_at": (TIME,),
    "received_at": (TIME,),
    "expires_at": (TIME,),
    "timestamp": (TIME,),
    "at": (TIME,),
}


class Example(NamedTuple):
    document: str  # its path in the repository
    name: str
    flags: frozenset[str]
    blocks: list[tuple[str, str]]  # (language, text) of each block, as written
    lead: str  # the text before the marker, back to the previous example or heading

    @property
    def commands(self) -> bool:
        return bool(self.blocks) and self.blocks[0][0] == "sh"


def _examples() -> list[Example]:
    found = []
    for path in DOCUMENTS:
        text = path.read_text(encoding="utf-8")
        for match in EXAMPLE.finditer(text):
            lead = re.split(rf"<!-- example:[^>]*-->|{HEADING}", text[: match.start()])[-1]
            flags = frozenset(flag.strip() for flag in (match.group(2) or "").split(",") if flag.strip())
            blocks = BLOCK.findall(match.group(3))[:2]  # what follows is the document's, not the example's
            found.append(Example(str(path.relative_to(ROOT)), match.group(1), flags, blocks, lead))
    return found


EXAMPLES = _examples()
EVALUATED = [example for example in EXAMPLES if not example.commands]
COMMAND_DOCUMENTS = sorted({example.document for example in EXAMPLES if example.commands})


def _same_form(shown: Any, actual: Any, forms: tuple[tuple[str, str | None], ...]) -> bool:
    if not (isinstance(shown, str) and isinstance(actual, str)):
        return False
    return any(
        re.fullmatch(whole, actual) and (re.fullmatch(whole, shown) or (short and re.fullmatch(short, shown)))
        for whole, short in forms
    )


def normalised(shown: Any, actual: Any, key: str | None = None) -> Any:
    """`actual` with each value of VARYING that has the form of the one shown replaced by it."""
    if key in VARYING and not isinstance(actual, list):
        return shown if _same_form(shown, actual, VARYING[key]) else actual
    if isinstance(actual, dict):
        shown_fields = shown if isinstance(shown, dict) else {}
        return {name: normalised(shown_fields.get(name), value, name) for name, value in actual.items()}
    if isinstance(actual, list) and isinstance(shown, list) and len(shown) == len(actual):
        return [normalised(one, other, key) for one, other in zip(shown, actual, strict=True)]
    return actual


def ids_in(value: Any) -> Iterator[str]:
    """Every `id` in an answer."""
    if isinstance(value, dict):
        if isinstance(value.get("id"), str):
            yield value["id"]
        for inner in value.values():
            yield from ids_in(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from ids_in(inner)


def session_ids_in(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for name, inner in value.items():
            if name == "session_ids" and isinstance(inner, list):
                yield from inner
            else:
                yield from session_ids_in(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from session_ids_in(inner)


def assert_answers_as_shown(example: Example, shown: Any, answer: Any) -> None:
    if "trimmed" in example.flags:
        assert isinstance(shown, dict) and isinstance(answer, dict), f"{example.name}: only an object is trimmed"
        assert set(shown) < set(answer), f"{example.name}: a trimmed answer shows some of the answer's fields"
        answer = {name: answer[name] for name in shown}
    answer = normalised(shown, answer)
    assert answer == shown, (
        f"{example.document} example {example.name!r} no longer matches the service; it now answers:\n"
        + json.dumps(answer, indent=2, ensure_ascii=False)
    )


def test_each_example_is_marked_once_and_is_an_evaluate_request_or_commands():
    names = [example.name for example in EXAMPLES]
    for path in DOCUMENTS:
        text = path.read_text(encoding="utf-8")
        count = len([example for example in EXAMPLES if example.document == str(path.relative_to(ROOT))])
        assert text.count("<!-- example") == len(MARKER.findall(text)) == count, f"{path.name}: a malformed marker"
    assert len(names) == len(set(names)), "example names must be unique"
    rules = {example.name for example in EXAMPLES if example.document == "docs/rules.md"}
    assert REQUIRED <= rules, f"examples missing from docs/rules.md: {sorted(REQUIRED - rules)}"
    assert COMMAND_DOCUMENTS, "no document shows commands with their answers"
    for example in EXAMPLES:
        assert example.flags <= FLAGS, f"{example.name}: unknown flags {sorted(example.flags - FLAGS)}"
        languages = [language for language, _ in example.blocks]
        assert languages in (["json", "json"], ["sh", "json"]), f"{example.name}: a request and an answer"
        json.loads(example.blocks[1][1])


@pytest.mark.parametrize("example", EVALUATED, ids=[example.name for example in EVALUATED])
def test_each_evaluate_example_shows_a_fixed_request_and_its_fields_in_order(example: Example):
    request, answer = (json.loads(text) for _, text in example.blocks)
    assert isinstance(request, dict) and request.get("progression") == "lunge-ladder", example.name
    assert "as_of" in request, f"{example.name}: a fixed as_of keeps the answer deterministic"
    assert isinstance(answer, dict) and "rules_version" in answer and "action" in answer, example.name
    assert [key for key in ANSWER_FIELDS if key in answer] == list(answer), f"{example.name}: fields in order"
    if "trimmed" not in example.flags:
        assert list(answer) == ANSWER_FIELDS, f"{example.name}: a full answer shows every field"
    # The reader is told which answers are trimmed, in the sentence that introduces each one.
    said = re.findall(r"answer (trimmed|in full)", example.lead)
    assert said and said[-1] == ("trimmed" if "trimmed" in example.flags else "in full"), example.name


@pytest.mark.parametrize("example", EVALUATED, ids=[example.name for example in EVALUATED])
def test_the_documented_answer_is_the_service_answer(client, auth, example: Example):
    request, documented = (json.loads(text) for _, text in example.blocks)
    response = client.post("/v1/recommendations/evaluate", json=request, headers=auth())
    assert response.status_code == 200, response.text
    assert_answers_as_shown(example, documented, response.json())


@pytest.fixture
def docs_server(database_url, backend, monkeypatch) -> Iterator[str]:
    """The service in a thread of this process, so that the docs' webhook host resolves (to this
    machine, where nothing answers https) and a test's receiver on 127.0.0.1 is allowed; a
    failed delivery is retried after 0.2 s."""
    monkeypatch.setattr(urls, "resolve", lambda host, port: ["127.0.0.1"] if host == "hooks.example.com" else [])
    settings = settings_for(backend, database_url, webhooks_allow_private=True, webhook_retry_seconds="0.2,0.2")
    with servers.in_thread(create_app(settings)) as base:
        yield base


def _subscribed(base: str, key: str, inbox: Receiver) -> str:
    """A webhook endpoint of `key`'s partner at `inbox`, for every event; its id."""
    events = list(get_args(EventType))
    answer = httpx.post(
        f"{base}/v1/webhooks", json={"url": inbox.url, "events": events}, headers={"Authorization": f"Bearer {key}"}
    )
    assert answer.status_code == 201, answer.text
    inbox.statuses = [500]
    return answer.json()["id"]


def _delivered(inbox: Receiver, event_type: str, timeout: float = 10.0) -> Any:
    """The body of the first delivery of `event_type` to `inbox`."""
    deadline = time.monotonic() + timeout
    while True:
        bodies = [json.loads(request.body) for request in list(inbox.requests)]
        found = [body for body in bodies if body.get("type") == event_type]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"no {event_type} delivered; got {bodies}"
        time.sleep(0.05)


def _last_command(commands: str) -> str:
    """The block's last command: from its last line that starts with `curl`."""
    lines = commands.splitlines()
    starts = [number for number, line in enumerate(lines) if line.startswith("curl ")]
    assert starts, "no curl command to run again"
    return "\n".join(lines[starts[-1] :])


@pytest.mark.parametrize("document", COMMAND_DOCUMENTS)
def test_the_documented_commands_answer_as_shown(document, docs_server, make_key, tmp_path):
    key = make_key(",".join(SCOPES))
    port = int(docs_server.rsplit(":", 1)[1])
    env = os.environ | curl_to(port, tmp_path) | {"KEY": key}
    seen: set[str] = set()  # the ids the document's commands were answered so far
    for example in [example for example in EXAMPLES if example.document == document and example.commands]:
        (_, commands), (_, shown_text) = example.blocks
        shown = json.loads(shown_text)
        with receiver() as inbox:
            needs_endpoint = "delivered" in example.flags or "$ENDPOINT" in commands
            endpoint = {"ENDPOINT": _subscribed(docs_server, key, inbox)} if needs_endpoint else {}
            with shell(commands, cwd=tmp_path, env=env | endpoint) as output:
                answers = json_values(output)
            assert answers, f"{example.name}: the commands printed no answer"
            answer = _delivered(inbox, shown["type"]) if "delivered" in example.flags else answers[-1]
            deadline = time.monotonic() + 10
            while "eventually" in example.flags and normalised(shown, answer) != shown and time.monotonic() < deadline:
                time.sleep(0.1)
                with shell(_last_command(commands), cwd=tmp_path, env=env | endpoint) as output:
                    [answer] = json_values(output)
        for printed in answers:
            seen.update(ids_in(printed))
        unknown = set(session_ids_in(answer)) - seen
        assert not unknown, f"{example.name}: session ids no answer of the document gave: {unknown}"
        assert_answers_as_shown(example, shown, answer)
