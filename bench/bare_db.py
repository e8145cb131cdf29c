"""The bare minimum with a database: the least SQL the service's answers need, no framework.

Run by bench/db_routes.py under uvicorn with uvloop and httptools, next to `stepwise serve`.
Through an async psycopg pool of 20 (BARE_DB_URL, a psycopg conninfo):

- POST .../sessions: parse the JSON body, INSERT one row with the document as jsonb, commit;
- GET .../recommendation: SELECT the user's latest 2 rows by index;

and answer the service's own recorded bytes (BENCH_RESPONSES, as for bare_asgi.py).
"""

import json
import os

import orjson
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

with open(os.environ["BENCH_RESPONSES"], encoding="utf-8") as f:
    _RECORDED = json.load(f)
_RESPONSES = {
    (answer["method"], path): (
        answer.get("status", 200),
        [(k.encode(), v.encode()) for k, v in answer["headers"]],
        answer["body"].encode(),
    )
    for path, answer in _RECORDED.items()
}
_TABLE = """
create table if not exists bare_session (
    seq bigserial primary key, user_id text not null, performed_at timestamptz not null, document jsonb not null
);
create index if not exists bare_session_user_time on bare_session (user_id, performed_at desc, seq desc);
"""
pool = AsyncConnectionPool(os.environ["BARE_DB_URL"], min_size=20, max_size=20, open=False)


async def _body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await pool.open(wait=True)
                async with pool.connection() as connection:
                    await connection.execute(_TABLE)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    path = scope["path"]
    user_id = path.split("/")[3]
    if scope["method"] == "POST":
        document = orjson.loads(await _body(receive))
        async with pool.connection() as connection:  # commits on leaving
            await connection.execute(
                "insert into bare_session (user_id, performed_at, document) values (%s, %s, %s)",
                (user_id, document["performed_at"], Jsonb(document)),
            )
    else:
        async with pool.connection() as connection:
            cursor = await connection.execute(
                "select document from bare_session where user_id = %s order by performed_at desc, seq desc limit 2",
                (user_id,),
            )
            await cursor.fetchall()
    status, headers, body = _RESPONSES[(scope["method"], path)]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
