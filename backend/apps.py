from django.apps import AppConfig


class BackendConfig(AppConfig):
    name = "backend"
    verbose_name = "Project wiring: feed, roles, audit"
    default_auto_field = "django.db.models.BigAutoField"
