"""Rate limits, faults, changes and their `updated_at`, determinism, export and accounting."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

import httpx
import pytest

from practice_sync_sandbox._kit.runner import ServerThread
from practice_sync_sandbox.cliniko.app import create_app

from .conftest import KEY, OTHER_KEY, api_client, crawl, make_config


def control(server: ServerThread, method: str, path: str, **kw: Any) -> httpx.Response:
    r = httpx.request(method, f"{server.url}/_sandbox{path}", timeout=30, **kw)
    assert r.status_code < 400, r.text
    return r


# -- rate limit ------------------------------------------------------------------------------------


def test_rate_limit_429_with_reset() -> None:
    app = create_app(make_config(rate_limit=5, window_s=3600))
    with ServerThread(app) as s, api_client(s.url) as c:
        codes = [c.get("/v1/practitioners").status_code for _ in range(5)]
        assert codes == [200] * 5
        r = c.get("/v1/practitioners")
        assert r.status_code == 429
        reset = int(r.headers["X-RateLimit-Reset"])
        assert time.time() < reset <= time.time() + 3600 + 1
        assert "Retry-After" not in r.headers
        # another key has its own allowance
        with api_client(s.url, key=OTHER_KEY) as other:
            assert other.get("/v1/practitioners").status_code == 200

        control(s, "POST", "/rate-limit", json={"retry_after_header": True})
        for _ in range(5):
            c.get("/v1/practitioners")
        r = c.get("/v1/practitioners")
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1

        stats = control(s, "GET", "/stats").json()["accounts"][KEY]
        assert stats["throttled_429"] == 2
        assert stats["requests"] == 12
        assert stats["peak_in_window"] == 12
        assert stats["by_endpoint"]["GET /v1/practitioners"] == 12
        control(s, "POST", "/stats/reset")
        assert control(s, "GET", "/stats").json()["accounts"] == {}


def test_default_rate_limit_is_200_per_minute() -> None:
    app = create_app(make_config())
    with ServerThread(app) as s:
        info = control(s, "GET", "/rate-limit").json()
        assert info["limit"] == 200 and info["window_s"] == 60


# -- faults ----------------------------------------------------------------------------------------


def test_fault_kinds(fresh_server: ServerThread) -> None:
    s = fresh_server
    with api_client(s.url) as c:
        control(s, "POST", "/faults", json={"force_429": 2})
        assert [c.get("/v1/patients").status_code for _ in range(3)] == [429, 429, 200]

        control(s, "POST", "/faults", json={"server_errors": 3, "error_statuses": [500, 502, 503]})
        assert sorted(c.get("/v1/patients").status_code for _ in range(3)) == [500, 502, 503]
        assert c.get("/v1/patients").status_code == 200

        control(s, "POST", "/faults", json={"server_errors": 1, "error_statuses": [422]})
        r = c.get("/v1/patients")
        assert r.status_code == 422 and r.json()["message"] == "Validation Failed" and r.json()["errors"]

        control(s, "POST", "/faults", json={"latency_ms": 300})
        started = time.perf_counter()
        assert c.get("/v1/practitioners").status_code == 200
        assert time.perf_counter() - started >= 0.3
        control(s, "DELETE", "/faults")

        control(s, "POST", "/faults", json={"malformed_pages": 1})
        r = c.get("/v1/patients")
        assert r.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(r.text)
        assert c.get("/v1/patients").json()["patients"]

        control(s, "POST", "/faults", json={"cut_connections": 1})
        with pytest.raises(httpx.TransportError):
            c.get("/v1/patients", params={"per_page": 100})
        assert c.get("/v1/patients").status_code == 200

        control(s, "POST", "/faults", json={"error_rate": 0.5, "seed": 3})
        codes = [c.get("/v1/practitioners").status_code for _ in range(40)]
        assert 5 <= sum(code >= 500 for code in codes) <= 35
        control(s, "DELETE", "/faults")
        assert httpx.post(f"{s.url}/_sandbox/faults", json={"explode": 1}).status_code == 422


def test_unreadable_records_spoil_one_record_of_each_of_the_next_list_pages(
    fresh_server: ServerThread,
) -> None:
    s = fresh_server
    page = {"per_page": 3, "q[]": ["cancelled_at:*", "archived_at:*"]}
    with api_client(s.url) as c:
        whole = c.get("/v1/individual_appointments", params=page).json()["individual_appointments"]
        control(s, "POST", "/faults", json={"unreadable_records": 3})

        # Neither a single record nor an empty page has a record to spoil: the fault waits.
        assert c.get(f"/v1/individual_appointments/{whole[0]['id']}").json() == whole[0]
        empty = c.get("/v1/individual_appointments", params={"q[]": "id:=1"}).json()
        assert empty["individual_appointments"] == []

        served = c.get("/v1/individual_appointments", params=page).json()["individual_appointments"]
        assert served[0] == {**whole[0], "starts_at": "Invalid date"}
        assert served[1:] == whole[1:]
        # the same fault on the same request spoils the same record the same way
        assert c.get("/v1/individual_appointments", params=page).json()["individual_appointments"] == served
        assert control(s, "GET", "/faults").json()["unreadable_records"] == 1

        # a resource without `starts_at` gets a timestamp it does have
        patients = c.get("/v1/patients", params={"per_page": 2}).json()["patients"]
        assert patients[0]["updated_at"] == "Invalid date"
        assert datetime.fromisoformat(patients[1]["updated_at"].replace("Z", "+00:00"))

        # spent: the stored records were never changed
        assert c.get("/v1/individual_appointments", params=page).json()["individual_appointments"] == whole

        control(s, "POST", "/faults", json={"unreadable_records": 5})
        control(s, "DELETE", "/faults")
        assert c.get("/v1/individual_appointments", params=page).json()["individual_appointments"] == whole

        # a page the client receives garbled anyway does not spend it
        control(s, "POST", "/faults", json={"malformed_pages": 1, "unreadable_records": 1})
        with pytest.raises(json.JSONDecodeError):
            json.loads(c.get("/v1/individual_appointments", params=page).text)
        served = c.get("/v1/individual_appointments", params=page).json()["individual_appointments"]
        assert served[0]["starts_at"] == "Invalid date"
        control(s, "DELETE", "/faults")


# -- changes ---------------------------------------------------------------------------------------


def test_control_changes_bump_updated_at_and_show_in_incremental_sync(fresh_server: ServerThread) -> None:
    s = fresh_server
    control(s, "POST", "/clock", json={"freeze": True, "set": "2025-06-02T00:00:00Z"})
    cursor = "2025-06-01T12:00:00Z"
    with api_client(s.url) as c:
        incremental: dict[str, Any] = {
            "q[]": [f"updated_at:>{cursor}", "cancelled_at:*", "archived_at:*"],
            "per_page": 100,
        }
        assert c.get("/v1/individual_appointments", params=incremental).json()["total_entries"] == 0

        appt = c.get("/v1/individual_appointments", params={"per_page": 1, "sort": "starts_at:desc"}).json()[
            "individual_appointments"
        ][0]
        control(
            s,
            "POST",
            f"/accounts/{KEY}/individual_appointments/{appt['id']}/cancel",
            json={"cancellation_reason": 40},
        )
        changed = c.get("/v1/individual_appointments", params=incremental).json()
        assert [a["id"] for a in changed["individual_appointments"]] == [appt["id"]]
        after = changed["individual_appointments"][0]
        assert after["updated_at"] > appt["updated_at"]
        assert after["cancelled_at"] == "2025-06-02T00:00:00Z" and after["cancellation_reason"] == 40
        # default-scoped lists no longer show it
        default = c.get("/v1/individual_appointments", params={"q[]": f"id:={appt['id']}"}).json()
        assert default["total_entries"] == 0

        # the clock is frozen, yet a second change still moves updated_at forward
        control(s, "POST", f"/accounts/{KEY}/individual_appointments/{appt['id']}/archive")
        again = c.get(f"/v1/individual_appointments/{appt['id']}").json()
        assert again["updated_at"] > after["updated_at"] and again["archived_at"]

        patient = c.get("/v1/patients", params={"per_page": 1}).json()["patients"][0]
        r = control(
            s, "PATCH", f"/accounts/{KEY}/patients/{patient['id']}", json={"email": "new@example.com"}
        )
        assert r.json()["email"] == "new@example.com"
        found = c.get(
            "/v1/patients", params={"q[]": [f"updated_at:>{cursor}", "email:=new@example.com"]}
        ).json()
        assert [p["id"] for p in found["patients"]] == [patient["id"]]

        control(s, "POST", "/clock", json={"advance_seconds": 3600})
        new = control(
            s,
            "POST",
            f"/accounts/{KEY}/individual_appointments",
            json={"patient_id": patient["id"], "starts_at": "2025-06-10T09:00:00Z"},
        ).json()
        assert new["created_at"] == "2025-06-02T01:00:00Z"
        assert new["patient"]["links"]["self"].endswith(f"/patients/{patient['id']}")
        mine = c.get(
            "/v1/individual_appointments", params={"q[]": f"patient_id:={patient['id']}", "per_page": 100}
        )
        assert new["id"] in [a["id"] for a in mine.json()["individual_appointments"]]

        group = control(
            s,
            "POST",
            f"/accounts/{KEY}/group_appointments",
            json={"starts_at": "2025-06-12T18:00:00Z", "patient_ids": [patient["id"]]},
        ).json()
        assert group["patient_ids"] == [patient["id"]]
        att = c.get("/v1/attendees", params={"q[]": f"appointment_id:={group['id']}"}).json()["attendees"]
        assert len(att) == 1
        control(
            s, "POST", f"/accounts/{KEY}/attendees/{att[0]['id']}/cancel", json={"cancellation_reason": 30}
        )
        assert c.get(f"/v1/group_appointments/{group['id']}").json()["patient_ids"] == []
        assert (
            c.get("/v1/attendees", params={"q[]": f"appointment_id:={group['id']}"}).json()["total_entries"]
            == 0
        )

        churned = control(s, "POST", f"/accounts/{KEY}/churn", json={"count": 20, "seed": 1}).json()[
            "changed"
        ]
        n = len(set(churned["individual_appointments"]))
        cursor2 = "2025-06-02T00:30:00Z"
        after_churn = c.get(
            "/v1/individual_appointments",
            params={"q[]": [f"updated_at:>{cursor2}", "cancelled_at:*", "archived_at:*"]},
        ).json()
        assert after_churn["total_entries"] >= n


def test_public_writes(fresh_server: ServerThread) -> None:
    with api_client(fresh_server.url) as c:
        r = c.post(
            "/v1/patients", json={"first_name": "Zoë", "last_name": "Ngata", "email": "zoe@example.com"}
        )
        assert r.status_code == 201
        created = r.json()
        assert r.headers["Location"] == created["links"]["self"]
        assert c.get(r.headers["Location"]).json()["first_name"] == "Zoë"

        bad = c.post("/v1/patients", json={"first_name": ""})
        assert bad.status_code == 422
        assert bad.json() == {
            "message": "Validation Failed",
            "errors": {"first_name": "can't be blank", "last_name": "can't be blank"},
        }
        assert c.post("/v1/patients", json=[1, 2]).json() == {"message": "must be an object"}

        r = c.patch(f"/v1/patients/{created['id']}", json={"preferred_first_name": "Zo"})
        assert r.status_code == 200 and r.json()["preferred_first_name"] == "Zo"
        assert r.json()["updated_at"] > created["updated_at"]
        assert c.post(f"/v1/patients/{created['id']}/archive").status_code == 204
        assert c.get("/v1/patients", params={"q[]": f"id:={created['id']}"}).json()["total_entries"] == 0
        assert (
            c.get("/v1/patients", params={"q[]": [f"id:={created['id']}", "archived_at:*"]}).json()[
                "total_entries"
            ]
            == 1
        )

        appt = c.get("/v1/individual_appointments", params={"per_page": 1}).json()["individual_appointments"][
            0
        ]
        r = c.patch(f"/v1/individual_appointments/{appt['id']}/cancel", json={"cancellation_note": "flu"})
        assert r.status_code == 422 and "cancellation_reason" in r.json()["errors"]
        r = c.patch(f"/v1/individual_appointments/{appt['id']}/cancel", json={"cancellation_reason": 30})
        assert r.status_code == 204
        assert (
            c.get(f"/v1/individual_appointments/{appt['id']}").json()["cancellation_reason_description"]
            == "Sick"
        )
        other = c.get("/v1/individual_appointments", params={"per_page": 1}).json()[
            "individual_appointments"
        ][0]
        assert c.post(f"/v1/individual_appointments/{other['id']}/archive").status_code == 204
        assert c.post("/v1/patients/1234567890123456789/archive").status_code == 404


# -- determinism and export ------------------------------------------------------------------------


def _pages(url: str) -> list[bytes]:
    with api_client(url, headers={"Host": "api.au1.cliniko.test"}) as c:
        paths = [
            "/v1/patients?per_page=100&page=2",
            "/v1/individual_appointments?per_page=100&sort=starts_at:desc&q[]=archived_at:*",
            "/v1/group_appointments?per_page=20",
            "/v1/attendees?per_page=20&q[]=cancelled_at:*",
            "/v1/bookings?per_page=30",
        ]
        return [c.get(p).content for p in paths]


def test_same_seed_gives_identical_bytes() -> None:
    with ServerThread(create_app(make_config())) as a:
        first = _pages(a.url)
    with ServerThread(create_app(make_config())) as b:
        second = _pages(b.url)
    assert first == second
    assert b"http://api.au1.cliniko.test/v1/patients/" in first[0]
    with ServerThread(create_app(make_config(seed=8))) as c:
        assert _pages(c.url)[0] != first[0]


def test_export_holds_every_record(server: ServerThread, export: dict[str, Any]) -> None:
    assert export["account"]["key"] == KEY
    assert len(export["patients"]) == 300
    assert len(export["individual_appointments"]) == 2000
    assert export["group_appointments"] and all("attendees" in g for g in export["group_appointments"])
    appts = export["individual_appointments"]
    assert any(a["cancelled_at"] for a in appts) and any(a["archived_at"] for a in appts)
    assert any(a["deleted_at"] for a in appts) and any(a["did_not_arrive"] for a in appts)
    assert any(a["starts_at"] > export["now"] for a in appts)  # upcoming ones too
    assert all(a["patient"]["links"]["self"].endswith(a["patient_id"]) for a in appts)
    emails = [p["email"] for p in export["patients"] if p["email"]]
    assert len(emails) > len({e.lower() for e in emails})  # some shared
    assert any(not p["email"] for p in export["patients"])
    assert any(p["patient_phone_numbers"] for p in export["patients"])
    names = [p["first_name"] + " " + p["last_name"] for p in export["patients"]]
    assert len(names) > len(set(names)) and any(not n.isascii() for n in names)
    listed = control(server, "GET", "/accounts").json()["accounts"]
    assert {a["key"] for a in listed} == {KEY, OTHER_KEY}
    assert control(server, "GET", "/health").json()["ready"] is True


def test_accounts_added_at_runtime(fresh_server: ServerThread) -> None:
    r = control(
        fresh_server, "POST", "/accounts", json={"key": "bmV3Y2xpbmlj-au4", "patients": 5, "appointments": 20}
    )
    assert r.json()["counts"]["patients"] == 5
    with api_client(fresh_server.url, key="bmV3Y2xpbmlj-au4") as c:
        assert c.get("/v1/patients", params={"q[]": "archived_at:*"}).json()["total_entries"] == 5
        assert (
            len(crawl(c, "/v1/individual_appointments", {"q[]": ["archived_at:*", "cancelled_at:*"]})) == 20
        )


def test_empty_dates_as_blank_switch(fresh_server: ServerThread) -> None:
    control(fresh_server, "PATCH", "/settings", json={"empty_dates_as_blank": True})
    with api_client(fresh_server.url) as c:
        p = c.get("/v1/patients", params={"per_page": 1}).json()["patients"][0]
    assert p["archived_at"] == "" and p["deleted_at"] == ""


def test_cli_builds_an_app() -> None:
    import inspect

    from practice_sync_sandbox.cliniko.cli import run

    params = inspect.signature(run).parameters
    assert (
        params["port"].default == 8102 and params["seed"].default == 1 and params["rate_limit"].default == 200
    )


def test_date_header_is_the_sandbox_clock(fresh_server: ServerThread) -> None:
    # A client reads the provider's time from `Date` (cliniko-sync caps a full run's marks with
    # it): a moved or frozen sandbox clock shows there, on API, error and control answers alike.
    s = fresh_server
    control(s, "POST", "/clock", json={"freeze": True, "set": "2025-06-02T03:04:05Z"})
    with api_client(s.url) as c:
        assert c.get("/v1/patients").headers.get_list("date") == ["Mon, 02 Jun 2025 03:04:05 GMT"]
        assert c.get("/v1/no-such-route").headers["date"] == "Mon, 02 Jun 2025 03:04:05 GMT"
    control(s, "POST", "/clock", json={"advance_seconds": 3600})
    assert httpx.get(f"{s.url}/_sandbox/clock").headers["date"] == "Mon, 02 Jun 2025 04:04:05 GMT"
