from django.urls import path

from checkin import views

urlpatterns = [
    path("scan/", views.market_list, name="scan_markets"),
    path("scan/<id:market_id>/", views.scanner, name="scanner"),
]
