"""`/api/v4/contacts`: list with filters and paging, CRUD, conditional requests, custom-action nonces."""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from practice_sync_sandbox.clio.custom_actions import consume_nonce
from practice_sync_sandbox.clio.delivery import Dispatcher
from practice_sync_sandbox.clio.errors import bad_request
from practice_sync_sandbox.clio.fields import parse_fields, project
from practice_sync_sandbox.clio.models import Contact
from practice_sync_sandbox.clio.paging import (
    next_url,
    parse_id_list,
    parse_list_params,
    parse_time,
    select_page,
)
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

CONTACT_ORDERS = ("id", "name", "shared_at")


def contact_filter(request: Request, sb: ClioSandbox) -> Any:
    q = request.query_params
    inclusive = sb.config.since_inclusive
    updated_since = parse_time(q["updated_since"], "updated_since") if q.get("updated_since") else None
    created_since = parse_time(q["created_since"], "created_since") if q.get("created_since") else None
    ids = parse_id_list(request, "ids")
    exclude = parse_id_list(request, "exclude_ids")
    ctype = q.get("type")
    if ctype is not None and ctype not in ("Person", "Company"):
        raise bad_request("type must be Person or Company")
    query = (q.get("query") or "").strip().lower() or None
    initial = (q.get("initial") or "").strip().upper() or None
    client_only = q.get("client_only", "").lower() == "true"
    email_only = q.get("email_only", "").lower() == "true"

    def after(value: int, since: int) -> bool:
        return value >= since if inclusive else value > since

    def keep(c: Contact) -> bool:
        if updated_since is not None and not after(c.updated_at, updated_since):
            return False
        if created_since is not None and not after(c.created_at, created_since):
            return False
        if ids is not None and c.id not in ids:
            return False
        if exclude is not None and c.id in exclude:
            return False
        if ctype is not None and c.type != ctype:
            return False
        if client_only and not c.is_client:
            return False
        if email_only and not c.emails:
            return False
        if initial is not None and not (c.last_name or c.name or "").upper().startswith(initial):
            return False
        return query is None or query in c.search_text()

    return keep


def contacts_router(sb: ClioSandbox, dispatcher: Dispatcher) -> APIRouter:
    router = APIRouter(prefix="/api/v4")

    @api_route(router, "/contacts", ["GET"])
    async def list_contacts(request: Request) -> Response:
        account = require(request, sb, "contacts", False)
        resource = account.contact_resource
        params = parse_list_params(request, CONTACT_ORDERS, sb.config.max_limit)
        if params.order_key == "shared_at":
            params.order_key = "id"  # nothing is shared in the sandbox; id keeps a stable order
        selection = parse_fields(request.query_params.get("fields"), resource)
        records, token, offset = select_page(
            account.contacts, params, contact_filter(request, sb), sb.config.offset_cap
        )
        items: list[Any] = [project(c, resource, selection) for c in records]
        fault = sb.record_faults.pop(account.user.id, None)
        if fault is not None:
            items = fault.apply(items)
        return listing(items, next_url(request, token, offset))

    @api_route(router, "/contacts", ["POST"], 201)
    async def create_contact(request: Request) -> Response:
        account = require(request, sb, "contacts", True)
        selection = parse_fields(request.query_params.get("fields"), account.contact_resource)
        contact = account.contacts.create(await body_data(request), sb.now())
        dispatcher.contact_event(account, "created", None, contact)
        return single(project(contact, account.contact_resource, selection), 201)

    @api_route(router, "/contacts/{contact_id}", ["GET"])
    async def get_contact(request: Request, contact_id: str) -> Response:
        account = require(request, sb, "contacts", False)
        resource = account.contact_resource
        cid = record_id(contact_id, "Contact")
        nonce = request.query_params.get("custom_action_nonce")
        if nonce is not None:
            consume_nonce(sb, nonce, token_of(request).user_id, f"/api/v4/contacts/{cid}")
        contact = account.contacts.get(cid)
        selection = parse_fields(request.query_params.get("fields"), resource)
        etag = resource.scalars["etag"](contact)
        headers = {"ETag": etag}
        if_none = request.headers.get("if-none-match")
        if if_none is not None and etag in [t.strip() for t in if_none.split(",")] + ["*"]:
            return Response(status_code=304, headers=headers)
        since = request.headers.get("if-modified-since")
        if since and if_none is None:
            try:
                if contact.updated_at <= int(parsedate_to_datetime(since).timestamp()):
                    return Response(status_code=304, headers=headers)
            except (TypeError, ValueError):
                pass  # an unparseable date is ignored, as HTTP caches do
        return single(project(contact, resource, selection), headers=headers)

    @api_route(router, "/contacts/{contact_id}", ["PATCH"])
    async def update_contact(request: Request, contact_id: str) -> Response:
        account = require(request, sb, "contacts", True)
        resource = account.contact_resource
        cid = record_id(contact_id, "Contact")
        check_if_match(request, resource, account.contacts.get(cid))
        selection = parse_fields(request.query_params.get("fields"), resource)
        before, after = account.contacts.update(cid, await body_data(request), sb.now())
        dispatcher.contact_event(account, "updated", before, after)
        return single(project(after, resource, selection), headers={"ETag": resource.scalars["etag"](after)})

    @api_route(router, "/contacts/{contact_id}", ["DELETE"], 204)
    async def delete_contact(request: Request, contact_id: str) -> Response:
        account = require(request, sb, "contacts", True)
        contact = account.contacts.delete(record_id(contact_id, "Contact"))
        dispatcher.contact_event(account, "deleted", None, contact)
        return Response(status_code=204)

    return router
