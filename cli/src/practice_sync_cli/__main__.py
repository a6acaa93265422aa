from practice_sync_cli.main import app

app()
