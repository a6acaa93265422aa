"""Custom actions: per-user CRUD under `/api/v4/custom_actions`, and the click → nonce → verify flow."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import Response

from practice_sync_sandbox.clio.errors import forbidden, not_found, unprocessable
from practice_sync_sandbox.clio.fields import parse_fields, project
from practice_sync_sandbox.clio.models import CustomAction
from practice_sync_sandbox.clio.paging import (
    SmallSource,
    next_url,
    parse_id_list,
    parse_list_params,
    parse_time,
    select_page,
)
from practice_sync_sandbox.clio.resources import custom_action_resource
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
from practice_sync_sandbox.clio.state import ClioSandbox, Nonce

UI_REFERENCES = ("activities/show", "contacts/show", "documents/show", "folders/show", "matters/show")
SUBJECT_PATHS = {
    "activities/show": "activities",
    "contacts/show": "contacts",
    "documents/show": "documents",
    "folders/show": "folders",
    "matters/show": "matters",
}


def _validate(sb: ClioSandbox, action: CustomAction, data: dict[str, Any]) -> None:
    for key in ("label", "target_url", "ui_reference"):
        if key in data:
            value = data[key]
            if not isinstance(value, str) or not value.strip():
                raise unprocessable(f"{key.replace('_', ' ').capitalize()} can't be blank")
            setattr(action, key, value.strip())
    if not action.label or not action.target_url or not action.ui_reference:
        missing = [k for k in ("label", "target_url", "ui_reference") if not getattr(action, k)]
        raise unprocessable(f"{', '.join(missing)} can't be blank")
    if action.ui_reference not in UI_REFERENCES:
        raise unprocessable(f"Ui reference must be one of {', '.join(UI_REFERENCES)}")
    parts = urlsplit(action.target_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise unprocessable("Target url must be an absolute http(s) URL")
    for other in sb.custom_actions.values():
        if (
            other.id != action.id
            and other.user_id == action.user_id
            and other.client_id == action.client_id
            and other.ui_reference == action.ui_reference
            and other.label == action.label
        ):
            raise unprocessable("Label has already been taken for this ui_reference")


def mint_click(
    sb: ClioSandbox, action: CustomAction, subject_id: int, user_id: int | None = None
) -> dict[str, Any]:
    """What Clio does when the user clicks: a single-use nonce bound to the user, and the URL it opens."""
    clicker = user_id if user_id is not None else action.user_id
    subject_path = f"/api/v4/{SUBJECT_PATHS[action.ui_reference]}/{subject_id}"
    value = secrets.token_urlsafe(24)
    expires = sb.clock.time() + sb.config.nonce_ttl_s
    sb.nonces[value] = Nonce(value, clicker, action.id, subject_path, expires)
    query = urlencode(
        {
            "custom_action_id": action.id,
            "user_id": clicker,
            "subject_url": subject_path,
            "custom_action_nonce": value,
        }
    )
    sep = "&" if urlsplit(action.target_url).query else "?"
    return {
        "url": f"{action.target_url}{sep}{query}",
        "custom_action_id": action.id,
        "user_id": clicker,
        "subject_url": subject_path,
        "custom_action_nonce": value,
        "expires_in": sb.config.nonce_ttl_s,
    }


def consume_nonce(sb: ClioSandbox, value: str, user_id: int, subject_path: str) -> None:
    nonce = sb.nonces.get(value)
    if nonce is None or nonce.used or nonce.expires_at <= sb.clock.time():
        raise forbidden("The custom action nonce is invalid, expired or already used")
    if nonce.user_id != user_id or nonce.subject_path != subject_path:
        raise forbidden("The custom action nonce does not belong to this user and record")
    nonce.used = True


def custom_actions_router(sb: ClioSandbox) -> APIRouter:
    router = APIRouter(prefix="/api/v4")
    resource = custom_action_resource(sb.salt)

    def own(request: Request, raw_id: str, write: bool) -> CustomAction:
        account = require(request, sb, "custom_actions", write)
        action = sb.custom_actions.get(record_id(raw_id, "CustomAction"))
        # Another user's action is invisible, not forbidden: custom actions are per user.
        if (
            action is None
            or action.user_id != account.user.id
            or action.client_id != token_of(request).client_id
        ):
            raise not_found("CustomAction", raw_id)
        return action

    @api_route(router, "/custom_actions", ["GET"])
    async def list_custom_actions(request: Request) -> Response:
        account = require(request, sb, "custom_actions", False)
        params = parse_list_params(request, ("id",), sb.config.max_limit)
        selection = parse_fields(request.query_params.get("fields"), resource)
        q = request.query_params
        ids = parse_id_list(request, "ids")
        updated = parse_time(q["updated_since"], "updated_since") if q.get("updated_since") else None
        created = parse_time(q["created_since"], "created_since") if q.get("created_since") else None
        client_id = token_of(request).client_id
        mine = {
            a.id: a
            for a in sb.custom_actions.values()
            if a.user_id == account.user.id and a.client_id == client_id
        }

        def keep(a: CustomAction) -> bool:
            return (
                (ids is None or a.id in ids)
                and (updated is None or a.updated_at >= updated)
                and (created is None or a.created_at >= created)
            )

        records, token, offset = select_page(SmallSource(mine), params, keep, sb.config.offset_cap)
        return listing([project(a, resource, selection) for a in records], next_url(request, token, offset))

    @api_route(router, "/custom_actions", ["POST"], 201)
    async def create_custom_action(request: Request) -> Response:
        account = require(request, sb, "custom_actions", True)
        selection = parse_fields(request.query_params.get("fields"), resource)
        data = await body_data(request)
        now = sb.now()
        action = CustomAction(0, account.user.id, token_of(request).client_id, "", "", "", now, now)
        _validate(sb, action, data)
        action.id = sb.next_custom_action_id.next()
        sb.custom_actions[action.id] = action
        return single(project(action, resource, selection), 201)

    @api_route(router, "/custom_actions/{action_id}", ["GET"])
    async def get_custom_action(request: Request, action_id: str) -> Response:
        action = own(request, action_id, False)
        return single(project(action, resource, parse_fields(request.query_params.get("fields"), resource)))

    @api_route(router, "/custom_actions/{action_id}", ["PATCH"])
    async def update_custom_action(request: Request, action_id: str) -> Response:
        action = own(request, action_id, True)
        check_if_match(request, resource, action)
        selection = parse_fields(request.query_params.get("fields"), resource)
        data = await body_data(request)
        draft = CustomAction(
            action.id,
            action.user_id,
            action.client_id,
            action.label,
            action.target_url,
            action.ui_reference,
            action.created_at,
            action.updated_at,
            action.version,
        )
        _validate(sb, draft, data)
        action.label, action.target_url, action.ui_reference = (
            draft.label,
            draft.target_url,
            draft.ui_reference,
        )
        action.updated_at, action.version = sb.now(), action.version + 1
        return single(project(action, resource, selection))

    @api_route(router, "/custom_actions/{action_id}", ["DELETE"], 204)
    async def delete_custom_action(request: Request, action_id: str) -> Response:
        action = own(request, action_id, True)
        del sb.custom_actions[action.id]
        return Response(status_code=204)

    return router
