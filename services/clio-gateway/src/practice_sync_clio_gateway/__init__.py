"""practice_sync_clio_gateway."""
