from django.urls import path

from nextorder.sales import views

app_name = "sales"
urlpatterns = [
    path("promises/", views.commitments, name="commitments"),
    path("customers/<int:customer_pk>/promises/new/", views.commitment_new, name="commitment_new"),
    path("promises/<int:pk>/edit/", views.commitment_edit, name="commitment_edit"),
    path("promises/<int:pk>/state/", views.commitment_state, name="commitment_state"),
    path("agreements/", views.agreements, name="agreements"),
    path("customers/<int:customer_pk>/agreements/new/", views.agreement_new, name="agreement_new"),
    path("agreements/<int:pk>/edit/", views.agreement_edit, name="agreement_edit"),
    path("coverage/", views.coverage, name="coverage"),
    path("leads/", views.leads, name="leads"),
    path("customers/<int:customer_pk>/leads/new/", views.lead_new, name="lead_new"),
    path("leads/<int:pk>/", views.lead_detail, name="lead"),
    path("leads/<int:pk>/close/", views.lead_close, name="lead_close"),
]
