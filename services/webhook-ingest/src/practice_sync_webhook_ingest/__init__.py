"""practice_sync_webhook_ingest."""
