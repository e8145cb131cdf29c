"""One read, one write and the PATCH through the Python client openapi-python-client generated
from openapi/openapi.json, after importing every module it made. Run by
tests/test_generated_clients.py as `python python_check.py CLIENT_DIR BASE_URL KEY USER_ID`;
exits non-zero (an AssertionError) on the first surprise."""

import datetime
import importlib
import pkgutil
import sys

client_dir, base_url, key, user_id = sys.argv[1:5]
sys.path.insert(0, client_dir)

import stepwise_client  # noqa: E402  (generated into client_dir at test time)

modules = [info.name for info in pkgutil.walk_packages(stepwise_client.__path__, "stepwise_client.")]
for name in modules:
    importlib.import_module(name)

from stepwise_client import AuthenticatedClient  # noqa: E402
from stepwise_client.api.catalogue import catalogue_get_progression  # noqa: E402
from stepwise_client.api.recommendations import recommendations_get_recommendation  # noqa: E402
from stepwise_client.api.sessions import sessions_patch_session, sessions_post_session  # noqa: E402
from stepwise_client.models import PainIn, PainPatch, Progression, SessionIn, SessionOut, SessionPatch, SetIn  # noqa: E402

client = AuthenticatedClient(base_url=base_url, token=key, raise_on_unexpected_status=True)

# Read: a ladder of the catalogue.
ladder = catalogue_get_progression.sync_detailed("lunge-ladder", client=client)
assert ladder.status_code == 200 and isinstance(ladder.parsed, Progression), ladder.content
first = ladder.parsed.steps[0]

# Write: one session of the ladder's first exercise.
session = SessionIn(
    exercise=first.exercise,
    performed_at=datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1),
    target_dose=8,
    sets=[SetIn(dose=8), SetIn(dose=8)],
    rpe=4,
    pain=PainIn(before=1, during=2, after=1),
)
posted = sessions_post_session.sync_detailed(user_id, client=client, body=session, idempotency_key=f"py-{user_id}")
assert posted.status_code == 201 and isinstance(posted.parsed, SessionOut), posted.content
stored = posted.parsed

# PATCH: the client sends the merge patch as application/merge-patch+json, the spec's one type.
patch = SessionPatch(pain=PainPatch(next_morning=1), notes="from the Python client")
patched = sessions_patch_session.sync_detailed(user_id, stored.id, client=client, body=patch)
assert patched.status_code == 200 and isinstance(patched.parsed, SessionOut), patched.content
assert patched.parsed.notes == "from the Python client" and patched.parsed.pain.next_morning == 1

# Read again: the recommendation for this user.
advice = recommendations_get_recommendation.sync_detailed(user_id, client=client, progression="lunge-ladder")
assert advice.status_code == 200, advice.content
print(f'{{"modules": {len(modules)}, "stored": "{stored.id}", "action": "{advice.parsed.action}"}}')
