"""The /v1 endpoints: lists with Cliniko's envelope and links, single records, and the writes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from .account import Account, ValidationFailed
from .http import api_base, json_response, not_found, query_string, state_of, validation_failed
from .query import ListQuery, QueryError, parse_filter, parse_list_query
from .render import Renderer
from .select import select
from .state import AccountSlot
from .table import NULL, Table

router = APIRouter(prefix="/v1")

LISTS = (
    "patients",
    "individual_appointments",
    "group_appointments",
    "attendees",
    "bookings",
    "practitioners",
    "businesses",
    "appointment_types",
)


def _slot(request: Request) -> AccountSlot:
    slot: AccountSlot = request.state.account
    return slot


def _renderer(request: Request, acc: Account) -> Renderer:
    return Renderer(acc, api_base(request), state_of(request).config.empty_dates_as_blank)


def _links(request: Request, path: str, q: ListQuery, total: int) -> dict[str, str]:
    def url(page: int) -> str:
        pairs = [("page", str(page)), ("per_page", str(q.per_page))]
        pairs += [("q[]", f) for f in q.raw_filters]
        if q.raw_sort is not None:
            pairs.append(("sort", q.raw_sort))
        if q.raw_order is not None:
            pairs.append(("order", q.raw_order))
        return f"{api_base(request)}/{path}?{query_string(pairs)}"

    links = {"self": url(q.page)}
    if q.page * q.per_page < total:
        links["next"] = url(q.page + 1)
    if q.page > 1:
        links["previous"] = url(q.page - 1)
    return links


def list_response(
    request: Request, name: str, path: str | None = None, scope: tuple[str, ...] = ()
) -> Response:
    """`scope`: filters a sub-list (e.g. one patient's appointments) adds without showing them in links."""
    slot = _slot(request)
    acc = slot.account()
    resource = slot.resources()[name]
    cfg = state_of(request).config
    try:
        q = parse_list_query(
            list(request.query_params.multi_items()),
            resource,
            default_per_page=cfg.default_per_page,
            max_per_page=cfg.max_per_page,
            overflow=cfg.per_page_overflow,
        )
        if scope:
            q = ListQuery(tuple(parse_filter(s, resource) for s in scope) + q.filters, *_rest(q))
    except QueryError as e:
        return json_response({"message": str(e)}, cfg.query_error_status)
    render = _renderer(request, acc).for_resource(name)
    with acc.lock:
        rows = select(acc, resource, q, cfg.explicit_filter_lifts_scope)
        total = len(rows)
        start = (q.page - 1) * q.per_page
        items = [render(r) for r in rows[start : start + q.per_page]]
    if scope:
        q = ListQuery(q.filters[len(scope) :], *_rest(q))
    links = _links(request, path or name, q, total)
    if items and request.state.fault.kind == "none" and state_of(request).faults.spend_unreadable_record():
        _spoil(items[0])
    return json_response({name: items, "total_entries": total, "links": links})


# What a date formatter prints for a time it could not format: a bug on the provider's side that a
# client must survive. Not ISO-8601, so a client's date parser refuses it rather than misreading it.
UNREADABLE_TIME = "Invalid date"


def _spoil(item: dict[str, Any]) -> None:
    """The `unreadable_records` fault: only the served copy changes, the stored record stays whole.

    `starts_at` where the resource has one (appointments, classes, bookings), otherwise `updated_at`,
    which every listed resource has.
    """
    item["starts_at" if "starts_at" in item else "updated_at"] = UNREADABLE_TIME


def _rest(q: ListQuery) -> tuple[Any, ...]:
    return (q.sort, q.page, q.per_page, q.raw_filters, q.raw_sort, q.raw_order)


def record_response(request: Request, name: str, ident: str) -> Response:
    slot = _slot(request)
    acc = slot.account()
    row = slot.resources()[name].lookup(ident)
    if row == NULL:
        return not_found()
    with acc.lock:
        return json_response(_renderer(request, acc).for_resource(name)(row))


async def _built(request: Request) -> None:
    """The GET routes answer on the event loop (a list page spends its time rendering, holding the
    GIL, so a worker thread only added a hop each way); an account added by the control API is
    still generated on first use, and that takes seconds, so it is built on a thread."""
    slot = _slot(request)
    if not slot.built:
        await run_in_threadpool(slot.account)


def _list_route(name: str) -> None:
    async def handler(request: Request) -> Response:
        await _built(request)
        return list_response(request, name)

    async def one(request: Request, ident: str) -> Response:
        await _built(request)
        return record_response(request, name, ident)

    router.add_api_route(f"/{name}", handler, methods=["GET"], name=f"list_{name}")
    router.add_api_route(f"/{name}/{{ident}}", one, methods=["GET"], name=f"get_{name}")


for _name in LISTS:
    _list_route(_name)


@router.get("/appointments")
async def legacy_appointments(request: Request) -> Response:
    if not state_of(request).config.legacy_appointments:
        return not_found()
    await _built(request)
    return list_response(request, "appointments")


@router.get("/appointments/{ident}")
async def legacy_appointment(request: Request, ident: str) -> Response:
    if not state_of(request).config.legacy_appointments:
        return not_found()
    await _built(request)
    return record_response(request, "appointments", ident)


async def _sub_list(
    request: Request, parent: str, ident: str, name: str, field: str, segment: str
) -> Response:
    await _built(request)
    slot = _slot(request)
    if slot.resources()[parent].lookup(ident) == NULL:
        return not_found()
    return list_response(request, name, f"{parent}/{ident}/{segment}", (f"{field}:={ident}",))


@router.get("/patients/{ident}/appointments")
async def patient_appointments(request: Request, ident: str) -> Response:
    return await _sub_list(
        request, "patients", ident, "individual_appointments", "patient_id", "appointments"
    )


@router.get("/patients/{ident}/attendees")
async def patient_attendees(request: Request, ident: str) -> Response:
    return await _sub_list(request, "patients", ident, "attendees", "patient_id", "attendees")


@router.get("/individual_appointments/{ident}/attendees")
async def appointment_attendees(request: Request, ident: str) -> Response:
    return await _sub_list(
        request, "individual_appointments", ident, "attendees", "appointment_id", "attendees"
    )


@router.get("/group_appointments/{ident}/attendees")
async def group_attendees(request: Request, ident: str) -> Response:
    return await _sub_list(request, "group_appointments", ident, "attendees", "appointment_id", "attendees")


# -- writes ---------------------------------------------------------------------------------------------


async def _json_object(request: Request) -> dict[str, Any] | Response:
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return json_response({"message": "Problems parsing JSON"}, 400)
    if not isinstance(body, dict):
        return json_response({"message": "must be an object"}, 422)
    return body


def _mutate(
    request: Request, table: Callable[[Account], Table], ident: str, change: Callable[[Account, int], None]
) -> Response | tuple[Account, int]:
    acc = _slot(request).account()
    with acc.lock:
        t = table(acc)
        row = t.row_of_text(ident)
        if row == NULL:
            return not_found()
        try:
            change(acc, row)
        except ValidationFailed as e:
            return validation_failed(e.errors)
    return acc, row


def _no_content(result: Response | tuple[Account, int]) -> Response:
    return result if isinstance(result, Response) else Response(status_code=204)


async def _create(
    request: Request,
    make: Callable[[Account, dict[str, Any]], int],
    render: Callable[[Renderer, int], dict[str, Any]],
) -> Response:
    body = await _json_object(request)
    if isinstance(body, Response):
        return body
    acc = _slot(request).account()
    with acc.lock:
        try:
            row = make(acc, body)
        except ValidationFailed as e:
            return validation_failed(e.errors)
        rendered = render(_renderer(request, acc), row)
    return json_response(rendered, 201, headers={"Location": rendered["links"]["self"]})


async def _update(
    request: Request,
    table: Callable[[Account], Table],
    ident: str,
    change: Callable[[Account, int, dict[str, Any]], None],
    render: Callable[[Renderer, int], dict[str, Any]],
) -> Response:
    body = await _json_object(request)
    if isinstance(body, Response):
        return body
    result = _mutate(request, table, ident, lambda a, r: change(a, r, body))
    if isinstance(result, Response):
        return result
    acc, row = result
    with acc.lock:
        return json_response(render(_renderer(request, acc), row))


@router.post("/patients")
async def create_patient(request: Request) -> Response:
    return await _create(request, Account.create_patient, Renderer.patient)


@router.patch("/patients/{ident}")
async def update_patient(request: Request, ident: str) -> Response:
    return await _update(request, lambda a: a.patients, ident, Account.update_patient, Renderer.patient)


@router.post("/patients/{ident}/archive")
def archive_patient(request: Request, ident: str) -> Response:
    return _no_content(_mutate(request, lambda a: a.patients, ident, Account.archive_patient))


@router.delete("/patients/{ident}")
def delete_patient(request: Request, ident: str) -> Response:
    # deprecated in the API: DELETE archives
    return _no_content(_mutate(request, lambda a: a.patients, ident, Account.archive_patient))


@router.post("/patients/{ident}/unarchive")
def unarchive_patient(request: Request, ident: str) -> Response:
    return _no_content(_mutate(request, lambda a: a.patients, ident, Account.unarchive_patient))


@router.post("/individual_appointments")
async def create_appointment(request: Request) -> Response:
    return await _create(request, Account.create_appointment, Renderer.individual_appointment)


@router.patch("/individual_appointments/{ident}")
async def update_appointment(request: Request, ident: str) -> Response:
    return await _update(
        request, lambda a: a.appointments, ident, Account.update_appointment, Renderer.individual_appointment
    )


@router.patch("/individual_appointments/{ident}/cancel")
async def cancel_appointment(request: Request, ident: str) -> Response:
    body = await _json_object(request)
    if isinstance(body, Response):
        return body
    return _no_content(
        _mutate(
            request,
            lambda a: a.appointments,
            ident,
            lambda a, r: a.cancel_appointment(
                r, body.get("cancellation_reason"), body.get("cancellation_note")
            ),
        )
    )


def _archive_appointment(acc: Account, row: int) -> None:
    acc.archive(acc.appointments, row)


@router.post("/individual_appointments/{ident}/archive")
def archive_appointment(request: Request, ident: str) -> Response:
    return _no_content(_mutate(request, lambda a: a.appointments, ident, _archive_appointment))


@router.delete("/individual_appointments/{ident}")
def delete_appointment(request: Request, ident: str) -> Response:
    return _no_content(_mutate(request, lambda a: a.appointments, ident, _archive_appointment))
