"""The front door: every request's route, found once from the app's own routes, and its caller,
authorised once, before any fast lane or the framework sees the request.

`app.asgi.serve` asks `FrontDoor.match` for the route the router would pick. When that route
declares a requirement (`app.dependencies.require_scope`), the request is authorised there and
then (`authorise`: the caller, every check in `CHECKS`, one charge to the quota), and the Access
is left in the scope, where the route's dependency finds it. A refusal is answered at once. A
route with a fast lane (`Lane`, registered by `app.main` against the route's endpoint) is then
offered the request; a lane that declines leaves it to the framework, which runs the same route.
So a check added to `CHECKS` holds on every lane, and no lane has a path or a key check of its own.
"""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from re import Pattern
from typing import Any

from fastapi.routing import iter_route_contexts
from starlette.routing import get_route_path  # type: ignore[attr-defined]  # the router's own, for the same answer
from starlette.types import ASGIApp, Receive, Scope, Send

from app.dependencies import Access, Requirement, requirement_of
from app.state import AppState

# (state, the request's Access, its path parameters, scope, receive, send) -> (the status it
# answered, or None to leave the request to the framework; the `receive` to go on with, which
# hands back any body the lane read).
Lane = Callable[[AppState, Access, Mapping[str, Any], Scope, Receive, Send], Awaitable[tuple[int | None, Receive]]]
# Matches remembered, by (method, path); forgotten all at once when there are this many.
_MAX_REMEMBERED = 10_000


@dataclass(frozen=True, slots=True)
class Door:
    """One route as the front door sees it."""

    path: str  # its template, as the metrics and the request log name it
    regex: Pattern[str]
    convertors: Mapping[str, Any]
    methods: frozenset[str] | None  # None: any (a mount)
    requirement: Requirement | None
    lane: Lane | None


class FrontDoor:
    """The app's routes, in the router's order, with their requirements and fast lanes."""

    def __init__(self, app: ASGIApp, lanes: Mapping[Callable[..., Any], Lane]) -> None:
        self._app = app
        self._lanes = lanes
        self._doors: list[Door] | None = None  # built at the first request: the routes are fixed by then
        self._matches: dict[tuple[str, str], tuple[Door, dict[str, Any]] | None] = {}

    def match(self, scope: Scope) -> tuple[Door, dict[str, Any]] | None:
        """The route the router answers the request by, with its path parameters (as the
        router converts them); None when it would answer 404 or 405."""
        key = (scope["method"], get_route_path(scope) if scope.get("root_path") else scope["path"])
        found = self._matches.get(key, False)
        if found is False:
            if len(self._matches) >= _MAX_REMEMBERED:
                self._matches.clear()
            found = self._matches[key] = self._find(*key)
        return found  # type: ignore[return-value]

    def _find(self, method: str, path: str) -> tuple[Door, dict[str, Any]] | None:
        for door in self._routes():
            matched = door.regex.match(path)
            if matched is not None and (door.methods is None or method in door.methods):
                params = {name: door.convertors[name].convert(value) for name, value in matched.groupdict().items()}
                return door, params
        return None

    def _routes(self) -> list[Door]:
        if self._doors is None:
            routes = getattr(getattr(self._app, "router", None), "routes", [])
            self._doors = [
                Door(
                    path=context.path,
                    regex=context.path_regex,
                    convertors=context.param_convertors,
                    methods=frozenset(context.methods) if context.methods else None,
                    requirement=_requirement(getattr(context, "dependant", None)),
                    lane=self._lanes.get(context.endpoint) if context.endpoint is not None else None,
                )
                for context in iter_route_contexts(routes)
                if context.path is not None and getattr(context, "path_regex", None) is not None
            ]
        return self._doors


def _requirement(dependant: Any) -> Requirement | None:
    """The requirement a route declares through one of its dependencies, if any."""
    for dependency in getattr(dependant, "dependencies", None) or ():
        requirement = requirement_of(dependency.call)
        if requirement is not None:
            return requirement
    return None
