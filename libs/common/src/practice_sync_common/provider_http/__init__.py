"""The provider HTTP base every connector builds on: rate budget, retries, pagination, errors."""

from practice_sync_common.provider_http.budget import RateBudget
from practice_sync_common.provider_http.client import ClientStats, ProviderClient
from practice_sync_common.provider_http.errors import (
    MalformedResponse,
    ProviderAuthError,
    ProviderError,
    ProviderRequestError,
    ProviderUnavailable,
)
from practice_sync_common.provider_http.lookahead import read_ahead
from practice_sync_common.provider_http.paginate import JsonPathNext, Paginator
from practice_sync_common.provider_http.retry import BackoffPolicy

__all__ = [
    "BackoffPolicy",
    "ClientStats",
    "JsonPathNext",
    "MalformedResponse",
    "Paginator",
    "ProviderAuthError",
    "ProviderClient",
    "ProviderError",
    "ProviderRequestError",
    "ProviderUnavailable",
    "RateBudget",
    "read_ahead",
]
