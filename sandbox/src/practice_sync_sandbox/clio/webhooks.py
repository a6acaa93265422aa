"""Webhook subscriptions: validation rules and the `/api/v4/webhooks` routes (incl. activate)."""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import Response

from practice_sync_sandbox.clio.delivery import Dispatcher
from practice_sync_sandbox.clio.errors import ClioError, forbidden, not_found, unprocessable
from practice_sync_sandbox.clio.fields import parse_fields, project
from practice_sync_sandbox.clio.models import Webhook
from practice_sync_sandbox.clio.oauth import is_loopback_url
from practice_sync_sandbox.clio.paging import (
    SmallSource,
    next_url,
    parse_id_list,
    parse_list_params,
    parse_time,
    select_page,
)
from practice_sync_sandbox.clio.resources import webhook_resource
from practice_sync_sandbox.clio.routing import (
    api_route,
    body_data,
    check_if_match,
    listing,
    record_id,
    require,
    single,
    token_of,
)
from practice_sync_sandbox.clio.state import ClioSandbox

MODELS: dict[int, str] = {
    1: "matter",
    2: "activity",
    3: "bill",
    4: "calendar_entry",
    5: "communication",
    6: "contact",
    7: "task",
    8: "document",
    9: "folder",
    10: "clio_payments_payment",
}
BASE_EVENTS = ("created", "updated", "deleted")
MATTER_EVENTS = ("matter_opened", "matter_pended", "matter_closed")
MAX_FIELDS_CHARS = 1000


def events_for(model: str) -> tuple[str, ...]:
    if model == "matter":
        return BASE_EVENTS + MATTER_EVENTS
    if model == "clio_payments_payment":
        return ("created", "updated")
    return BASE_EVENTS


def parse_model(value: Any) -> str:
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        model = MODELS.get(int(value))
    else:
        model = (
            value.strip().lower()
            if isinstance(value, str) and value.strip().lower() in MODELS.values()
            else None
        )
    if model is None:
        raise unprocessable(f"Model must be one of {', '.join(MODELS.values())} (or its numeric id)")
    return model


class WebhookRules:
    def __init__(self, sb: ClioSandbox) -> None:
        self.sb = sb

    def url(self, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise unprocessable("Url can't be blank")
        url = value.strip()
        try:
            parts = urlsplit(url)
        except ValueError:
            raise unprocessable("Url is not a valid URL") from None
        if parts.scheme == "https" and parts.hostname:
            return url
        if parts.scheme == "http" and self.sb.config.allow_http_loopback_webhooks and is_loopback_url(url):
            return url
        raise unprocessable(
            "Url must be a valid HTTPS URL"
            + (
                " (http is accepted only for loopback hosts)"
                if self.sb.config.allow_http_loopback_webhooks
                else ""
            )
        )

    def fields(self, value: Any, model: str, account_resource: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise unprocessable("Fields can't be blank")
        if len(value) > MAX_FIELDS_CHARS:
            raise unprocessable(f"Fields is too long (maximum is {MAX_FIELDS_CHARS} characters)")
        if model == "contact":
            try:
                parse_fields(value, account_resource)
            except ClioError as exc:
                raise unprocessable(exc.message) from None
        return value.strip()

    def events(self, value: Any, model: str) -> list[str]:
        if value is None:
            return list(events_for(model))
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise unprocessable("Events must be a non-empty list")
        allowed = events_for(model)
        bad = [v for v in value if v not in allowed]
        if bad:
            raise unprocessable(
                f"Events {', '.join(bad)} not valid for {model}; allowed: {', '.join(allowed)}"
            )
        return list(dict.fromkeys(value))

    def expires_at(self, value: Any) -> int:
        now = self.sb.now()
        cfg = self.sb.config
        if value in (None, ""):
            return now + cfg.webhook_default_ttl_s
        if not isinstance(value, str):
            raise unprocessable("Expires at must be an ISO-8601 timestamp")
        try:
            when = parse_time(value, "expires_at")
        except ClioError:
            raise unprocessable("Expires at must be an ISO-8601 timestamp") from None
        if when <= now:
            raise unprocessable("Expires at must be in the future")
        # Rejecting (rather than clamping) keeps a client that asks for too much from believing it got it.
        if when > now + cfg.webhook_max_ttl_s + 60:
            raise unprocessable(
                f"Expires at cannot be more than {cfg.webhook_max_ttl_s // 86_400} days from now"
            )
        return when


def webhook_router(sb: ClioSandbox, dispatcher: Dispatcher) -> APIRouter:
    router = APIRouter(prefix="/api/v4")
    rules = WebhookRules(sb)
    resource = webhook_resource(sb.salt, sb.users)

    def own(request: Request, raw_id: str, write: bool) -> Webhook:
        account = require(request, sb, "webhooks", write)
        hook = sb.webhooks.get(record_id(raw_id, "Webhook"))
        if hook is None or hook.user_id != account.user.id or hook.client_id != token_of(request).client_id:
            raise not_found("Webhook", raw_id)
        return hook

    def render(request: Request, hook: Webhook) -> dict[str, Any]:
        return project(hook, resource, parse_fields(request.query_params.get("fields"), resource))

    @api_route(router, "/webhooks", ["GET"])
    async def list_webhooks(request: Request) -> Response:
        account = require(request, sb, "webhooks", False)
        params = parse_list_params(request, ("id",), sb.config.max_limit)
        selection = parse_fields(request.query_params.get("fields"), resource)
        ids = parse_id_list(request, "ids")
        client_id = token_of(request).client_id
        mine = {
            h.id: h for h in sb.webhooks.values() if h.user_id == account.user.id and h.client_id == client_id
        }
        records, token, offset = select_page(
            SmallSource(mine), params, lambda h: ids is None or h.id in ids, sb.config.offset_cap
        )
        return listing([project(h, resource, selection) for h in records], next_url(request, token, offset))

    @api_route(router, "/webhooks", ["POST"], 201)
    async def create_webhook(request: Request) -> Response:
        account = require(request, sb, "webhooks", True)
        data = await body_data(request)
        selection = parse_fields(request.query_params.get("fields"), resource)
        missing = [k for k in ("url", "model", "fields") if data.get(k) in (None, "")]
        if missing:
            raise unprocessable(f"{', '.join(m.capitalize() for m in missing)} can't be blank")
        model = parse_model(data["model"])
        now = sb.now()
        hook = Webhook(
            id=0,
            user_id=account.user.id,
            client_id=token_of(request).client_id,
            url=rules.url(data["url"]),
            fields=rules.fields(data["fields"], model, account.contact_resource),
            model=model,
            events=rules.events(data.get("events"), model),
            shared_secret=secrets.token_hex(16),
            status="pending",
            expires_at=rules.expires_at(data.get("expires_at")),
            created_at=now,
            updated_at=now,
        )
        hook.id = sb.next_webhook_id.next()
        sb.webhooks[hook.id] = hook
        dispatcher.begin_handshake(hook)
        return single(project(hook, resource, selection), 201)

    @api_route(router, "/webhooks/{webhook_id}", ["GET"])
    async def get_webhook(request: Request, webhook_id: str) -> Response:
        return single(render(request, own(request, webhook_id, False)))

    @api_route(router, "/webhooks/{webhook_id}", ["PATCH"])
    async def update_webhook(request: Request, webhook_id: str) -> Response:
        hook = own(request, webhook_id, True)
        account = sb.accounts[hook.user_id]
        check_if_match(request, resource, hook)
        data = await body_data(request)
        selection = parse_fields(request.query_params.get("fields"), resource)
        model = parse_model(data["model"]) if "model" in data else hook.model
        url = rules.url(data["url"]) if "url" in data else hook.url
        fields = (
            rules.fields(data["fields"], model, account.contact_resource) if "fields" in data else hook.fields
        )
        events = rules.events(data["events"], model) if "events" in data else hook.events
        expires = rules.expires_at(data["expires_at"]) if "expires_at" in data else hook.expires_at
        url_changed = url != hook.url
        hook.model, hook.url, hook.fields, hook.events, hook.expires_at = model, url, fields, events, expires
        hook.updated_at, hook.version = sb.now(), hook.version + 1
        if url_changed:
            hook.status = "pending"
            dispatcher.begin_handshake(hook)
        return single(project(hook, resource, selection))

    @api_route(router, "/webhooks/{webhook_id}", ["DELETE"], 204)
    async def delete_webhook(request: Request, webhook_id: str) -> Response:
        hook = own(request, webhook_id, True)
        del sb.webhooks[hook.id]
        return Response(status_code=204)

    @router.put("/webhooks/{webhook_id}/activate.json", include_in_schema=False)
    @router.put("/webhooks/{webhook_id}/activate")
    async def activate_webhook(request: Request, webhook_id: str) -> Response:
        hook = own(request, webhook_id, True)
        given = request.headers.get("x-hook-secret", "")
        if not hmac.compare_digest(given, hook.shared_secret):
            raise forbidden("X-Hook-Secret does not match the webhook's shared secret")
        if hook.status != "enabled":
            dispatcher.enable(hook)
        return single(render(request, hook))

    return router
