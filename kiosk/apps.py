from django.apps import AppConfig


class KioskConfig(AppConfig):
    name = "kiosk"
    verbose_name = "Organisation kiosks"
    default_auto_field = "django.db.models.BigAutoField"
