"""Root pytest configuration: the shared fixture plugins (embedded Postgres and broker, the stack)."""

pytest_plugins = ["practice_sync_common.testing.plugin", "practice_sync_cli.testing_stack"]
