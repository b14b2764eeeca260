from django.apps import AppConfig


class CheckinConfig(AppConfig):
    name = "checkin"
    verbose_name = "Check-in at the entrance"
    default_auto_field = "django.db.models.BigAutoField"
