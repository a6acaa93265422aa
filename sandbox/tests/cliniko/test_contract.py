"""Contract tests: the facts of providers/cliniko.md, checked over real HTTP."""

from __future__ import annotations

import base64
import itertools
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from practice_sync_sandbox._kit.runner import ServerThread

from .conftest import KEY, OTHER_KEY, UA, api_client, crawl


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [i["id"] for i in items]


def live(rec: dict[str, Any], *fields: str) -> bool:
    return all(rec.get(f) is None for f in fields)


def patient_id_of(appt: dict[str, Any]) -> str:
    return str(appt["patient"]["links"]["self"].rsplit("/", 1)[1])


# -- auth and headers ------------------------------------------------------------------------------


def test_auth_accepts_key_with_or_without_shard(server: ServerThread) -> None:
    for username in (KEY, KEY.rsplit("-", 1)[0]):
        with api_client(server.url, key=username) as c:
            assert c.get("/v1/patients", params={"per_page": 1}).status_code == 200


@pytest.mark.parametrize(
    "auth",
    [
        ("nope-au1", ""),
        (KEY, "secret"),  # the key as username with a password
        ("", KEY),  # the key as password
        (KEY.rsplit("-", 1)[0] + "-au3", ""),  # wrong shard suffix
    ],
)
def test_auth_rejects_bad_credentials(server: ServerThread, auth: tuple[str, str]) -> None:
    r = httpx.get(f"{server.url}/v1/patients", auth=auth, headers={"User-Agent": UA})
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("text/plain")
    assert r.text.strip() == "HTTP Basic: Access denied."


def test_missing_auth_is_401(server: ServerThread) -> None:
    assert httpx.get(f"{server.url}/v1/patients", headers={"User-Agent": UA}).status_code == 401
    bad = base64.b64encode(b"no-colon").decode()
    r = httpx.get(f"{server.url}/v1/patients", headers={"User-Agent": UA, "Authorization": f"Basic {bad}"})
    assert r.status_code == 401


def test_key_on_another_shards_host_is_401(server: ServerThread) -> None:
    with api_client(server.url, headers={"Host": "api.au1.cliniko.test"}) as c:
        assert c.get("/v1/practitioners").status_code == 200
    with api_client(server.url, headers={"Host": "api.uk2.cliniko.test"}) as c:
        assert c.get("/v1/practitioners").status_code == 401


def test_accounts_are_separate(server: ServerThread) -> None:
    with api_client(server.url, key=OTHER_KEY) as other, api_client(server.url) as main:
        a = other.get("/v1/patients", params={"per_page": 1, "q[]": "archived_at:*"}).json()
        b = main.get("/v1/patients", params={"per_page": 1, "q[]": "archived_at:*"}).json()
    assert a["total_entries"] == 40
    assert b["total_entries"] == 300
    assert a["patients"][0]["id"] != b["patients"][0]["id"]


@pytest.mark.parametrize("agent", [None, "", "python-httpx/0.27", "My App", "My App (not-an-email)"])
def test_user_agent_rule(server: ServerThread, agent: str | None) -> None:
    headers = {} if agent is None else {"User-Agent": agent}
    with httpx.Client(auth=(KEY, "")) as c:
        if agent is None:
            c.headers.pop("User-Agent")
        r = c.get(f"{server.url}/v1/patients", headers=headers)
    assert r.status_code == 403
    assert r.text == "Requires a user agent"


def test_accept_must_allow_json(server: ServerThread) -> None:
    with api_client(server.url, headers={"Accept": "text/html"}) as c:
        assert c.get("/v1/patients").status_code == 406
    with api_client(server.url, headers={"Accept": "*/*"}) as c:
        assert c.get("/v1/patients").status_code == 200


# -- envelope and paging ---------------------------------------------------------------------------


def test_envelope_and_default_page(api: httpx.Client, export: dict[str, Any]) -> None:
    body = api.get("/v1/patients").json()
    assert set(body) == {"patients", "total_entries", "links"}
    assert len(body["patients"]) == 50
    visible = [p for p in export["patients"] if p["archived_at"] is None]
    assert body["total_entries"] == len(visible)
    assert body["links"]["self"].startswith(str(api.base_url).rstrip("/") + "/v1/patients?")
    assert "previous" not in body["links"]
    assert "per_page=50" in body["links"]["next"]


def test_ids_are_big_numeric_strings(api: httpx.Client) -> None:
    for path in ("/v1/patients", "/v1/individual_appointments", "/v1/group_appointments", "/v1/attendees"):
        for item in api.get(path, params={"per_page": 5}).json()[path.rsplit("/", 1)[1]]:
            assert isinstance(item["id"], str)
            assert re.fullmatch(r"\d{19}", item["id"])
            assert int(item["id"]) > 2**53


def test_timestamps_are_utc_z(api: httpx.Client) -> None:
    appt = api.get("/v1/individual_appointments", params={"per_page": 1}).json()["individual_appointments"][0]
    for f in ("starts_at", "ends_at", "created_at", "updated_at"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", appt[f])


def test_next_links_keep_query_and_reach_every_row(api: httpx.Client, export: dict[str, Any]) -> None:
    since = "2024-01-01T00:00:00Z"
    params: dict[str, Any] = {
        "q[]": [f"starts_at:>={since}", "cancelled_at:*", "archived_at:*"],
        "sort": "starts_at",
        "per_page": 100,
    }
    first = api.get("/v1/individual_appointments", params=params).json()
    nxt = first["links"]["next"]
    parts = urlsplit(nxt)
    assert parts.scheme == "http" and parts.netloc == f"{api.base_url.host}:{api.base_url.port}"
    qs = parse_qs(parts.query)
    assert qs["page"] == ["2"] and qs["per_page"] == ["100"] and qs["sort"] == ["starts_at"]
    assert qs["q[]"] == params["q[]"]

    got = crawl(api, "/v1/individual_appointments", params)
    expected = sorted(
        (a for a in export["individual_appointments"] if a["starts_at"] >= since),
        key=lambda a: a["starts_at"],
    )
    assert [a["starts_at"] for a in got] == [a["starts_at"] for a in expected]
    assert sorted(ids(got)) == sorted(ids(expected))
    assert len(got) == first["total_entries"] > 100


def test_last_page_and_past_the_end(api: httpx.Client) -> None:
    total = api.get("/v1/patients", params={"per_page": 1}).json()["total_entries"]
    last_page = (total + 99) // 100
    last = api.get("/v1/patients", params={"per_page": 100, "page": last_page}).json()
    assert "next" not in last["links"]
    assert "previous" in last["links"]
    assert len(last["patients"]) == total - 100 * (last_page - 1)
    beyond = api.get("/v1/patients", params={"per_page": 100, "page": last_page + 3}).json()
    assert beyond["patients"] == [] and beyond["total_entries"] == total and "next" not in beyond["links"]


def test_per_page_is_clamped(api: httpx.Client) -> None:
    big = api.get("/v1/patients", params={"per_page": 500}).json()
    assert len(big["patients"]) == 100 and "per_page=100" in big["links"]["self"]
    zero = api.get("/v1/patients", params={"per_page": 0}).json()
    assert len(zero["patients"]) == 1
    assert api.get("/v1/patients", params={"per_page": "lots"}).status_code == 400


def test_per_page_error_switch(fresh_server: ServerThread) -> None:
    httpx.patch(
        f"{fresh_server.url}/_sandbox/settings", json={"per_page_overflow": "error"}
    ).raise_for_status()
    with api_client(fresh_server.url) as c:
        assert c.get("/v1/patients", params={"per_page": 101}).status_code == 400
        assert c.get("/v1/patients", params={"per_page": 100}).status_code == 200


# -- filters ---------------------------------------------------------------------------------------


def count(api: httpx.Client, path: str, *filters: str, **params: Any) -> int:
    r = api.get(path, params={"q[]": list(filters), "per_page": 1, **params})
    assert r.status_code == 200, r.text
    return int(r.json()["total_entries"])


def test_datetime_operators(api: httpx.Client, export: dict[str, Any]) -> None:
    appts = [a for a in export["individual_appointments"] if live(a, "cancelled_at", "archived_at")]
    t = "2024-06-01T00:00:00Z"
    path = "/v1/individual_appointments"
    assert count(api, path, f"starts_at:>{t}") == sum(a["starts_at"] > t for a in appts)
    assert count(api, path, f"starts_at:>={t}") == sum(a["starts_at"] >= t for a in appts)
    assert count(api, path, f"starts_at:<{t}") == sum(a["starts_at"] < t for a in appts)
    assert count(api, path, f"starts_at:<={t}") == sum(a["starts_at"] <= t for a in appts)
    assert count(api, path, "updated_at:>2025-01-01T00:00:00+00:00") == sum(
        a["updated_at"] > "2025-01-01T00:00:00Z" for a in appts
    )
    everything = export["individual_appointments"]
    assert count(api, path, "cancelled_at:?", "cancelled_at:*", "archived_at:*") == sum(
        a["cancelled_at"] is not None for a in everything
    )
    assert count(api, path, "archived_at:!?", "cancelled_at:*", "archived_at:*") == sum(
        a["archived_at"] is None for a in everything
    )
    assert api.get(path, params={"q[]": "starts_at:=2024-01-01T00:00:00Z"}).status_code == 400  # no `=`


def test_date_operators(api: httpx.Client, export: dict[str, Any]) -> None:
    pats = [p for p in export["patients"] if p["archived_at"] is None]
    path = "/v1/patients"
    may = [p for p in pats if p["date_of_birth"] and p["date_of_birth"][5:7] == "05"]
    assert count(api, path, "date_of_birth:=****-05-**") == len(may) > 0
    d = "1980-01-01"
    assert count(api, path, f"date_of_birth:>={d}") == sum(
        bool(p["date_of_birth"]) and p["date_of_birth"] >= d for p in pats
    )
    assert count(api, path, f"date_of_birth:<{d}") == sum(
        bool(p["date_of_birth"]) and p["date_of_birth"] < d for p in pats
    )
    one = next(p for p in pats if p["date_of_birth"])
    assert count(api, path, f"date_of_birth:={one['date_of_birth']}") == sum(
        p["date_of_birth"] == one["date_of_birth"] for p in pats
    )
    assert count(api, path, "date_of_birth:!?") == sum(p["date_of_birth"] is None for p in pats) > 0
    assert count(api, path, "date_of_birth:?") == sum(p["date_of_birth"] is not None for p in pats)
    assert api.get(path, params={"q[]": "date_of_birth:=1980-13-45"}).status_code == 400


def test_numeric_operators(api: httpx.Client, export: dict[str, Any]) -> None:
    pats = [p for p in export["patients"] if p["archived_at"] is None]
    some = [p["id"] for p in pats[3:8]]
    got = api.get("/v1/patients", params={"q[]": f"id:={','.join(some)}"}).json()
    assert sorted(ids(got["patients"])) == sorted(some)
    pivot = pats[10]["id"]
    assert count(api, "/v1/patients", f"id:>{pivot}") == sum(int(p["id"]) > int(pivot) for p in pats)
    assert count(api, "/v1/patients", f"id:>={pivot}") == sum(int(p["id"]) >= int(pivot) for p in pats)
    assert count(api, "/v1/patients", f"id:<{pivot}") == sum(int(p["id"]) < int(pivot) for p in pats)
    assert count(api, "/v1/patients", f"id:<={pivot}") == sum(int(p["id"]) <= int(pivot) for p in pats)
    assert count(api, "/v1/patients", f"id:!={pivot}") == len(pats) - 1

    appts = [a for a in export["individual_appointments"] if live(a, "cancelled_at", "archived_at")]
    busy = max({a["patient_id"] for a in appts}, key=lambda p: sum(a["patient_id"] == p for a in appts))
    mine = api.get(
        "/v1/individual_appointments", params={"q[]": f"patient_id:={busy}", "per_page": 100}
    ).json()
    assert mine["total_entries"] == sum(a["patient_id"] == busy for a in appts) > 1
    assert all(patient_id_of(a) == busy for a in mine["individual_appointments"])
    assert "patient_id" not in mine["individual_appointments"][0]  # only inside patient.links.self
    assert count(api, "/v1/individual_appointments", "repeated_from_id:?") == sum(
        a["repeated_from"] is not None for a in appts
    )
    assert count(api, "/v1/individual_appointments", "repeated_from_id:!?") == sum(
        a["repeated_from"] is None for a in appts
    )
    assert count(api, "/v1/patients", "id:=99") == 0
    assert api.get("/v1/patients", params={"q[]": "id:=abc"}).status_code == 400


def test_string_operators(api: httpx.Client, export: dict[str, Any]) -> None:
    pats = [p for p in export["patients"] if p["archived_at"] is None]
    path = "/v1/patients"
    assert count(api, path, "last_name:=Smith") == sum(p["last_name"] == "Smith" for p in pats) > 0
    assert count(api, path, "last_name:!=Smith") == sum(p["last_name"] != "Smith" for p in pats)
    assert count(api, path, "last_name:~mit") == sum("mit" in p["last_name"].lower() for p in pats)
    assert (
        count(api, path, "last_name:~~ng%") == sum(p["last_name"].lower().startswith("ng") for p in pats) > 0
    )
    assert count(api, path, "first_name:=Zoë") == sum(p["first_name"] == "Zoë" for p in pats)
    assert count(api, path, "email:!?") == sum(p["email"] is None for p in pats) > 0
    assert count(api, path, "email:?") == sum(p["email"] is not None for p in pats)
    assert api.get(path, params={"q[]": "last_name:>Smith"}).status_code == 400


def test_boolean_and_array_operators(api: httpx.Client, export: dict[str, Any]) -> None:
    appts = [a for a in export["individual_appointments"] if live(a, "cancelled_at", "archived_at")]
    path = "/v1/individual_appointments"
    assert count(api, path, "did_not_arrive:=true") == sum(a["did_not_arrive"] for a in appts) > 0
    assert count(api, path, "did_not_arrive:!=true") == sum(not a["did_not_arrive"] for a in appts)
    assert api.get(path, params={"q[]": "did_not_arrive:=maybe"}).status_code == 400

    groups = [g for g in export["group_appointments"] if g["archived_at"] is None and g["patient_ids"]]
    member = groups[0]["patient_ids"][0]
    got = crawl(api, "/v1/group_appointments", {"q[]": f"patient_ids:~{member}", "per_page": 100})
    assert sorted(ids(got)) == sorted(g["id"] for g in groups if member in g["patient_ids"])


def test_repeated_filters_and_single_q(api: httpx.Client, export: dict[str, Any]) -> None:
    pats = [p for p in export["patients"] if p["archived_at"] is None]
    both = sum(p["last_name"] == "Smith" and p["email"] is not None for p in pats)
    assert count(api, "/v1/patients", "last_name:=Smith", "email:?") == both
    r = api.get("/v1/patients", params={"q": "last_name:=Smith", "per_page": 1}).json()
    assert r["total_entries"] == sum(p["last_name"] == "Smith" for p in pats)


def test_unknown_field_or_malformed_filter_is_400(api: httpx.Client) -> None:
    for bad in ("nonsense:=1", "starts_at", "starts_at:>yesterday", "patient_id:=1,x", "archived_at:?x"):
        r = api.get("/v1/individual_appointments", params={"q[]": bad})
        assert r.status_code == 400, bad
        assert "invalid filter" in r.json()["message"]


def test_star_includes_archived_and_cancelled(api: httpx.Client, export: dict[str, Any]) -> None:
    pats = export["patients"]
    assert count(api, "/v1/patients") == sum(p["archived_at"] is None for p in pats)
    assert count(api, "/v1/patients", "archived_at:*") == len(pats)
    merged = [p for p in pats if p["merged_at"]]
    assert merged and all(p["archived_at"] and p["merged_with_patient"] for p in merged)

    appts = export["individual_appointments"]
    path = "/v1/individual_appointments"
    assert count(api, path) == sum(live(a, "cancelled_at", "archived_at") for a in appts)
    assert count(api, path, "cancelled_at:*") == sum(a["archived_at"] is None for a in appts)
    assert count(api, path, "archived_at:*") == sum(a["cancelled_at"] is None for a in appts)
    assert count(api, path, "archived_at:*", "cancelled_at:*") == len(appts)
    # without `*`, `cancelled_at:?` alone finds nothing: the default scope still applies
    assert count(api, path, "cancelled_at:?") == 0

    # every individual appointment has one attendee sharing its state (see the attendee tests)
    attendees = [a for g in export["group_appointments"] for a in g["attendees"]] + appts
    assert any(a["cancelled_at"] for a in attendees)
    assert count(api, "/v1/attendees") == sum(live(a, "cancelled_at", "archived_at") for a in attendees)
    assert count(api, "/v1/attendees", "archived_at:*", "cancelled_at:*") == len(attendees)


def test_bookings_join_individual_and_group(api: httpx.Client, export: dict[str, Any]) -> None:
    appts = export["individual_appointments"]
    groups = export["group_appointments"]
    assert count(api, "/v1/bookings", "archived_at:*", "cancelled_at:*") == len(appts) + len(groups)
    got = crawl(api, "/v1/bookings", {"q[]": "starts_at:>=2025-05-01T00:00:00Z", "per_page": 100})
    kinds = {("patient_ids" in b) for b in got}
    assert kinds == {True, False}
    one = api.get(f"/v1/bookings/{groups[0]['id']}").json()
    assert one["id"] == groups[0]["id"] and "patient_ids" in one


def test_bookings_id_filter_finds_both_kinds(api: httpx.Client, export: dict[str, Any]) -> None:
    # `=` with a list on the booking ID sequence: individual and group bookings alike
    appt = export["individual_appointments"][-1]
    group = export["group_appointments"][0]
    got = api.get(
        "/v1/bookings",
        params={"q[]": [f"id:={appt['id']},{group['id']}", "archived_at:*", "cancelled_at:*"]},
    )
    assert got.status_code == 200, got.text
    assert sorted(ids(got.json()["bookings"])) == sorted([appt["id"], group["id"]])
    # an ID of the group half of the sequence past the last class is no booking: none, not a 500
    step = int(export["group_appointments"][1]["id"]) - int(group["id"])
    past = int(export["group_appointments"][-1]["id"]) + step
    assert count(api, "/v1/bookings", f"id:={past}", "archived_at:*", "cancelled_at:*") == 0


# -- attendees of individual appointments -------------------------------------------------------


def test_individual_appointments_have_one_attendee(api: httpx.Client, export: dict[str, Any]) -> None:
    # spec §6: attendees exist for individual appointments too (/individual_appointments/{id}/attendees)
    appt = next(a for a in export["individual_appointments"] if live(a, "cancelled_at", "archived_at"))
    link = api.get(f"/v1/individual_appointments/{appt['id']}").json()["attendees"]["links"]["self"]
    r = api.get(link)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total_entries"] == 1
    (att,) = body["attendees"]
    assert att["booking"]["links"]["self"].endswith(f"/v1/bookings/{appt['id']}")
    assert att["patient"]["links"]["self"].endswith(f"/v1/patients/{appt['patient_id']}")
    assert api.get(f"/v1/attendees/{att['id']}").json() == att
    by_filter = api.get("/v1/attendees", params={"q[]": f"appointment_id:={appt['id']}"}).json()
    assert ids(by_filter["attendees"]) == [att["id"]]


def test_attendees_list_holds_both_kinds(api: httpx.Client, export: dict[str, Any]) -> None:
    appts = export["individual_appointments"]
    classes = [a for g in export["group_appointments"] for a in g["attendees"]]
    stars = ("archived_at:*", "cancelled_at:*")
    assert count(api, "/v1/attendees", *stars) == len(appts) + len(classes)
    # an individual appointment's attendee shares its cancellation: hidden by default, shown with `*`
    cancelled = next(a for a in appts if a["cancelled_at"] and not a["archived_at"])
    only = f"appointment_id:={cancelled['id']}"
    assert count(api, "/v1/attendees", only) == 0
    att = api.get("/v1/attendees", params={"q[]": [only, "cancelled_at:*"]}).json()["attendees"][0]
    assert att["cancelled_at"] == cancelled["cancelled_at"]
    assert att["cancellation_reason"] == cancelled["cancellation_reason"]
    # a patient's attendees: one per individual appointment plus their class places
    pid = appts[-1]["patient_id"]
    mine = sum(a["patient_id"] == pid for a in appts) + sum(a["patient_id"] == pid for a in classes)
    assert (
        api.get(f"/v1/patients/{pid}/attendees", params={"q[]": list(stars)}).json()["total_entries"] == mine
    )
    assert count(api, "/v1/attendees", f"patient_id:={pid}", *stars) == mine


def test_sort(api: httpx.Client, export: dict[str, Any]) -> None:
    got = api.get("/v1/individual_appointments", params={"sort": "starts_at:desc", "per_page": 100}).json()
    starts = [a["starts_at"] for a in got["individual_appointments"]]
    assert starts == sorted(starts, reverse=True)
    live_appts = [a for a in export["individual_appointments"] if live(a, "cancelled_at", "archived_at")]
    assert starts[0] == max(a["starts_at"] for a in live_appts)

    pats = crawl(api, "/v1/patients", {"sort": "last_name,first_name:desc", "per_page": 100})
    keys = [(p["last_name"], p["first_name"]) for p in pats]
    for (l1, f1), (l2, f2) in itertools.pairwise(keys):
        assert l1 < l2 or (l1 == l2 and f1 >= f2)
    default = crawl(api, "/v1/patients", {"per_page": 100})
    created = [p["created_at"] for p in default]
    assert created == sorted(created)
    assert api.get("/v1/patients", params={"sort": "shoe_size"}).status_code == 400


def test_single_records_and_404(api: httpx.Client, export: dict[str, Any]) -> None:
    archived = next(p for p in export["patients"] if p["archived_at"])
    assert api.get(f"/v1/patients/{archived['id']}").json()["id"] == archived["id"]
    appt = export["individual_appointments"][0]
    assert api.get(f"/v1/individual_appointments/{appt['id']}").json()["starts_at"] == appt["starts_at"]
    for path in ("/v1/patients/1234567890123456789", "/v1/individual_appointments/abc", "/v1/nothing_here"):
        r = api.get(path)
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("text/html")
        assert "<title>Cliniko - 404</title>" in r.text


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/group_appointments"), ("DELETE", "/v1/attendees/1"), ("PUT", "/v1/patients")],
)
def test_method_a_route_lacks_is_html_404(api: httpx.Client, method: str, path: str) -> None:
    # spec §7: an unknown route is Cliniko's HTML 404 page; Rails routes by method and path
    r = api.request(method, path)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert "<title>Cliniko - 404</title>" in r.text


def test_reference_lists_and_legacy_appointments(api: httpx.Client) -> None:
    for name in ("practitioners", "businesses", "appointment_types"):
        body = api.get(f"/v1/{name}").json()
        assert body["total_entries"] == len(body[name]) > 0
    legacy = api.get("/v1/appointments", params={"per_page": 1}).json()["appointments"][0]
    assert legacy["appointment_start"] == legacy["starts_at"]


def test_patient_appointments_sub_list(api: httpx.Client, export: dict[str, Any]) -> None:
    appts = [a for a in export["individual_appointments"] if live(a, "cancelled_at", "archived_at")]
    pid = appts[-1]["patient_id"]
    body = api.get(f"/v1/patients/{pid}/appointments").json()
    assert body["total_entries"] == sum(a["patient_id"] == pid for a in appts)
    assert f"/v1/patients/{pid}/appointments?" in body["links"]["self"]
