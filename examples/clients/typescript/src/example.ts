// Stepwise from TypeScript: types openapi-typescript generates from the contract
// (openapi/openapi.json, into src/schema.ts) and calls made with openapi-fetch. It lists
// exercises, logs a session, adds the next morning's pain to it and gets the person's next
// step. How to build and run it: ../README.md.
//
//   KEY=sw_... node dist/example.js
//
// KEY is a partner's API key with catalogue:read, sessions:read and sessions:write; API is where
// Stepwise answers (http://localhost:8000 unless set). It stops with the answer when one is not
// what it expects.
import { randomUUID } from "node:crypto";
import createClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

type SessionIn = components["schemas"]["SessionIn"];

function stop(what: string, answer: unknown): never {
  console.error(`${what}: ${JSON.stringify(answer)}`);
  process.exit(1);
}

const key = process.env["KEY"] ?? stop("KEY is not set", null);
const client = createClient<paths>({
  baseUrl: process.env["API"] ?? "http://localhost:8000",
  headers: { Authorization: `Bearer ${key}` },
});
const user = "maria"; // your app's own id for the person

// The exercises up to level 3 that work the gluteus maximus.
const exercises = await client.GET("/v1/exercises", {
  params: { query: { muscle: "gluteus-maximus", max_level: 3 } },
});
if (!exercises.data) stop("listing exercises", exercises.error);
for (const exercise of exercises.data.items) {
  console.log(`exercise ${exercise.slug} (level ${exercise.level}): ${exercise.name}`);
}

// Maria did the reverse lunge an hour ago: 3 sets of 8, easy (rpe 4), with little pain. The
// Idempotency-Key makes a retry of this POST safe.
const session: SessionIn = {
  exercise: "reverse-lunge",
  performed_at: new Date(Date.now() - 3_600_000).toISOString(),
  target_dose: 8,
  sets: [{ dose: 8 }, { dose: 8 }, { dose: 8 }],
  rpe: 4,
  pain: { before: 1, during: 2, after: 1 },
};
const posted = await client.POST("/v1/users/{user_id}/sessions", {
  params: { path: { user_id: user }, header: { "Idempotency-Key": randomUUID() } },
  body: session,
});
if (!posted.data) stop("logging the session", posted.error);
const stored = posted.data;
console.log(`logged session ${stored.id}: ${stored.exercise}`);

// The next morning she tells how her back is: a JSON merge patch. openapi-fetch sends
// application/json unless told otherwise, and the contract takes only merge-patch+json here.
const patched = await client.PATCH("/v1/users/{user_id}/sessions/{session_id}", {
  params: { path: { user_id: user, session_id: stored.id } },
  body: { pain: { next_morning: 1 } },
  headers: { "Content-Type": "application/merge-patch+json" },
});
if (!patched.data || patched.data.pain.next_morning !== 1) stop("adding the next morning's pain", patched.error);
console.log(`next-morning pain of session ${patched.data.id}: ${patched.data.pain.next_morning}`);

// Her next step on the lunge ladder, and why.
const advice = await client.GET("/v1/users/{user_id}/recommendation", {
  params: { path: { user_id: user }, query: { progression: "lunge-ladder" } },
});
if (!advice.data) stop("getting the recommendation", advice.error);
const next = advice.data.next;
const shown = next ? `${next.exercise}, ${next.sets} x ${next.dose} ${next.unit}` : "none for now";
console.log(`next step (${advice.data.rules_version}): ${advice.data.action}: ${shown}`);
for (const reason of advice.data.reasons) {
  console.log(`  ${reason.code}: ${reason.message}`);
}
