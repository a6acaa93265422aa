"""Pending OAuth authorizations, keyed by the hash of their `state`; each is single use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from practice_sync_credentials.repository.tables import oauth_states

# How many expired states a callback deletes on its way; the background prune takes the rest in batches.
CONSUME_PRUNE_LIMIT = 100


@dataclass(frozen=True, slots=True)
class OAuthStateRow:
    org_id: str
    provider: str
    region: str
    redirect_uri: str


async def add(
    session: AsyncSession,
    *,
    state_hash: str,
    org_id: str,
    provider: str,
    region: str,
    redirect_uri: str,
    expires_at: datetime,
) -> None:
    await session.execute(
        sa.insert(oauth_states).values(
            state_hash=state_hash,
            organization_id=org_id,
            provider=provider,
            region=region,
            redirect_uri=redirect_uri,
            expires_at=expires_at,
        )
    )


async def latest_region(session: AsyncSession, org_id: str, provider: str, now: datetime) -> str | None:
    """The region of the org's newest flow still pending (unexpired), if any."""
    t = oauth_states.c
    stmt = (
        sa.select(t.region)
        .where(t.organization_id == org_id, t.provider == provider, t.expires_at > now)
        .order_by(t.created_at.desc(), t.expires_at.desc())
        .limit(1)
    )
    region: str | None = (await session.execute(stmt)).scalar_one_or_none()
    return region


async def consume(session: AsyncSession, state_hash: str, now: datetime) -> OAuthStateRow | None:
    """Delete and return the state if it exists and has not expired (expired ones are deleted too)."""
    t = oauth_states.c
    r = (
        await session.execute(
            sa.delete(oauth_states)
            .where(t.state_hash == state_hash)
            .returning(t.organization_id, t.provider, t.region, t.redirect_uri, t.expires_at)
        )
    ).first()
    # Housekeeping on the way, bounded; the background prune (service/refresher.py) does the rest.
    await delete_expired(session, now, CONSUME_PRUNE_LIMIT)
    if r is None or r[4] <= now:
        return None
    return OAuthStateRow(org_id=r[0], provider=r[1], region=r[2], redirect_uri=r[3])


async def delete_expired(session: AsyncSession, now: datetime, limit: int) -> int:
    """Delete at most ``limit`` expired states (``expires_at <= now``, as ``consume`` judges them).

    Oldest first, skipping rows another transaction holds (a callback consuming one); returns how many went.
    """
    t = oauth_states.c
    batch = (
        sa.select(t.state_hash)
        .where(t.expires_at <= now)
        .order_by(t.expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    result = await session.execute(sa.delete(oauth_states).where(t.state_hash.in_(batch)))
    return int(getattr(result, "rowcount", 0) or 0)
