"""`python -m practice_sync_clio_gateway`: run the clio-gateway service."""

from practice_sync_clio_gateway.main import create_app
from practice_sync_clio_gateway.settings import Settings
from practice_sync_common.runtime import serve

serve(create_app, Settings())
