from django.urls import path

from nextorder.followup import views

app_name = "followup"
urlpatterns = [
    path("survey/<str:token>/", views.survey, name="survey"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("referral/<str:code>/", views.referral, name="referral"),
    path("tasks/", views.tasks, name="tasks"),
    path("tasks/<int:pk>/close/", views.task_close, name="task_close"),
    path("tasks/<int:pk>/take/", views.task_take, name="task_take"),
    path("customers/<int:pk>/playbook/", views.playbook, name="playbook"),
    path("report/", views.report, name="report"),
    path("report/<slug:table>.csv", views.report_csv, name="report_csv"),
]
