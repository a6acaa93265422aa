"""`python -m practice_sync_cliniko_sync`: run the cliniko-sync service."""

from practice_sync_cliniko_sync.main import create_app
from practice_sync_cliniko_sync.settings import Settings
from practice_sync_common.runtime import serve

serve(create_app, Settings())
