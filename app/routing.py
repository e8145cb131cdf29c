"""Which methods a path allows, from the application's own routes (as the router decides a
405): every route whose path matches, HEAD wherever GET is. A leaf: it knows no domain and
builds nothing (no OpenAPI document), so a 405, a body check or a CORS preflight costs a walk
over the compiled routes and no more."""

import re
from weakref import WeakKeyDictionary

from fastapi.routing import iter_route_contexts
from starlette.routing import compile_path
from starlette.types import ASGIApp, Scope

# Each app's route paths, compiled once, with their methods (its routes are fixed once it serves).
_ROUTES: WeakKeyDictionary[ASGIApp, list[tuple[re.Pattern[str], frozenset[str]]]] = WeakKeyDictionary()


def _routes(app: ASGIApp) -> list[tuple[re.Pattern[str], frozenset[str]]]:
    routes = _ROUTES.get(app)
    if routes is None:
        contexts = iter_route_contexts(getattr(getattr(app, "router", None), "routes", []))
        routes = _ROUTES[app] = [
            (compile_path(context.path)[0], frozenset(context.methods))
            for context in contexts
            if context.path is not None and context.methods
        ]
    return routes


def allowed_methods(app: ASGIApp, scope: Scope) -> list[str]:
    """The methods some route of `app` takes on the scope's path, HEAD wherever GET is, sorted."""
    methods: set[str] = set()
    for pattern, taken in _routes(app):
        if pattern.match(scope["path"]):
            methods |= taken
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)
