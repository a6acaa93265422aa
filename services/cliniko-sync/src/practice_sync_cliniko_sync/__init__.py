"""practice_sync_cliniko_sync."""

SOURCE = "cliniko-sync"  # the `source` of every event this service publishes
