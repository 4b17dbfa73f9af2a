from django.urls import path

from nextorder.insight import views

app_name = "insight"
urlpatterns = [
    path("at-risk/", views.at_risk, name="at_risk"),
    path("at-risk.csv", views.at_risk_csv, name="at_risk_csv"),
    path("at-risk/<int:pk>/follow-up/", views.follow_up, name="follow_up"),
    path("retention/", views.retention, name="retention"),
    path("value-model/", views.value_model, name="value_model"),
    path("staffing/", views.staffing, name="staffing"),
    path("retention/<slug:table>.csv", views.retention_csv, name="retention_csv"),
]
