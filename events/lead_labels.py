"""Plain Dutch (B1) labels for lead states, outcomes and exemption categories (msgids in Dutch;
the i18n catalogue translates them). Used by the report pages and the dashboard."""

from django.utils.translation import gettext_lazy as _

LEAD_STATE_LABELS = {
    "new": _("Nieuw"),
    "claimed": _("In behandeling"),
    "agreement": _("Afspraak"),
    "exemption": _("Vrijstelling"),
    "follow_up": _("Vervolgafspraak"),
    "declined": _("Afgewezen"),
}

EXEMPTION_LABELS = {
    "care": _("Mantelzorg"),
    "health": _("Gezondheid"),
    "language": _("Eerst een taalcursus"),
    "debt": _("Schuldhulp"),
    "working": _("Werkt al"),
    "volunteering": _("Doet al vrijwilligerswerk"),
}

DECLINED_BY_LABELS = {
    "client": _("Door de klant"),
    "organisation": _("Door de organisatie"),
}

# What a client said on their own page that a consultant follows up (the dashboard's list).
STATEMENT_LABELS = {
    "volunteering": _("Doet al vrijwilligerswerk"),
    "constraint": _("Vrijwilligerswerk is nu moeilijk"),
}

CONSTRAINT_LABELS = {
    "care": _("Mantelzorg"),
    "health": _("Gezondheid"),
    "language": _("Taal"),
    "debt": _("Schulden"),
}
