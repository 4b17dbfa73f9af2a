from django.urls import path

from nextorder.desk import views

app_name = "desk"
urlpatterns = [
    path("", views.queue, name="queue"),
    path("tickets/<int:pk>/", views.ticket_detail, name="ticket"),
    path("tickets/<int:pk>/reply/", views.ticket_reply_view, name="ticket_reply"),
    path("tickets/<int:pk>/update/", views.ticket_update_view, name="ticket_update"),
    path(
        "tickets/<int:pk>/contact-address/",
        views.ticket_contact_address,
        name="ticket_contact_address",
    ),
    path("customers/<int:pk>/", views.customer_detail, name="customer"),
    path("attachments/<int:pk>/", views.attachment_download, name="attachment"),
    path("mail/quarantine/", views.quarantine, name="quarantine"),
    path("mail/quarantine/<int:pk>/release/", views.quarantine_release, name="quarantine_release"),
    path("mail/quarantine/<int:pk>/delete/", views.quarantine_delete, name="quarantine_delete"),
    path("mail/quarantine/<int:pk>/raw/", views.quarantine_raw, name="quarantine_raw"),
    path("sla/", views.sla_policies, name="sla_policies"),
    path("sla/<int:pk>/", views.sla_policy_edit, name="sla_policy"),
    path("mail/outbox/", views.outbox, name="outbox"),
    path("mail/outbox/<int:pk>/", views.outbox_message, name="outbox_message"),
]
