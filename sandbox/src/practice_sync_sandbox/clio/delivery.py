"""Webhook traffic leaving the sandbox: handshakes, signed deliveries, retries, and their record."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
from collections import deque
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

import httpx

from practice_sync_sandbox.clio.errors import dump
from practice_sync_sandbox.clio.fields import parse_fields, project
from practice_sync_sandbox.clio.models import Contact, Webhook
from practice_sync_sandbox.clio.state import Account, ClioSandbox

META_FIELDS = frozenset({"id", "etag", "created_at", "updated_at"})
MAX_RECORDS = 20_000


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Dispatcher:
    """Sends from the server's own event loop so an API call returns before its webhooks go out."""

    def __init__(self, sb: ClioSandbox) -> None:
        self.sb = sb
        self.records: deque[dict[str, Any]] = deque(maxlen=MAX_RECORDS)
        self._seq = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self.sb.config.webhook_timeout_s, follow_redirects=False)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # written outside the server (e.g. directly in a test): nothing to send with
            coro.close()
            return
        task = loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _record(self, **row: Any) -> dict[str, Any]:
        row = {"seq": next(self._seq), "at": datetime.now(UTC).isoformat(), **row}
        self.records.append(row)
        return row

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.sb.config.webhook_timeout_s, follow_redirects=False)
        return self._client

    # ---- handshake ----------------------------------------------------------------------------------

    def begin_handshake(self, hook: Webhook) -> None:
        self._spawn(self._handshake(hook, hook.url))
        if self.sb.config.webhook_auto_enable:
            self._spawn(self._auto_enable(hook))

    async def _handshake(self, hook: Webhook, url: str) -> None:
        cfg = self.sb.config
        if cfg.webhook_handshake_delay_s:
            await asyncio.sleep(cfg.webhook_handshake_delay_s)
        body = dump({"id": hook.id, "webhook_id": hook.id})
        status: int | None = None
        error: str | None = None
        echoed = False
        try:
            resp = await self._http().post(
                url,
                content=body,
                headers={"Content-Type": "application/json", "X-Hook-Secret": hook.shared_secret},
            )
            status = resp.status_code
            echoed = hmac.compare_digest(resp.headers.get("x-hook-secret", ""), hook.shared_secret)
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        confirmed = status == 200 and echoed
        self._record(
            kind="handshake",
            webhook_id=hook.id,
            url=url,
            status=status,
            error=error,
            outcome="confirmed" if confirmed else "unconfirmed",
            body=body.decode(),
        )
        if (
            confirmed
            and hook.url == url
            and hook.status == "pending"
            and self.sb.webhooks.get(hook.id) is hook
        ):
            self.enable(hook)

    async def _auto_enable(self, hook: Webhook) -> None:
        await asyncio.sleep(self.sb.config.webhook_auto_enable_delay_s)
        if hook.status == "pending" and self.sb.webhooks.get(hook.id) is hook:
            self.enable(hook)

    def enable(self, hook: Webhook) -> None:
        hook.status = "enabled"
        hook.version += 1
        hook.went_live_at = self.sb.now()
        hook.seen_updates.clear()

    # ---- deliveries ---------------------------------------------------------------------------------

    def contact_event(self, account: Account, event: str, before: Contact | None, after: Contact) -> None:
        now = self.sb.now()
        resource = account.contact_resource
        for hook in list(self.sb.webhooks.values()):
            if hook.user_id != account.user.id or hook.model != "contact" or event not in hook.events:
                continue
            if hook.status != "enabled":
                continue
            if hook.expires_at <= now:
                self._record(
                    kind="skipped",
                    webhook_id=hook.id,
                    event=event,
                    contact_id=after.id,
                    url=hook.url,
                    status=None,
                    outcome="expired",
                )
                continue
            selection = parse_fields(hook.fields, resource)
            data = project(after, resource, selection)
            if (
                event == "updated"
                and before is not None
                and not self._watched_changed(hook, selection, before, data, resource, after.id)
            ):
                continue
            body = dump({"data": data, "meta": {"event": event, "webhook_id": hook.id}})
            self._spawn(self._deliver(hook, body, event, after.id))

    def _watched_changed(
        self,
        hook: Webhook,
        selection: Any,
        before: Contact,
        data: dict[str, Any],
        resource: Any,
        contact_id: int,
    ) -> bool:
        first = contact_id not in hook.seen_updates
        hook.seen_updates.add(contact_id)
        if first:
            return True  # the first update seen for a record after the hook went live always fires
        old = project(before, resource, selection)
        names = [n for n, _ in selection]
        if self.sb.config.webhook_watch_ignores_meta_fields:
            names = [n for n in names if n not in META_FIELDS] or names
        return any(old.get(n) != data.get(n) for n in names)

    async def _deliver(self, hook: Webhook, body: bytes, event: str, contact_id: int) -> None:
        delays = self.sb.config.webhook_retry_delays_s
        headers = {"Content-Type": "application/json", "X-Hook-Signature": sign(hook.shared_secret, body)}
        for attempt in range(1, len(delays) + 2):
            if self.sb.webhooks.get(hook.id) is not hook or hook.status != "enabled":
                self._record(
                    kind="delivery",
                    webhook_id=hook.id,
                    event=event,
                    contact_id=contact_id,
                    attempt=attempt,
                    url=hook.url,
                    status=None,
                    outcome="abandoned",
                )
                return
            status: int | None = None
            error: str | None = None
            try:
                resp = await self._http().post(hook.url, content=body, headers=headers)
                status = resp.status_code
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            final = attempt > len(delays)
            outcome = (
                "delivered"
                if status is not None and 200 <= status < 400 and status != 410
                else "gone"
                if status == 410
                else "gave_up"
                if final
                else "retrying"
            )
            self._record(
                kind="delivery",
                webhook_id=hook.id,
                event=event,
                contact_id=contact_id,
                attempt=attempt,
                url=hook.url,
                status=status,
                error=error,
                outcome=outcome,
                signature=headers["X-Hook-Signature"],
                body=body.decode(),
            )
            if outcome == "delivered":
                return
            if outcome == "gone":
                self._gone(hook)
                return
            if final:
                return
            await asyncio.sleep(delays[attempt - 1])

    def _gone(self, hook: Webhook) -> None:
        if self.sb.config.webhook_on_410 == "delete":
            self.sb.webhooks.pop(hook.id, None)
        else:
            hook.status = "suspended"
            hook.version += 1
