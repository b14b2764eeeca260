from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KioskConfig(AppConfig):
    name = "kiosk"
    verbose_name = _("Tablets van organisaties")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from events.retention import client_pseudonymised
        from kiosk.services import interests_scrub_client

        client_pseudonymised.connect(interests_scrub_client, dispatch_uid="kiosk.interests_scrub_client")
