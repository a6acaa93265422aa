"""practice_sync_sandbox."""
