"""100,000 contacts: built fast, held small, paged cheaply."""

from __future__ import annotations

import os
import time

import psutil
import pytest

from practice_sync_sandbox.clio.config import AccountSpec


@pytest.mark.slow
def test_hundred_thousand_contacts(clio_factory):
    rss_before = psutil.Process(os.getpid()).memory_info().rss
    start = time.monotonic()
    clio = clio_factory(accounts=[AccountSpec(contacts=100_000)])
    h = clio.auth()
    first = clio.http.get("/api/v4/contacts", headers=h, params={"fields": "id,name"})
    ready_s = time.monotonic() - start
    assert first.status_code == 200 and len(first.json()["data"]) == 200
    rss = psutil.Process(os.getpid()).memory_info().rss
    print(
        f"\n100k contacts ready in {ready_s:.1f} s; RSS {rss / 2**20:.0f} MiB "
        f"(+{(rss - rss_before) / 2**20:.0f} MiB)"
    )
    assert ready_s < 60
    assert rss < 1.5 * 2**30

    # Paging cost does not grow with depth: a page near the end costs about what the first did.
    clio.http.post("/_sandbox/rate_limit", json={"limit": 100_000})
    ids = clio.sb.accounts[1001].contacts.ids
    from practice_sync_sandbox.clio.paging import encode_token

    def timed(params):
        t = time.monotonic()
        r = clio.http.get(
            "/api/v4/contacts", headers=h, params={"fields": "id,name,primary_email_address", **params}
        )
        assert r.status_code == 200
        return time.monotonic() - t, r.json()

    early, _ = timed({})
    late, body = timed({"page_token": encode_token(ids[-300])})
    assert len(body["data"]) == 200 and "next" in body["meta"]["paging"]
    last, tail = timed({"page_token": encode_token(ids[-101])})
    assert len(tail["data"]) == 100 and "next" not in tail["meta"]["paging"]
    assert late < max(0.25, early * 5) and last < 0.25

    # A full crawl of 100k at 200 a page stays quick.
    t = time.monotonic()
    url: str | None = "/api/v4/contacts?fields=id"
    seen = 0
    while url:
        r = clio.http.get(url, headers=h).json()
        seen += len(r["data"])
        url = r["meta"]["paging"].get("next")
    crawl_s = time.monotonic() - t
    print(f"full crawl of {seen} contacts in {crawl_s:.1f} s")
    assert seen == 100_000 and crawl_s < 30
