"""`python -m practice_sync_credentials`: run the credentials service."""

import sys

from practice_sync_common.runtime import serve
from practice_sync_credentials.domain.keyring import KeyRingError
from practice_sync_credentials.main import create_app
from practice_sync_credentials.settings import Settings

settings = Settings()
try:
    # Built before binding the port, so an unusable key ring ends the process with a clear message.
    app = create_app(settings)
except KeyRingError as exc:
    sys.stderr.write(f"credentials: cannot start: CREDENTIALS_KEYRING: {exc}\n")
    sys.exit(2)
serve(lambda: app, settings)
