"""Settings of the credentials service (environment variables, upper case)."""

from __future__ import annotations

from practice_sync_common.settings import CommonSettings


class Settings(CommonSettings):
    service_name: str = "credentials"
    http_port: int = 8001
