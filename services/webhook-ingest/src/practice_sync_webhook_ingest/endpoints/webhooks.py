"""`POST /webhooks/clio/{org}`: handshake, signature, publish-before-200.

The route is served by a pure ASGI handler (`WebhookFastPath`) placed ahead of the app's whole
middleware stack: the generic FastAPI layers (dependency solving, the per-request task groups of
`BaseHTTPMiddleware`) cost several times what verifying and publishing a delivery costs (measured by
`bench/webhook_ingest.py`). The hot path: read the raw body once (size-limited), one HMAC per
candidate secret from the local cache, one JSON parse (validation and `meta`), the envelope built
around the raw body bytes (no re-serialisation of the payload), one produce awaited with acks=all.
The FastAPI route below has the same behaviour and documents the endpoint in OpenAPI.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from practice_sync_common.app_factory import error_body
from practice_sync_common.events import ORG_ID_PATTERN
from practice_sync_common.ids import uuid4
from practice_sync_common.logging import get_logger
from practice_sync_common.metrics import HTTP_LATENCY, HTTP_REQUESTS
from practice_sync_common.org_ids import canonical_org_id
from practice_sync_webhook_ingest.service.metrics import DELIVERIES
from practice_sync_webhook_ingest.service.publisher import Publisher, PublishFailed
from practice_sync_webhook_ingest.service.secrets_cache import SecretsUnavailable, WebhookSecrets

log = get_logger(__name__)
router = APIRouter(tags=["webhooks"])
ROUTE = "/webhooks/clio/{org}"
ORG = Path(min_length=1, max_length=128, pattern=f"^{ORG_ID_PATTERN}$")
_ORG_PATH = re.compile(f"^/webhooks/clio/({ORG_ID_PATTERN})/?$")

Answer = tuple[int, bytes, list[tuple[bytes, bytes]]]
_JSON = [(b"content-type", b"application/json")]
# Label children looked up once (a `labels()` call per request is measurable on the hot path).
_ACCEPTED = DELIVERIES.labels("clio", "accepted")
_HTTP_OK = HTTP_REQUESTS.labels("POST", ROUTE, "200")
_LATENCY = HTTP_LATENCY.labels(ROUTE)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class TooLarge(Exception):
    pass


def _fail(status: int, kind: str, message: str, outcome: str) -> Answer:
    DELIVERIES.labels("clio", outcome).inc()
    return status, json.dumps(error_body(kind, message)).encode(), _JSON


def _matches(body: bytes, signature: str, keys: dict[str, bytes]) -> bool:
    expected = signature.strip().lower().encode()
    for key in keys.values():
        digest = hmac.new(key, body, hashlib.sha256).hexdigest().encode()
        if hmac.compare_digest(digest, expected):
            return True
    return False


def _json_text(value: Any) -> str:
    """A meta value as the JSON of `str | None` (what WebhookReceived holds)."""
    return "null" if value is None else json.dumps(str(value))


def envelope_bytes(org: str, body: bytes, payload: dict[str, Any]) -> bytes:
    """`Envelope[WebhookReceived]` as JSON, with the (verified, UTF-8, JSON object) body as payload.

    Equal to `Envelope[WebhookReceived](...).model_dump_json()` field for field (tests consume it as
    that model); the payload goes in as the bytes Clio signed.
    """
    meta = payload.get("meta")
    meta = meta if isinstance(meta, dict) else {}
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    head = (
        f'{{"id":"{uuid4()}","type":"webhook.received","schema_version":1,'
        f'"source":"webhook-ingest","org_id":{json.dumps(org)},"occurred_at":"{now}",'
        f'"correlation_id":null,"data":{{"provider":"clio",'
        f'"webhook_id":{_json_text(meta.get("webhook_id"))},"event":{_json_text(meta.get("event"))},'
        f'"model":null,"received_at":"{now}","payload":'
    )
    return head.encode() + body + b"}}"


async def handle(
    org: str,
    body: bytes,
    handshake: str | None,
    signature: str | None,
    cache: WebhookSecrets,
    publisher: Publisher,
) -> Answer:
    # Its path has passed the org-id rule; the event and the secrets' lookup use the org's one spelling.
    org = canonical_org_id(org)
    if handshake is not None and not signature:
        # Clio confirms a new subscription by sending its secret; echoing it back enables the hook.
        # Handshakes carry no signature and nothing to publish (their body may be empty). A signed
        # request is a delivery whatever else it carries: answering it here would drop it unread.
        DELIVERIES.labels("clio", "handshake").inc()
        return 200, b"", [(b"x-hook-secret", handshake.encode())]
    if not signature:
        return _fail(401, "unauthorized", "missing X-Hook-Signature header", "missing_signature")
    try:
        keys = await cache.get(org)
        if not _matches(body, signature, keys):
            fresh = await cache.refetch(org)
            if fresh is None or not _matches(body, signature, fresh):
                return _fail(
                    401,
                    "unauthorized",
                    "X-Hook-Signature does not match any webhook secret of this organization",
                    "bad_signature",
                )
    except SecretsUnavailable:
        return _fail(503, "unavailable", "webhook secrets unavailable; retry later", "unavailable")
    if not body or body.isspace():
        # Signed, but a Clio delivery is always a JSON object (`data` and `meta`): nothing to publish.
        return _fail(
            400, "bad_request", "request body is empty; a Clio webhook delivery is a JSON object", "not_json"
        )
    try:
        payload: Any = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError):
        return _fail(400, "bad_request", "request body is not JSON (UTF-8)", "not_json")
    if not isinstance(payload, dict):
        return _fail(400, "bad_request", "request body must be a JSON object", "not_json")
    try:
        await publisher.publish_raw(org.encode(), envelope_bytes(org, body, payload))
    except PublishFailed as exc:
        log.warning("could not publish a webhook; answering 503 so Clio retries", org=org, error=str(exc))
        return _fail(503, "unavailable", "cannot accept webhooks right now; retry later", "unavailable")
    _ACCEPTED.inc()
    return 200, b"", []


class WebhookFastPath:
    """Pure ASGI: `POST /webhooks/clio/{org}` handled here, everything else passed to the app."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        match = _ORG_PATH.match(scope["path"])
        if match is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        handshake = signature = None
        too_large = False
        for name, value in scope["headers"]:
            if name == b"x-hook-signature":
                signature = value.decode("latin-1")
            elif name == b"x-hook-secret":
                handshake = value.decode("latin-1")
            elif name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                too_large = True
        try:
            if too_large:
                raise TooLarge
            body = await self._body(receive)
            state = scope["app"].state  # the FastAPI app's: its publisher and secrets cache
            status, content, headers = await handle(
                match.group(1), body, handshake, signature, state.webhook_secrets, state.publisher
            )
        except ConnectionAbortedError:
            return  # the client hung up before sending the whole body: nothing to answer
        except TooLarge:
            status = 413
            content = json.dumps(
                error_body("payload_too_large", f"request body over {self.max_bytes} bytes")
            ).encode()
            headers = _JSON
        except Exception:
            # Ahead of Starlette's error layer, so the 500 is ours to give (nothing was published).
            log.exception("webhook delivery failed unexpectedly")
            status, content, headers = (
                500,
                json.dumps(error_body("internal", "internal error")).encode(),
                _JSON,
            )
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*headers, (b"content-length", str(len(content)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": content})
        (_HTTP_OK if status == 200 else HTTP_REQUESTS.labels("POST", ROUTE, str(status))).inc()
        _LATENCY.observe(time.perf_counter() - started)

    async def _body(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message: Message = await receive()
            if message["type"] == "http.disconnect":
                raise TooLarge if size > self.max_bytes else ConnectionAbortedError("client went away")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)


@router.post(ROUTE, response_model=None)
async def clio_webhook(request: Request, org: str = ORG) -> Response:
    """Documents the endpoint; requests are answered by `WebhookFastPath` with the same `handle`."""
    status, content, headers = await handle(
        org,
        await request.body(),
        request.headers.get("x-hook-secret"),
        request.headers.get("x-hook-signature"),
        request.app.state.webhook_secrets,
        request.app.state.publisher,
    )
    return Response(content, status, headers={k.decode(): v.decode() for k, v in headers})
