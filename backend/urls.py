from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path, register_converter

from backend.api import api
from backend.converters import IdConverter
from backend.views import home, login_page

register_converter(IdConverter, "id")  # before the apps' URL confs below use it


def healthz(request):
    return JsonResponse({"ok": True})


# Uncaught errors: 503 when the database is unreachable, else 500; JSON under /api/, else a
# short page in the visitor's language (backend/views.py).
handler500 = "backend.views.server_error"

urlpatterns = [
    path("", home, name="home"),
    path("login/", login_page, name="login"),
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("", include("events.urls")),
    path("", include("checkin.urls")),
    path("", include("kiosk.urls")),
]
