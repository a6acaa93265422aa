"""Shared request dependencies: the service container and canonical path parameters."""

from __future__ import annotations

from fastapi import Path, Query, Request

from practice_sync_credentials.domain.providers import Provider, canonical_org_id, parse_provider
from practice_sync_credentials.service.context import Services


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


def org_path(org: str = Path(description="organization id", max_length=200)) -> str:
    return canonical_org_id(org)


def provider_path(provider: str = Path(description="cliniko or clio", max_length=64)) -> Provider:
    return parse_provider(provider)


_PROVIDERS = ", ".join(p.value for p in Provider)


def provider_query(
    provider: str | None = Query(None, max_length=64, description=f"filter: one of {_PROVIDERS}"),
) -> Provider | None:
    """The admin listings' optional ``?provider=`` filter; an unknown name is a 422 naming the allowed."""
    return parse_provider(provider) if provider else None
