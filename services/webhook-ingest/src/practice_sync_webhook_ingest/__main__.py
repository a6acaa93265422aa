"""`python -m practice_sync_webhook_ingest`: run the webhook-ingest service."""

from practice_sync_common.runtime import serve
from practice_sync_webhook_ingest.main import create_app
from practice_sync_webhook_ingest.settings import Settings

serve(create_app, Settings())
