"""`POST /webhooks/clio/{org}`: handshake, signature, publish-before-200.

The hot path is kept lean on purpose (see bench/webhook_ingest.py): read the raw body once, one
HMAC per candidate secret, one JSON parse, one publish awaited with acks=all.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response

from practice_sync_common.app_factory import error_body
from practice_sync_common.events import Envelope, WebhookReceived
from practice_sync_common.logging import get_logger
from practice_sync_webhook_ingest.service.metrics import DELIVERIES
from practice_sync_webhook_ingest.service.publisher import Publisher, PublishFailed
from practice_sync_webhook_ingest.service.secrets_cache import SecretsUnavailable, WebhookSecrets

log = get_logger(__name__)
router = APIRouter(tags=["webhooks"])
ORG = Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._-]+$")
_OK = Response(status_code=200)


def _fail(status: int, kind: str, message: str, outcome: str) -> JSONResponse:
    DELIVERIES.labels("clio", outcome).inc()
    return JSONResponse(error_body(kind, message), status)


def _matches(body: bytes, signature: str, keys: dict[str, bytes]) -> bool:
    expected = signature.strip().lower().encode()
    for key in keys.values():
        digest = hmac.new(key, body, hashlib.sha256).hexdigest().encode()
        if hmac.compare_digest(digest, expected):
            return True
    return False


@router.post("/webhooks/clio/{org}", response_model=None)
async def clio_webhook(request: Request, org: str = ORG) -> Response:
    body = await request.body()
    handshake = request.headers.get("x-hook-secret")
    if handshake is not None:
        # Clio confirms a new subscription by sending its secret; echoing it back enables the hook.
        # Handshakes carry no signature and nothing to publish.
        DELIVERIES.labels("clio", "handshake").inc()
        return Response(status_code=200, headers={"X-Hook-Secret": handshake})
    signature = request.headers.get("x-hook-signature")
    if not signature:
        return _fail(401, "unauthorized", "missing X-Hook-Signature header", "missing_signature")
    cache: WebhookSecrets = request.app.state.webhook_secrets
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
    try:
        payload: Any = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _fail(400, "bad_request", "request body is not JSON", "not_json")
    if not isinstance(payload, dict):
        return _fail(400, "bad_request", "request body must be a JSON object", "not_json")
    meta = payload.get("meta")
    meta = meta if isinstance(meta, dict) else {}
    webhook_id = meta.get("webhook_id")
    event = meta.get("event")
    envelope = Envelope[WebhookReceived](
        type="webhook.received",
        source="webhook-ingest",
        org_id=org,
        data=WebhookReceived(
            provider="clio",
            webhook_id=str(webhook_id) if webhook_id is not None else None,
            event=str(event) if event is not None else None,
            payload=payload,
        ),
    )
    publisher: Publisher = request.app.state.publisher
    try:
        await publisher.publish(envelope)
    except PublishFailed as exc:
        log.warning("could not publish a webhook; answering 503 so Clio retries", org=org, error=str(exc))
        return _fail(503, "unavailable", "cannot accept webhooks right now; retry later", "unavailable")
    DELIVERIES.labels("clio", "accepted").inc()
    return _OK
