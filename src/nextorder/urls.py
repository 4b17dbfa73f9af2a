from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from nextorder.api import api
from nextorder.desk.portal.urls import contact_patterns, portal_patterns

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="desk:queue", permanent=False), name="home"),
    # Browsers and bots ask for /favicon.ico whatever the pages link to.
    path(
        "favicon.ico",
        RedirectView.as_view(url=static("nextorder/favicon.svg"), permanent=True),
        name="favicon",
    ),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("desk/", include("nextorder.desk.urls")),
    path("followup/", include("nextorder.followup.urls")),
    path("insight/", include("nextorder.insight.urls")),
    path("sales/", include("nextorder.sales.urls")),
    path("contact/", include(contact_patterns)),
    path("portal/", include(portal_patterns)),
    path("api/v1/", api.urls),
]
