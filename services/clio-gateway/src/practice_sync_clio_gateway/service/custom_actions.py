"""The "Open Smart Intake" custom action: ensure per connected user, list, delete, and launch.

A launch is trusted only after Clio confirms the click's nonce with the clicking user's token
(`GET {host}{subject_url}?custom_action_nonce=...`); Clio makes nonces single-use, so a replay fails.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from prometheus_client import Counter
from sqlalchemy import delete, insert, select

from practice_sync_clio_gateway.repository.tables import custom_action_clicks, custom_actions
from practice_sync_clio_gateway.service.context import Gateway
from practice_sync_common.db import unit_of_work
from practice_sync_common.logging import get_logger
from practice_sync_common.provider_http import ProviderAuthError, ProviderRequestError

log = get_logger(__name__)
UI_REFERENCE = "contacts/show"
ACTION_FIELDS = "id,etag,label,target_url,ui_reference"
# ASCII digits, whole string: `\d` takes other scripts' digits and `$` a trailing newline, which
# then reached the URL of the Clio request and made it raise (a 500) instead of being refused.
SUBJECT = re.compile(r"/api/v4/contacts/([0-9]{1,19})(?:\.json)?")
MAX_ID = 2**63 - 1  # Clio ids are int64, and so are our columns
CLICKS = Counter("clio_custom_action_clicks_total", "Custom-action launches by outcome", ["outcome"])


class LaunchRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def launch_url(gw: Gateway) -> str:
    return f"{gw.settings.gateway_public_url.rstrip('/')}/clio/custom-actions/launch"


async def ensure(gw: Gateway, org: str) -> dict[str, Any]:
    """Create or fix the org user's action; idempotent. Returns the action and what was done."""
    api = await gw.clio.open(org)
    try:
        user = (await api.get("users/who_am_i", "id,name"))["data"]
        found: dict[str, Any] | None = None
        async for _, body in api.pages("custom_actions", ACTION_FIELDS):
            for a in body.get("data") or []:
                if (
                    a.get("label") == gw.settings.custom_action_label
                    and a.get("ui_reference") == UI_REFERENCE
                ):
                    found = a
        action = "kept"
        if found is None:
            found = await api.create(
                "custom_actions",
                {
                    "label": gw.settings.custom_action_label,
                    "target_url": launch_url(gw),
                    "ui_reference": UI_REFERENCE,
                },
                ACTION_FIELDS,
            )
            action = "created"
        elif found.get("target_url") != launch_url(gw):
            found = await api.patch(
                f"custom_actions/{found['id']}", {"target_url": launch_url(gw)}, ACTION_FIELDS
            )
            action = "updated"
    finally:
        await api.aclose()
    row = {
        "org_id": org,
        "custom_action_id": int(found["id"]),
        "clio_user_id": int(user["id"]),
        "label": found["label"],
        "target_url": found["target_url"],
        "ui_reference": found["ui_reference"],
    }
    from sqlalchemy.dialects.postgresql import insert as upsert

    stmt = upsert(custom_actions).values(**row)
    async with unit_of_work(gw.sessions) as s:
        await s.execute(
            stmt.on_conflict_do_update(
                index_elements=[custom_actions.c.org_id, custom_actions.c.custom_action_id],
                set_={k: v for k, v in row.items() if k not in ("org_id", "custom_action_id")},
            )
        )
    return {**row, "action": action}


async def list_for(gw: Gateway, org: str) -> list[dict[str, Any]]:
    async with unit_of_work(gw.sessions) as s:
        rows = await s.execute(select(custom_actions).where(custom_actions.c.org_id == org))
        return [dict(r) for r in rows.mappings()]


class CustomActionNotFound(Exception):
    """Neither Clio (for the org's user) nor our records know this custom action for this org."""

    def __init__(self, org: str, action_id: int) -> None:
        super().__init__(
            f"no custom action {action_id} for org '{org}': not in our records, "
            "and Clio has none with that id for the org's user"
        )


async def remove(gw: Gateway, org: str, action_id: int) -> dict[str, Any]:
    """Delete the action at Clio, then our record of it (Clio first: a failure there leaves the
    record, so the delete can be retried). Already gone at Clio (404, e.g. removed in Clio or by an
    earlier try) is the idempotent case: our record is cleaned up and the delete succeeds. Gone at
    Clio and never recorded here: CustomActionNotFound."""
    api = await gw.clio.open(org)
    try:
        await api.delete(f"custom_actions/{action_id}")
        at_clio = "deleted"
    except ProviderRequestError as exc:
        if exc.status != 404:
            raise
        at_clio = "already_gone"
    finally:
        await api.aclose()
    async with unit_of_work(gw.sessions) as s:
        result = await s.execute(
            delete(custom_actions)
            .where(custom_actions.c.org_id == org, custom_actions.c.custom_action_id == action_id)
            .returning(custom_actions.c.custom_action_id)
        )
        record_removed = result.first() is not None
    if at_clio == "already_gone" and not record_removed:
        raise CustomActionNotFound(org, action_id)
    return {"at_clio": at_clio, "record_removed": record_removed}


async def _count(
    gw: Gateway,
    outcome: str,
    org: str | None,
    action_id: int | None,
    user_id: int | None,
    contact_id: int | None,
) -> None:
    CLICKS.labels(outcome).inc()
    async with unit_of_work(gw.sessions) as s:
        await s.execute(
            insert(custom_action_clicks).values(
                org_id=org,
                custom_action_id=action_id,
                clio_user_id=user_id,
                contact_id=contact_id,
                outcome=outcome,
            )
        )


def subject_contact_id(subject_url: str) -> int:
    """The contact id of a click's `subject_url`, or LaunchRefused(400) saying what is wrong."""
    match = SUBJECT.fullmatch(subject_url)
    if match is None or not 1 <= int(match.group(1)) <= MAX_ID:
        raise LaunchRefused(400, "subject_url must be a Clio contact path like /api/v4/contacts/123")
    return int(match.group(1))


async def launch(gw: Gateway, action_id: int, user_id: int, subject_url: str, nonce: str) -> str:
    """The dashboard URL to redirect to, once Clio has confirmed the nonce; else LaunchRefused."""
    contact_id = subject_contact_id(subject_url)
    async with unit_of_work(gw.sessions) as s:
        row = (
            await s.execute(
                select(custom_actions.c.org_id).where(
                    custom_actions.c.custom_action_id == action_id, custom_actions.c.clio_user_id == user_id
                )
            )
        ).first()
    if row is None:
        await _count(gw, "unknown_action", None, action_id, user_id, contact_id)
        raise LaunchRefused(403, "this custom action was not installed for this Clio user")
    org = row.org_id
    api = await gw.clio.open(org)
    try:
        await api.http.request(
            "GET", f"{api.token.host}{subject_url}", params={"custom_action_nonce": nonce, "fields": "id"}
        )
    except (ProviderAuthError, ProviderRequestError) as exc:
        await _count(gw, "forged", org, action_id, user_id, contact_id)
        log.info("custom-action nonce refused by Clio", org=org, status=exc.status)
        raise LaunchRefused(
            403, "Clio did not confirm this click (forged, expired or replayed nonce)"
        ) from exc
    finally:
        await api.aclose()
    await _count(gw, "verified", org, action_id, user_id, contact_id)
    sep = "&" if "?" in gw.settings.smart_intake_dashboard_url else "?"
    return f"{gw.settings.smart_intake_dashboard_url}{sep}{urlencode({'contact_id': contact_id})}"
