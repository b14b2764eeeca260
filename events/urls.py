from django.urls import path  # noqa: F401

from events import views_client

urlpatterns: list = []

# The client's own page (DESIGN.md §6) and the accessibility statement.
urlpatterns += [
    path("i/<str:token>", views_client.client_page, name="client_page"),
    path("i/<str:token>/", views_client.client_page),
    path("i/<str:token>/<str:action>", views_client.client_action, name="client_action"),
    path("toegankelijkheid/", views_client.accessibility_statement, name="accessibility_statement"),
]
