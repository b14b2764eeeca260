"""All websocket routes, gathered from the apps."""

from checkin.routing import websocket_urlpatterns as checkin_ws
from events.routing import websocket_urlpatterns as events_ws
from kiosk.routing import websocket_urlpatterns as kiosk_ws

websocket_urlpatterns = [*events_ws, *checkin_ws, *kiosk_ws]
