"""The ceiling: a bare ASGI app answering pre-recorded bytes per path, no framework at all.

Run by bench/catalogue.py under uvicorn with uvloop and httptools. BENCH_RESPONSES names a JSON
file mapping "path?query" to {"headers": [[name, value], ...], "body": "..."}.
"""

import json
import os

with open(os.environ["BENCH_RESPONSES"], encoding="utf-8") as f:
    _RESPONSES = {
        url: (
            [(k.encode(), v.encode()) for k, v in answer["headers"]],
            answer["body"].encode(),
        )
        for url, answer in json.load(f).items()
    }


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    query = scope["query_string"].decode()
    headers, body = _RESPONSES[scope["path"] + ("?" + query if query else "")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
