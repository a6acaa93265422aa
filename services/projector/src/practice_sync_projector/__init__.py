"""practice_sync_projector."""
