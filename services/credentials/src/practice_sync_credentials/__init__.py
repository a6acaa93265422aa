"""practice_sync_credentials."""
