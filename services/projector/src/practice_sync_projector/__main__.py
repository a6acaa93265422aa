"""`python -m practice_sync_projector`: run the projector service."""

from practice_sync_common.runtime import serve
from practice_sync_projector.main import create_app
from practice_sync_projector.settings import Settings

serve(create_app, Settings())
