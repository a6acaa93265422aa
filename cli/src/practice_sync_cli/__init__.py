"""practice_sync_cli."""
