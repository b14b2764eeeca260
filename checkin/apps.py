from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CheckinConfig(AppConfig):
    name = "checkin"
    verbose_name = _("Aanmelden bij de ingang")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from checkin.services import scans_scrub_client
        from events.retention import client_pseudonymised

        client_pseudonymised.connect(scans_scrub_client, dispatch_uid="checkin.scans_scrub_client")
