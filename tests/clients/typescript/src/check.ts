// One read, one write and the PATCH through a client generated from openapi/openapi.json:
// openapi-typescript's types, openapi-fetch's calls. Exits non-zero on the first surprise.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

type SessionIn = components["schemas"]["SessionIn"];

function check(condition: boolean, what: string): asserts condition {
  if (!condition) {
    console.error(`FAILED: ${what}`);
    process.exit(1);
  }
}

const [baseUrl, key, userId] = process.argv.slice(2);
check(baseUrl !== undefined && key !== undefined && userId !== undefined, "usage: check BASE_URL KEY USER_ID");
const client = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${key}` } });

// Read: a ladder of the catalogue.
const ladder = await client.GET("/v1/progressions/{slug}", { params: { path: { slug: "lunge-ladder" } } });
check(ladder.response.status === 200 && ladder.data !== undefined, `GET progression: ${ladder.response.status}`);
check(ladder.data.steps.length > 0, "the ladder has steps");
const first = ladder.data.steps[0];
check(first !== undefined, "a first step");

// Write: one session of the ladder's first exercise.
const session: SessionIn = {
  exercise: first.exercise,
  performed_at: new Date(Date.now() - 3_600_000).toISOString(),
  target_dose: 8,
  sets: [{ dose: 8 }, { dose: 8 }],
  rpe: 4,
  pain: { before: 1, during: 2, after: 1 },
  red_flags: [],
};
const posted = await client.POST("/v1/users/{user_id}/sessions", {
  params: { path: { user_id: userId }, header: { "Idempotency-Key": `ts-${Date.now()}` } },
  body: session,
});
check(posted.response.status === 201 && posted.data !== undefined, `POST session: ${posted.response.status}`);
const stored = posted.data;

// PATCH: a JSON merge patch, in the only media type the spec lists for it.
const patched = await client.PATCH("/v1/users/{user_id}/sessions/{session_id}", {
  params: { path: { user_id: userId, session_id: stored.id } },
  body: { pain: { next_morning: 1 }, notes: "from the TypeScript client" },
  headers: { "Content-Type": "application/merge-patch+json" },
});
check(patched.response.status === 200 && patched.data !== undefined, `PATCH session: ${patched.response.status}`);
check(patched.data.notes === "from the TypeScript client", "the notes changed");
check(patched.data.pain.next_morning === 1, "next-morning pain changed");

// Read again: the recommendation for this user.
const advice = await client.GET("/v1/users/{user_id}/recommendation", {
  params: { path: { user_id: userId }, query: { progression: "lunge-ladder" } },
});
check(advice.response.status === 200 && advice.data !== undefined, `GET recommendation: ${advice.response.status}`);
console.log(JSON.stringify({ stored: stored.id, action: advice.data.action }));
