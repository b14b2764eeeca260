from django.apps import AppConfig


class CheckinConfig(AppConfig):
    name = "checkin"
    verbose_name = "Check-in at the entrance"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from checkin.services import scans_scrub_client
        from events.retention import client_pseudonymised

        client_pseudonymised.connect(scans_scrub_client, dispatch_uid="checkin.scans_scrub_client")
