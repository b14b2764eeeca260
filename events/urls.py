from django.urls import path  # noqa: F401

from events import views_client

urlpatterns: list = []

# The client's own page (DESIGN.md §6) and the accessibility statement.
urlpatterns += [
    path("i/<str:token>", views_client.client_page, name="client_page"),
    path("i/<str:token>/", views_client.client_page),
    path("i/<str:token>/<str:action>", views_client.client_action, name="client_action"),
    path("c/<str:code>", views_client.short_link, name="short_link"),
    path("c/<str:code>/", views_client.short_link),
    path("toegankelijkheid/", views_client.accessibility_statement, name="accessibility_statement"),
]

# Report pages (the consultant workflow; events.report_views).
from events import report_views  # noqa: E402

urlpatterns += [
    path("reports/market/<id:market_id>/", report_views.market_report_page, name="report_market"),
    path("reports/district/<id:district_id>/", report_views.district_report_page, name="report_district"),
]

# The consultant dashboard (the feed engineer's first version; events.views_dashboard).
from events import views_dashboard  # noqa: E402

urlpatterns += [
    path("dashboard/", views_dashboard.dashboard_index, name="dashboard_index"),
    path("dashboard/<id:market_id>/", views_dashboard.dashboard_market, name="dashboard_market"),
]
