"""Stepwise from Python, through the client openapi-python-client generates from the contract
(openapi/openapi.json): list exercises, log a session, add the next morning's pain to it, and
get the person's next step. How to generate the client and run this: ../README.md.

    KEY=sw_... python examples/clients/python/example.py [CLIENT_DIR]

KEY is a partner's API key with catalogue:read, sessions:read and sessions:write; API is where
Stepwise answers (http://localhost:8000 unless set); CLIENT_DIR is the generated client
(./stepwise-client unless given). It stops with the answer when one is not what it expects."""

import datetime
import os
import sys
import uuid

sys.path.insert(0, sys.argv[1] if len(sys.argv) > 1 else "stepwise-client")

from stepwise_client import AuthenticatedClient  # noqa: E402  (generated: see the docstring)
from stepwise_client.api.catalogue import catalogue_list_exercises  # noqa: E402
from stepwise_client.api.recommendations import recommendations_get_recommendation  # noqa: E402
from stepwise_client.api.sessions import sessions_patch_session, sessions_post_session  # noqa: E402
from stepwise_client.models import (  # noqa: E402
    ExercisePage,
    PainIn,
    PainPatch,
    RecommendationOut,
    SessionIn,
    SessionOut,
    SessionPatch,
    SetIn,
)

USER = "maria"  # your app's own id for the person
client = AuthenticatedClient(base_url=os.environ.get("API", "http://localhost:8000"), token=os.environ["KEY"])

# The exercises up to level 3 that work the gluteus maximus.
exercises = catalogue_list_exercises.sync(client=client, muscle="gluteus-maximus", max_level=3)
if not isinstance(exercises, ExercisePage):
    sys.exit(f"listing exercises: {exercises}")
for exercise in exercises.items:
    print(f"exercise {exercise.slug} (level {exercise.level}): {exercise.name}")

# Maria did the reverse lunge an hour ago: 3 sets of 8, easy (rpe 4), with little pain. The
# Idempotency-Key makes a retry of this POST safe.
session = SessionIn(
    exercise="reverse-lunge",
    performed_at=datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1),
    target_dose=8,
    sets=[SetIn(dose=8), SetIn(dose=8), SetIn(dose=8)],
    rpe=4,
    pain=PainIn(before=1, during=2, after=1),
)
stored = sessions_post_session.sync(USER, client=client, body=session, idempotency_key=str(uuid.uuid4()))
if not isinstance(stored, SessionOut):
    sys.exit(f"logging the session: {stored}")
print(f"logged session {stored.id}: {stored.exercise}")

# The next morning she tells how her back is: a JSON merge patch, which the client sends as
# application/merge-patch+json, the only type the contract takes for it.
patch = SessionPatch(pain=PainPatch(next_morning=1))
patched = sessions_patch_session.sync(USER, stored.id, client=client, body=patch)
if not isinstance(patched, SessionOut) or patched.pain.next_morning != 1:
    sys.exit(f"adding the next morning's pain: {patched}")
print(f"next-morning pain of session {patched.id}: {patched.pain.next_morning}")

# Her next step on the lunge ladder, and why.
advice = recommendations_get_recommendation.sync(USER, client=client, progression="lunge-ladder")
if not isinstance(advice, RecommendationOut):
    sys.exit(f"getting the recommendation: {advice}")
step = advice.next_  # `next` in the JSON
shown = f"{step.exercise}, {step.sets} x {step.dose} {step.unit}" if step else "none for now"
print(f"next step ({advice.rules_version}): {advice.action}: {shown}")
for reason in advice.reasons:
    print(f"  {reason.code}: {reason.message}")
