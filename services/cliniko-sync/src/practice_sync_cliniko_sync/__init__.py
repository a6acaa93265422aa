"""practice_sync_cliniko_sync."""
