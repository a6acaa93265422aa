"""`python -m practice_sync_credentials`: run the credentials service."""

from practice_sync_common.runtime import serve
from practice_sync_credentials.main import create_app
from practice_sync_credentials.settings import Settings

serve(create_app, Settings())
