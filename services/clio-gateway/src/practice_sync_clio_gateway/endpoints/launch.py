"""`GET /clio/custom-actions/launch`: where Clio sends a user who clicked "Open Smart Intake".

Unauthenticated by design (Clio opens it in the user's browser); the nonce check with Clio is the
authentication. The nonce never appears in our logs or answers.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import RedirectResponse

from practice_sync_clio_gateway.clio.credentials import CredentialsUnavailable, NeedsReauth
from practice_sync_clio_gateway.service.custom_actions import MAX_ID, LaunchRefused, launch
from practice_sync_common.provider_http import ProviderError

router = APIRouter(tags=["custom actions"])


@router.get("/clio/custom-actions/launch", response_class=RedirectResponse, status_code=302)
async def launch_endpoint(
    request: Request,
    # Bounded like Clio's int64 ids: a larger number is refused by name, not by the database.
    custom_action_id: int = Query(ge=1, le=MAX_ID),
    user_id: int = Query(ge=1, le=MAX_ID),
    subject_url: str = Query(min_length=1, max_length=500),
    custom_action_nonce: str = Query(min_length=1, max_length=500),
) -> RedirectResponse:
    try:
        target = await launch(
            request.app.state.gateway, custom_action_id, user_id, subject_url, custom_action_nonce
        )
    except LaunchRefused as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    except NeedsReauth as exc:
        raise HTTPException(403, "this Clio account must be reconnected before the action works") from exc
    except (ProviderError, CredentialsUnavailable) as exc:
        raise HTTPException(503, "Clio could not confirm the click right now; try again") from exc
    return RedirectResponse(target, status_code=302)
