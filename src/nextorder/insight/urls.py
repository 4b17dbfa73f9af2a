from django.urls import path

from nextorder.insight import calendar_views, views

app_name = "insight"
urlpatterns = [
    path("at-risk/", views.at_risk, name="at_risk"),
    path("at-risk.csv", views.at_risk_csv, name="at_risk_csv"),
    path("at-risk/<int:pk>/follow-up/", views.follow_up, name="follow_up"),
    path("retention/", views.retention, name="retention"),
    path("value-model/", views.value_model, name="value_model"),
    path("staffing/", views.staffing, name="staffing"),
    path("retention/<slug:table>.csv", views.retention_csv, name="retention_csv"),
    path("hours/", calendar_views.calendars, name="calendars"),
    path("hours/new/", calendar_views.calendar_new, name="calendar_new"),
    path("hours/<int:pk>/", calendar_views.calendar_edit, name="calendar_edit"),
    path(
        "hours/<int:pk>/exceptions/",
        calendar_views.calendar_exception_add,
        name="calendar_exception_add",
    ),
    path(
        "hours/<int:pk>/exceptions/remove/",
        calendar_views.calendar_exception_remove,
        name="calendar_exception_remove",
    ),
    path("hours/<int:pk>/import/", calendar_views.calendar_import, name="calendar_import"),
    path("hours/teams/<int:pk>/", calendar_views.team_calendar, name="team_calendar"),
    path("coverage/panel/", calendar_views.coverage_panel, name="coverage_panel"),
]
