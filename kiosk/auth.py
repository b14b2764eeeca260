"""Device authentication: `Authorization: Device <token>` (DESIGN.md §8).

Separate from user sessions on purpose: device endpoints accept only this header (a session
cookie is ignored there), and user endpoints use session auth, so a device token never opens
them. An unknown or revoked token gets 401 on its very next request.
"""

from __future__ import annotations

from ninja.security import HttpBearer

from kiosk.services import device_for_token


class DeviceAuth(HttpBearer):
    openapi_scheme = "device"  # compared case-insensitively with the header's first word

    def authenticate(self, request, token: str):
        device = device_for_token(token.strip())
        if device is not None:
            request.device = device
        return device


device_auth = DeviceAuth()
