from django.urls import path

from kiosk.views import kiosk_page

urlpatterns: list = [
    path("kiosk/", kiosk_page, name="kiosk"),
]
