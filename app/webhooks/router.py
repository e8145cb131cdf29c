"""Webhook endpoint management (scope `webhooks:manage`, API keys only): read the request, call
one service function, answer. Secrets are answered only when made: on registration and rotation."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response

from app.dependencies import Access, AppStateDep, require_scope
from app.errors import problem_responses
from app.json_route import OrjsonRoute
from app.kit import NO_NUL, aware_moment
from app.pagination import Cursor, Limit, decode_cursor, next_page
from app.webhooks import messages, service
from app.webhooks.schemas import (
    DeliveryPage,
    Queued,
    ReplayIn,
    WebhookCreated,
    WebhookIn,
    WebhookList,
    WebhookOut,
    WebhookPatch,
    WebhookSecret,
)

router = APIRouter(prefix="/v1", tags=["webhooks"], route_class=OrjsonRoute)

# Webhooks are the partner's backend's business: a user token never carries the scope.
Manager = Annotated[Access, Depends(require_scope("webhooks:manage", user_tokens=False))]
EndpointIdPath = Annotated[
    str,
    Path(max_length=64, pattern=NO_NUL, description="The endpoint's `id`, as the service gave it."),
]
_CREATED: dict[int | str, dict[str, Any]] = {
    201: {"description": "Registered", "headers": {"Location": {"schema": {"type": "string"}}}},
}


@router.post(
    "/webhooks",
    status_code=201,
    response_model=WebhookCreated,
    summary="Register a webhook endpoint (its secret is shown in this answer only)",
    responses=_CREATED | problem_responses(400, 401, 403, 409, 413, 415, 422, 503),
)
async def create_webhook(
    body: WebhookIn, request: Request, response: Response, access: Manager, state: AppStateDep
) -> dict[str, Any]:
    created = await service.create_endpoint(
        transaction=access.transaction,
        partner_id=access.partner_id,
        body=body,
        allow_private=state.settings.webhooks_allow_private,
    )
    response.headers["Location"] = f"{request.url.path}/{created['id']}"
    state.webhook_subscriptions = state.webhook_subscriptions.adding(access.partner_id, created["events"])
    return created


@router.get(
    "/webhooks",
    status_code=200,
    response_model=WebhookList,
    summary="List the partner's webhook endpoints (without their secrets)",
    responses=problem_responses(401, 403, 422, 503),
)
async def list_webhooks(access: Manager) -> dict[str, Any]:
    items = await access.transaction.autocommit(service.list_endpoints, partner_id=access.partner_id)
    return {"items": items}


@router.get(
    "/webhooks/{endpoint_id}",
    status_code=200,
    response_model=WebhookOut,
    summary="Get one webhook endpoint (without its secret)",
    responses=problem_responses(401, 403, 404, 422, 503),
)
async def get_webhook(endpoint_id: EndpointIdPath, access: Manager) -> dict[str, Any]:
    return await access.transaction.autocommit(
        service.get_endpoint, partner_id=access.partner_id, endpoint_id=endpoint_id
    )


@router.patch(
    "/webhooks/{endpoint_id}",
    status_code=200,
    response_model=WebhookOut,
    summary="Change a webhook endpoint's URL, events, description or whether it is enabled (JSON merge patch)",
    openapi_extra={
        "requestBody": {
            "content": {"application/merge-patch+json": {"schema": {"$ref": "#/components/schemas/WebhookPatch"}}}
        }
    },
    responses=problem_responses(400, 401, 403, 404, 413, 415, 422, 503),
)
async def update_webhook(
    endpoint_id: EndpointIdPath, body: WebhookPatch, access: Manager, state: AppStateDep
) -> dict[str, Any]:
    updated = await service.update_endpoint(
        transaction=access.transaction,
        partner_id=access.partner_id,
        endpoint_id=endpoint_id,
        body=body,
        allow_private=state.settings.webhooks_allow_private,
    )
    if updated["enabled"]:
        state.webhook_subscriptions = state.webhook_subscriptions.adding(access.partner_id, updated["events"])
    return updated


@router.delete(
    "/webhooks/{endpoint_id}",
    status_code=204,
    summary="Remove a webhook endpoint",
    responses=problem_responses(401, 403, 404, 422, 503),
)
async def delete_webhook(endpoint_id: EndpointIdPath, access: Manager) -> Response:
    await access.transaction(service.delete_endpoint, partner_id=access.partner_id, endpoint_id=endpoint_id)
    return Response(status_code=204)


@router.post(
    "/webhooks/{endpoint_id}/secret",
    status_code=200,
    response_model=WebhookSecret,
    summary="Rotate a webhook endpoint's secret (the previous one still signs for 24 hours)",
    responses=problem_responses(401, 403, 404, 422, 503),
)
async def rotate_webhook_secret(endpoint_id: EndpointIdPath, access: Manager) -> dict[str, str]:
    return await access.transaction(service.rotate_secret, partner_id=access.partner_id, endpoint_id=endpoint_id)


@router.get(
    "/webhooks/{endpoint_id}/deliveries",
    status_code=200,
    response_model=DeliveryPage,
    summary="The endpoint's messages and their attempts, newest first (kept 7 days)",
    responses=problem_responses(401, 403, 404, 422, 503),
)
async def list_webhook_deliveries(
    endpoint_id: EndpointIdPath,
    request: Request,
    response: Response,
    access: Manager,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> dict[str, Any]:
    after = decode_cursor(cursor, parts=(aware_moment, str))
    items, last = await access.transaction.autocommit(
        messages.list_deliveries, partner_id=access.partner_id, endpoint_id=endpoint_id, after=after, limit=limit
    )
    next_cursor = next_page(request, response, last, {"limit": limit})
    return {"items": items, "next_cursor": next_cursor}


@router.post(
    "/webhooks/{endpoint_id}/replay",
    status_code=202,
    response_model=Queued,
    summary="Queue again every message for the endpoint created since a time (same webhook-id)",
    responses=problem_responses(400, 401, 403, 404, 413, 415, 422, 503),
)
async def replay_webhook(endpoint_id: EndpointIdPath, body: ReplayIn, access: Manager) -> Queued:
    queued = await access.transaction(
        messages.replay, partner_id=access.partner_id, endpoint_id=endpoint_id, since=body.since
    )
    return Queued(queued=queued)


@router.post(
    "/webhooks/{endpoint_id}/test",
    status_code=202,
    response_model=Queued,
    summary="Queue one webhook.test event for the endpoint",
    responses=problem_responses(401, 403, 404, 422, 503),
)
async def test_webhook(endpoint_id: EndpointIdPath, access: Manager) -> Queued:
    queued = await access.transaction(messages.send_test, partner_id=access.partner_id, endpoint_id=endpoint_id)
    return Queued(queued=0 if queued is None else 1)
