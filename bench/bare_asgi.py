"""The ceiling: a bare ASGI app answering pre-recorded bytes per path, no framework at all.

Run by the bench scripts under uvicorn with uvloop and httptools. BENCH_RESPONSES names a JSON
file mapping "path?query" to {"headers": [[name, value], ...], "body": "...", "status": 200}.
"""

import json
import os

with open(os.environ["BENCH_RESPONSES"], encoding="utf-8") as f:
    _RECORDED = json.load(f)
_RESPONSES = {
    url: (
        answer.get("status", 200),
        [(k.encode(), v.encode()) for k, v in answer["headers"]],
        answer["body"].encode(),
    )
    for url, answer in _RECORDED.items()
}


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    if scope["method"] == "POST":  # drain the request body, as any real server must
        while (await receive()).get("more_body"):
            pass
    query = scope["query_string"].decode()
    status, headers, body = _RESPONSES[scope["path"] + ("?" + query if query else "")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
