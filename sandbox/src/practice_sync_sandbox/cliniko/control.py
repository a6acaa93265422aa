"""The /_sandbox control API: health, accounts, record changes, clock, faults, rate limit, stats, export.

It never shares a path or an auth scheme with /v1, so a client under test cannot reach it by accident.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request
from fastapi.responses import Response, StreamingResponse

from .._kit.clock import iso_z
from .._kit.faults import FaultPlan
from .account import Account, ValidationFailed
from .config import parse_account
from .http import api_base, dumps, json_response, not_found, state_of, validation_failed
from .names import CANCELLATION_CODES
from .render import Renderer
from .state import AccountSlot, SandboxState
from .table import NULL, Table


def _control_auth(request: Request) -> None:
    token = state_of(request).config.control_token
    if token and request.headers.get("authorization") != f"Bearer {token}":
        raise HTTPException(401, "control API needs Authorization: Bearer <token>")


router = APIRouter(prefix="/_sandbox", dependencies=[Depends(_control_auth)])
JsonBody = Body(default_factory=dict)


def _slot(request: Request, key: str) -> AccountSlot:
    slot = state_of(request).find(key)
    if slot is None:
        raise HTTPException(404, f"no account with key {key!r}")
    return slot


def _account_info(slot: AccountSlot) -> dict[str, Any]:
    info: dict[str, Any] = {
        "key": slot.key,
        "base_key": slot.spec.base_key,
        "shard": slot.spec.shard,
        "patients": slot.spec.patients,
        "appointments": slot.spec.appointments,
        "built": slot.built,
        "build_seconds": slot.build_seconds,
    }
    if slot.built:
        acc = slot.account()
        info["counts"] = {
            "patients": len(acc.patients),
            "individual_appointments": len(acc.appointments),
            "group_appointments": len(acc.groups),
            "attendees": len(acc.attendees),
            "practitioners": len(acc.practitioners),
            "businesses": len(acc.businesses),
            "appointment_types": len(acc.appointment_types),
        }
    return info


@router.get("/health")
def health(request: Request) -> Response:
    state = state_of(request)
    return json_response(
        {
            "status": "ok",
            "provider": "cliniko",
            "now": iso_z(state.clock.now()),
            "ready": all(s.built for s in state.slots.values()),
            "accounts": len(state.slots),
        }
    )


@router.get("/accounts")
def accounts(request: Request) -> Response:
    return json_response({"accounts": [_account_info(s) for s in state_of(request).slots.values()]})


@router.post("/accounts")
def add_account(request: Request, body: dict[str, Any] = JsonBody) -> Response:
    state = state_of(request)
    key = body.get("key")
    if not isinstance(key, str):
        return validation_failed({"key": "can't be blank"})
    try:
        spec = parse_account(
            key,
            int(body.get("patients", state.config.patients)),
            int(body.get("appointments", state.config.appointments)),
        )
        slot = state.add_account(spec)
    except ValueError as e:
        return validation_failed({"key": str(e)})
    slot.account()
    return json_response(_account_info(slot), 201)


# -- record changes --------------------------------------------------------------------------------------

TABLES: dict[str, Callable[[Account], Table]] = {
    "patients": lambda a: a.patients,
    "individual_appointments": lambda a: a.appointments,
    "group_appointments": lambda a: a.groups,
    "attendees": lambda a: a.attendees,
}


def _render(request: Request, acc: Account, table: str, row: int) -> dict[str, Any]:
    r = Renderer(acc, api_base(request), state_of(request).config.empty_dates_as_blank)
    if table == "attendees":
        return r.attendee(row)  # a table row (class attendee), not a row of the /attendees list
    return r.for_resource(table)(row)


@router.post("/accounts/{key}/churn")
def churn(request: Request, key: str, body: dict[str, Any] = JsonBody) -> Response:
    """Random changes, as a busy clinic makes between two polls: reschedules, cancellations,
    archives, new appointments, patient edits. Deterministic for a given `seed`."""
    acc = _slot(request, key).account()
    count = int(body.get("count", 10))
    rng = random.Random(body.get("seed", 0))
    changed: dict[str, list[str]] = {"patients": [], "individual_appointments": []}
    with acc.lock:
        n_app, n_pat = len(acc.appointments), len(acc.patients)
        for _ in range(count):
            kind = rng.random()
            if kind < 0.25 and n_pat:
                row = rng.randrange(n_pat)
                acc.update_patient(row, {"notes": f"edited {rng.randrange(10**6)}"})
                changed["patients"].append(str(acc.patients.id_of(row)))
                continue
            if kind < 0.45 and n_pat:
                starts = acc.now() + rng.randrange(1, 60) * 86400
                row = acc.create_appointment(
                    {
                        "patient_id": str(acc.patients.id_of(rng.randrange(n_pat))),
                        "starts_at": iso_z(datetime.fromtimestamp(starts // 900 * 900, UTC)),
                    }
                )
            elif n_app:
                row = rng.randrange(n_app)
                if kind < 0.65:
                    acc.cancel_appointment(row, rng.choice(CANCELLATION_CODES), None)
                elif kind < 0.75:
                    acc.archive(acc.appointments, row)
                else:
                    starts = acc.appointments.get("starts_at", row) + rng.randrange(1, 14) * 86400
                    acc.update_appointment(row, {"starts_at": iso_z(datetime.fromtimestamp(starts, UTC))})
            else:
                continue
            changed["individual_appointments"].append(str(acc.appointments.id_of(row)))
    return json_response({"changed": changed})


@router.post("/accounts/{key}/{table}")
def create_record(request: Request, key: str, table: str, body: dict[str, Any] = JsonBody) -> Response:
    acc = _slot(request, key).account()
    create: dict[str, Callable[[dict[str, Any]], int]] = {
        "patients": acc.create_patient,
        "individual_appointments": acc.create_appointment,
        "group_appointments": acc.create_group,
    }
    if table not in create:
        return not_found()
    with acc.lock:
        try:
            row = create[table](body)
        except ValidationFailed as e:
            return validation_failed(e.errors)
        return json_response(_render(request, acc, table, row), 201)


@router.patch("/accounts/{key}/{table}/{ident}")
def update_record(
    request: Request, key: str, table: str, ident: str, body: dict[str, Any] = JsonBody
) -> Response:
    acc = _slot(request, key).account()
    update: dict[str, Callable[[int, dict[str, Any]], None]] = {
        "patients": acc.update_patient,
        "individual_appointments": acc.update_appointment,
        "group_appointments": acc.update_group,
    }
    if table not in update:
        return not_found()
    with acc.lock:
        row = TABLES[table](acc).row_of_text(ident)
        if row == NULL:
            return not_found()
        try:
            update[table](row, body)
        except ValidationFailed as e:
            return validation_failed(e.errors)
        return json_response(_render(request, acc, table, row))


def _action(acc: Account, table: str, action: str, row: int, body: dict[str, Any]) -> int | None:
    """Applies one named change; returns the row whose record the answer shows (None = unknown action)."""
    t = TABLES[table](acc)
    reason = body.get("cancellation_reason", 50)
    note = body.get("cancellation_note")
    if table == "patients":
        if action == "archive":
            acc.archive_patient(row)
        elif action == "unarchive":
            acc.unarchive_patient(row)
        elif action == "delete":
            acc.delete_patient(row)
        elif action == "merge":
            into = acc.patients.row_of_text(str(body.get("into", "")))
            if into == NULL:
                raise ValidationFailed({"into": "is invalid"})
            acc.merge_patient(row, into)
        elif action == "touch":
            acc.update_patient(row, {})
        else:
            return None
        return row
    if action == "cancel" and table == "individual_appointments":
        acc.cancel_appointment(row, reason, note)
    elif action == "cancel" and table == "attendees":
        acc.cancel_attendee(row, reason, note)
    elif action == "uncancel" and table in ("individual_appointments", "attendees"):
        acc.uncancel(t, row)
    elif action == "archive":
        acc.archive(t, row)
    elif action == "delete":
        acc.archive(t, row, deleted=True)
    elif action == "unarchive":
        acc.unarchive(t, row)
    elif action == "attendees" and table == "group_appointments":
        return acc.add_attendee(row, body.get("patient_id"))
    elif action == "touch" and table == "individual_appointments":
        acc.update_appointment(row, {})
    elif action == "touch" and table == "group_appointments":
        acc.update_group(row, {})
    else:
        return None
    return row


@router.post("/accounts/{key}/{table}/{ident}/{action}")
def record_action(
    request: Request, key: str, table: str, ident: str, action: str, body: dict[str, Any] = JsonBody
) -> Response:
    """archive, unarchive, delete, cancel, uncancel, touch; merge (patients, body {"into": id});
    attendees (group appointments, body {"patient_id": id}) adds an attendee."""
    acc = _slot(request, key).account()
    if table not in TABLES:
        return not_found()
    with acc.lock:
        row = TABLES[table](acc).row_of_text(ident)
        if row == NULL:
            return not_found()
        try:
            shown = _action(acc, table, action, row, body)
        except ValidationFailed as e:
            return validation_failed(e.errors)
        if shown is None:
            return json_response({"message": f"unknown action {action!r} for {table}"}, 404)
        shown_table = "attendees" if action == "attendees" else table
        return json_response(_render(request, acc, shown_table, shown))


# -- export ------------------------------------------------------------------------------------------------


def _export_chunks(acc: Account, r: Renderer, info: dict[str, Any], now: str | None) -> Iterator[bytes]:
    """Every record, whatever its state, with the IDs the API only shows inside links made explicit.

    Streamed in chunks, taking the account lock per chunk, so a 500k export neither holds the lock
    for seconds nor builds one giant string."""
    yield b'{"account":' + dumps(info) + b',"now":' + dumps(now)

    def section(name: str, size: int, one: Callable[[int], dict[str, Any]]) -> Iterator[bytes]:
        yield f',"{name}":['.encode()
        for start in range(0, size, 2000):
            with acc.lock:
                items = [one(i) for i in range(start, min(size, start + 2000))]
            body = dumps(items)[1:-1]
            yield (b"," if start else b"") + body
        yield b"]"

    def appointment(i: int) -> dict[str, Any]:
        out = r.individual_appointment(i)
        out["patient_id"] = str(acc.patients.id_of(acc.appointments.cols["patient"][i]))
        return out

    def attendee(a: int) -> dict[str, Any]:
        out = r.attendee(a)
        out["patient_id"] = str(acc.patients.id_of(acc.attendees.cols["patient"][a]))
        out["appointment_id"] = str(acc.groups.id_of(acc.attendees.cols["appointment"][a]))
        return out

    def group(g: int) -> dict[str, Any]:
        out = r.group_appointment(g)
        out["attendees"] = [attendee(a) for a in acc.group_attendees[g]]
        return out

    yield from section("patients", len(acc.patients), r.patient)
    yield from section("individual_appointments", len(acc.appointments), appointment)
    yield from section("group_appointments", len(acc.groups), group)
    yield from section("practitioners", len(acc.practitioners), r.practitioner)
    yield from section("businesses", len(acc.businesses), r.business)
    yield from section("appointment_types", len(acc.appointment_types), r.appointment_type)
    yield b"}"


@router.get("/accounts/{key}/export")
def export(request: Request, key: str) -> Response:
    slot = _slot(request, key)
    acc = slot.account()
    state = state_of(request)
    r = Renderer(acc, api_base(request), state.config.empty_dates_as_blank)
    chunks = _export_chunks(acc, r, _account_info(slot), iso_z(state.clock.now()))
    return StreamingResponse(chunks, media_type="application/json; charset=utf-8")


# -- clock, faults, rate limit, settings, stats ------------------------------------------------------------


def _clock_info(state: SandboxState) -> dict[str, Any]:
    frozen = state.clock.frozen
    return {
        "now": iso_z(state.clock.now()),
        "epoch": int(state.clock.time()),
        "frozen": frozen,
        "data_anchor": iso_z(datetime.fromtimestamp(state.anchor, UTC)),
    }


@router.get("/clock")
def get_clock(request: Request) -> Response:
    return json_response(_clock_info(state_of(request)))


@router.post("/clock")
def move_clock(request: Request, body: dict[str, Any] = JsonBody) -> Response:
    """{"advance_seconds": n} | {"set": "2025-01-01T00:00:00Z"} | {"freeze": true|false}"""
    state = state_of(request)
    try:
        if "freeze" in body:
            state.clock.freeze(bool(body["freeze"]))
        if "set" in body:
            state.clock.set(datetime.fromisoformat(str(body["set"]).replace("Z", "+00:00")))
        if "advance_seconds" in body:
            state.clock.advance(float(body["advance_seconds"]))
    except (TypeError, ValueError) as e:
        return validation_failed({"clock": str(e)})
    return json_response(_clock_info(state))


@router.get("/faults")
def get_faults(request: Request) -> Response:
    return json_response(dataclasses.asdict(state_of(request).faults.plan))


@router.post("/faults")
def set_faults(request: Request, body: dict[str, Any] = JsonBody) -> Response:
    """A FaultPlan: force_429, server_errors (burst), error_rate, error_statuses, latency_ms,
    malformed_pages, cut_connections, seed, unreadable_records. Replaces the current plan."""
    names = {f.name for f in dataclasses.fields(FaultPlan)}
    unknown = sorted(set(body) - names)
    if unknown:
        return validation_failed({k: "is not a fault setting" for k in unknown})
    try:
        plan = FaultPlan(**body)
    except TypeError as e:
        return validation_failed({"plan": str(e)})
    state_of(request).faults.set(plan)
    return json_response(dataclasses.asdict(plan))


@router.delete("/faults")
def clear_faults(request: Request) -> Response:
    state_of(request).faults.clear()
    return Response(status_code=204)


def _rate_info(state: SandboxState) -> dict[str, Any]:
    cfg = state.config
    return {
        "limit": state.limiter.limit,
        "window_s": state.limiter.window_s,
        "retry_after_header": cfg.retry_after_header,
        "rate_limit_info_headers": cfg.rate_limit_info_headers,
    }


@router.get("/rate-limit")
def get_rate_limit(request: Request) -> Response:
    return json_response(_rate_info(state_of(request)))


@router.post("/rate-limit")
def set_rate_limit(request: Request, body: dict[str, Any] = JsonBody) -> Response:
    """{"limit": n, "window_s": s, "retry_after_header": bool, "rate_limit_info_headers": bool};
    any change also starts fresh windows."""
    state = state_of(request)
    limit = body.get("limit")
    window = body.get("window_s")
    if (limit is not None and (not isinstance(limit, int) or limit < 1)) or (
        window is not None and (not isinstance(window, int | float) or window <= 0)
    ):
        return validation_failed({"limit": "must be a positive integer, window_s a positive number"})
    state.limiter.configure(limit=limit, window_s=window)
    for flag in ("retry_after_header", "rate_limit_info_headers"):
        if flag in body:
            setattr(state.config, flag, bool(body[flag]))
    return json_response(_rate_info(state))


SETTINGS = {
    "require_user_agent": bool,
    "user_agent_status": int,
    "require_accept_header": bool,
    "empty_dates_as_blank": bool,
    "per_page_overflow": str,
    "query_error_status": int,
    "explicit_filter_lifts_scope": bool,
    "legacy_appointments": bool,
    "retry_after_header": bool,
    "rate_limit_info_headers": bool,
}


@router.get("/settings")
def get_settings(request: Request) -> Response:
    cfg = state_of(request).config
    return json_response({k: getattr(cfg, k) for k in SETTINGS})


@router.patch("/settings")
def set_settings(request: Request, body: dict[str, Any] = JsonBody) -> Response:
    cfg = state_of(request).config
    errors = {k: "is not a switch" for k in body if k not in SETTINGS}
    errors |= {
        k: f"must be {SETTINGS[k].__name__}"
        for k, v in body.items()
        if k in SETTINGS and not isinstance(v, SETTINGS[k])
    }
    if body.get("per_page_overflow") not in (None, "clamp", "error"):
        errors["per_page_overflow"] = "must be clamp or error"
    if errors:
        return validation_failed(errors)
    for k, v in body.items():
        setattr(cfg, k, v)
    return json_response({k: getattr(cfg, k) for k in SETTINGS})


@router.get("/stats")
def stats(request: Request) -> Response:
    return json_response(state_of(request).ledger.snapshot())


@router.post("/stats/reset")
def reset_stats(request: Request) -> Response:
    state_of(request).ledger.reset()
    return Response(status_code=204)
