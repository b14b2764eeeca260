from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "Vrijwilligersmarkten"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from events import audit_hooks

        audit_hooks.connect()

        from events import admin_access

        admin_access.connect()

        from events import feed_rights

        feed_rights.connect()
