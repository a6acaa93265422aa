"""Asking Cliniko whether an API key works: `GET {api_url}/patients?per_page=1`."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import httpx

from practice_sync_credentials.domain.providers import Status


@dataclass(frozen=True, slots=True)
class ProbeResult:
    status: Status
    message: str


def basic_auth(api_key: str) -> str:
    # Cliniko: the key is the user name, the password is empty.
    return "Basic " + base64.b64encode(f"{api_key}:".encode()).decode("ascii")


async def probe(
    http: httpx.AsyncClient, api_url: str, api_key: str, user_agent: str, timeout_s: float
) -> ProbeResult:
    url = f"{api_url}/patients"
    headers = {"Authorization": basic_auth(api_key), "Accept": "application/json", "User-Agent": user_agent}
    try:
        r = await http.get(url, params={"per_page": 1}, headers=headers, timeout=timeout_s)
    except httpx.TimeoutException:
        return ProbeResult(Status.UNREACHABLE, f"Cliniko at {api_url} did not answer within {timeout_s:g}s")
    except httpx.HTTPError as exc:
        return ProbeResult(Status.UNREACHABLE, f"cannot reach Cliniko at {api_url}: {type(exc).__name__}")
    if r.status_code == 200:
        total = _total(r)
        counted = f" ({total} patients)" if total is not None else ""
        return ProbeResult(Status.VALID, f"Cliniko accepted the key{counted}")
    if r.status_code == 401:
        return ProbeResult(
            Status.INVALID_KEY, "Cliniko rejected the API key (401): check the key and its shard suffix"
        )
    if r.status_code == 403:
        return ProbeResult(
            Status.FORBIDDEN,
            "Cliniko refused the request (403): the key's user may lack permission to read patients, "
            "or the User-Agent was refused",
        )
    if r.status_code >= 500:
        return ProbeResult(
            Status.UNREACHABLE, f"Cliniko at {api_url} answered {r.status_code}; try again later"
        )
    if r.status_code == 429:
        return ProbeResult(Status.ERROR, "Cliniko rate-limited the check (429); try again in a minute")
    return ProbeResult(Status.ERROR, f"Cliniko answered {r.status_code} to {url}; is the API URL right?")


def _total(r: httpx.Response) -> int | None:
    try:
        value = r.json().get("total_entries")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) else None
