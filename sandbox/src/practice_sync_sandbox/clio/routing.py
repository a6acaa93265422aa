"""Helpers every Clio API route uses: `.json` twins, scopes, request bodies, list envelopes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request

from practice_sync_sandbox.clio.errors import ClioError, ClioJSON, bad_request, forbidden, not_found
from practice_sync_sandbox.clio.oauth import AccessToken
from practice_sync_sandbox.clio.state import Account, ClioSandbox

Endpoint = Callable[..., Any]


def api_route(
    router: APIRouter, path: str, methods: list[str], status_code: int = 200
) -> Callable[[Endpoint], Endpoint]:
    """Registers `path.json` before `path`, so `/contacts/5.json` never lands on `/contacts/{id}`."""

    def register(fn: Endpoint) -> Endpoint:
        for variant in (f"{path}.json", path):
            router.add_api_route(
                variant,
                fn,
                methods=methods,
                status_code=status_code,
                response_class=ClioJSON,
                include_in_schema=variant == path,
            )
        return fn

    return register


def token_of(request: Request) -> AccessToken:
    token: AccessToken = request.state.token
    return token


def require(request: Request, sb: ClioSandbox, scope: str, write: bool) -> Account:
    """The caller's account, if its token carries `scope` (`scope:read` suffices for reads)."""
    token = token_of(request)
    if scope not in token.scopes and (write or f"{scope}:read" not in token.scopes):
        raise forbidden(f"The access token does not grant the '{scope}' {'write' if write else 'read'} scope")
    return sb.accounts[token.user_id]


def record_id(raw: str, what: str) -> int:
    try:
        return int(raw.removesuffix(".json"))
    except ValueError:
        raise not_found(what, raw) from None


async def body_data(request: Request) -> dict[str, Any]:
    """The `data` object of a write, from JSON or form-encoded (`data[first_name]=…`) bodies."""
    raw = await request.body()
    ctype = request.headers.get("content-type", "")
    if "application/x-www-form-urlencoded" in ctype:
        payload: Any = _form_to_nested(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    elif "multipart/form-data" in ctype:
        form = await request.form()
        payload = _form_to_nested([(k, str(v)) for k, v in form.multi_items()])
    else:
        try:
            payload = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            raise bad_request("Request body is not valid JSON") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
        raise ClioError(422, "ValidationError", 'Request body must be {"data": {...}}')
    data: dict[str, Any] = payload["data"]
    return data


def _form_to_nested(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":  # `events[]`
                continue
            if last or parts[i + 1] == "":
                if not last and parts[i + 1] == "":
                    node.setdefault(part, []).append(value)
                else:
                    node[part] = value
                break
            node = node.setdefault(part, {})
    return root


def single(payload: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> ClioJSON:
    return ClioJSON({"data": payload}, status_code=status, headers=headers)


def listing(items: list[Any], next_link: str | None) -> ClioJSON:
    paging: dict[str, str] = {"next": next_link} if next_link else {}
    return ClioJSON({"data": items, "meta": {"paging": paging}})


def check_if_match(request: Request, resource: Any, record: Any) -> None:
    wanted = request.headers.get("if-match")
    if wanted is None:
        return
    current = resource.scalars["etag"](record)
    if wanted.strip() not in (current, current.strip('"'), "*"):
        raise ClioError(412, "PreconditionFailed", "The resource has changed since the supplied ETag")
