"""Two URL lists: the contact form, mounted at /contact/, and the portal at /portal/."""

from django.urls import path

from nextorder.desk.portal import views

contact_patterns = (
    [
        path("", views.contact_form, name="form"),
        path("thanks/", views.contact_thanks, name="thanks"),
    ],
    "contact",
)

portal_patterns = (
    [
        path("", views.portal_start, name="start"),
        path("login/<str:token>/", views.portal_login, name="login"),
        path("logout/", views.portal_logout, name="logout"),
        path("tickets/", views.portal_tickets, name="tickets"),
        path("tickets/<int:pk>/", views.portal_ticket, name="ticket"),
        path("tickets/<int:pk>/reply/", views.portal_reply, name="reply"),
    ],
    "portal",
)
