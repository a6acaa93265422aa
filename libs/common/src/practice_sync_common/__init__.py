"""practice_sync_common."""
