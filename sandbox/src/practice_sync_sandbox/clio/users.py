"""`/api/v4/users/who_am_i`: how a client learns which Clio user a token belongs to."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from practice_sync_sandbox.clio.fields import parse_fields, project
from practice_sync_sandbox.clio.resources import user_resource
from practice_sync_sandbox.clio.routing import api_route, single, token_of
from practice_sync_sandbox.clio.state import ClioSandbox


def users_router(sb: ClioSandbox) -> APIRouter:
    router = APIRouter(prefix="/api/v4")
    resource = user_resource(sb.salt)

    @api_route(router, "/users/who_am_i", ["GET"])
    async def who_am_i(request: Request) -> Response:
        user = sb.accounts[token_of(request).user_id].user
        return single(project(user, resource, parse_fields(request.query_params.get("fields"), resource)))

    return router
