"""The HTTP API (I2, I3): REST with OpenAPI, live streams, metrics. ``nexus serve`` runs it.

See ``docs/api.md`` for the endpoints, the auth seam, streams and multi-server execution.
"""

from nexus.api.app import create_app
from nexus.api.auth import Authenticator, Principal, require_role, set_authenticator
from nexus.api.config import ServerSettings

__all__ = [
    "Authenticator",
    "Principal",
    "ServerSettings",
    "create_app",
    "require_role",
    "set_authenticator",
]
