from django.contrib.admin.apps import AdminConfig


class ManagerAdminConfig(AdminConfig):
    """django.contrib.admin with NextOrder's managers-only site as `admin.site`."""

    default_site = "nextorder.core.admin_site.ManagerAdminSite"
