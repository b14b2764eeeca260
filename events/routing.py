from django.urls import re_path

from events.consumers import MarketFeedConsumer

websocket_urlpatterns: list = [
    re_path(r"^ws/markets/(?P<market_id>\d+)/feed/?$", MarketFeedConsumer.as_asgi()),
]
