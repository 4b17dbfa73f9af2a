from django.urls import path

from nextorder.desk import views, views_workspace

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
    path("tickets/<int:pk>/tags/", views_workspace.ticket_tag_add, name="ticket_tag_add"),
    path(
        "tickets/<int:pk>/tags/<int:tag>/delete/",
        views_workspace.ticket_tag_delete,
        name="ticket_tag_delete",
    ),
    path("tickets/<int:pk>/macro/", views_workspace.ticket_macro, name="ticket_macro"),
    path("tickets/<int:pk>/merge/", views_workspace.ticket_merge_view, name="ticket_merge"),
    path("tickets/<int:pk>/split/", views_workspace.ticket_split_view, name="ticket_split"),
    path("bulk/", views_workspace.queue_bulk, name="queue_bulk"),
    path("views/", views_workspace.saved_view_create, name="saved_view_create"),
    path("views/<int:pk>/delete/", views_workspace.saved_view_remove, name="saved_view_delete"),
    path("macros/", views_workspace.macros, name="macros"),
    path("macros/<int:pk>/", views_workspace.macro_edit, name="macro_edit"),
    path("macros/<int:pk>/delete/", views_workspace.macro_remove, name="macro_delete"),
    path("search/", views.search_view, name="search"),
    path("customers/", views.customer_list, name="customers"),
    path("tickets/<int:pk>/lead/", views.ticket_lead, name="ticket_lead"),
    path("customers/<int:pk>/", views.customer_detail, name="customer"),
    path("attachments/<int:pk>/", views.attachment_download, name="attachment"),
    path("mail/quarantine/", views.quarantine, name="quarantine"),
    path("mail/quarantine/<int:pk>/release/", views.quarantine_release, name="quarantine_release"),
    path("mail/quarantine/<int:pk>/delete/", views.quarantine_delete, name="quarantine_delete"),
    path("mail/quarantine/<int:pk>/raw/", views.quarantine_raw, name="quarantine_raw"),
    path("assignment/", views.assignment, name="assignment"),
    path("sla/", views.sla_policies, name="sla_policies"),
    path("sla/<int:pk>/", views.sla_policy_edit, name="sla_policy"),
    path("mail/outbox/", views.outbox, name="outbox"),
    path("mail/outbox/<int:pk>/", views.outbox_message, name="outbox_message"),
]
