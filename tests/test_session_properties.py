"""Property-based: random invalid bodies get a 4xx problem and store nothing."""

import json
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlmodel import Session

from app.sessions.tables import SessionRow
from tests.content import CONTENT
from tests.factories import VALID_SESSION, session_body

EXERCISE_SLUGS = {exercise.slug for exercise in CONTENT.exercises}
BODY_EXERCISE = next(exercise for exercise in CONTENT.exercises if exercise.slug == VALID_SESSION["exercise"])
BODY_FAULTS = {fault.code for fault in BODY_EXERCISE.faults}  # the faults the valid body may name

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
not_int = (
    st.none()
    | st.booleans()
    | st.text(max_size=5)
    | st.floats(allow_nan=False, allow_infinity=False).filter(
        lambda f: f != int(f) if f == f and abs(f) < 1e15 else True
    )
    | st.lists(st.integers(), max_size=2)
)


def off_range(low: int, high: int) -> st.SearchStrategy[int]:
    return st.integers().filter(lambda n: n < low or n > high)


off_score = off_range(0, 10) | not_int.filter(lambda v: v is not None)

INVALID_CHANGES = st.one_of(
    st.fixed_dictionaries({"target_dose": off_range(1, 600) | not_int}),
    st.fixed_dictionaries({"rpe": off_score}),
    st.fixed_dictionaries({"pain": st.fixed_dictionaries({"during": off_score | st.none()})}),
    st.fixed_dictionaries({"pain": st.fixed_dictionaries({"during": st.integers(0, 10), "after": off_score})}),
    st.fixed_dictionaries(
        {"pain": st.fixed_dictionaries({"during": st.integers(0, 10)}, optional={"extra": json_values})}
    ).filter(lambda d: "extra" in d["pain"]),
    st.fixed_dictionaries(
        {"sets": st.lists(st.fixed_dictionaries({"dose": st.integers(0, 600)}), min_size=21, max_size=30) | st.just([])}
    ),
    st.fixed_dictionaries(
        {"sets": st.lists(st.fixed_dictionaries({"dose": off_range(0, 600) | not_int}), min_size=1, max_size=3)}
    ),
    st.fixed_dictionaries({"performed_at": st.text(max_size=30) | st.integers() | st.none()}),
    st.fixed_dictionaries(
        {
            "exercise": st.text(alphabet=string.ascii_lowercase + "-", min_size=1, max_size=30).filter(
                lambda slug: slug not in EXERCISE_SLUGS
            )
        }
    ),
    st.fixed_dictionaries(
        {
            "faults": st.lists(
                st.text(min_size=1, max_size=10).filter(lambda code: code not in BODY_FAULTS),
                min_size=1,
                max_size=3,
            )
        }
    ),
    st.fixed_dictionaries({"notes": st.text(min_size=1001, max_size=1100) | st.integers()}),
    st.fixed_dictionaries({"support_used": st.integers() | st.text(max_size=3) | st.none()}),
    st.dictionaries(
        st.text(min_size=1, max_size=12).filter(lambda k: k not in session_body()), json_values, min_size=1, max_size=2
    ),
)
DROPPABLE = st.sampled_from(["exercise", "performed_at", "target_dose", "sets", "pain"])


def _count(app) -> int:
    with Session(app.state.engine) as s:
        return s.execute(select(func.count()).select_from(SessionRow)).scalar_one()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=INVALID_CHANGES, drop=st.none() | DROPPABLE)
def test_invalid_session_bodies_get_4xx_and_store_nothing(client, auth, app, changes, drop):
    body = session_body(**changes)
    if drop:
        body.pop(drop)
    response = client.post("/v1/users/prop-user/sessions", json=body, headers=auth("sessions:write"))
    assert 400 <= response.status_code < 500, (body, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    assert _count(app) == 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=json_values.filter(lambda v: not isinstance(v, dict)) | st.binary(max_size=40))
def test_non_object_bodies_get_4xx_and_store_nothing(client, auth, app, document):
    content = document if isinstance(document, bytes) else json.dumps(document).encode()
    for path in ("/v1/users/prop-user/sessions", "/v1/sessions/batch"):
        response = client.post(
            path, content=content, headers=auth("sessions:write") | {"Content-Type": "application/json"}
        )
        assert response.status_code in (400, 422), response.text
    assert _count(app) == 0
