"""Settings, all read from the environment so one build runs the demo, CI and production.

Every variable is listed in the README's configuration table.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent
VAR_DIR = Path(os.environ.get("NEXTORDER_VAR_DIR", Path.cwd() / "var")).resolve()


def _env_bool(name: str, *, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _secret_key() -> str:
    """Generate the key once and keep it under var/, so sessions survive restarts
    and no key is ever committed."""
    if key := os.environ.get("SECRET_KEY"):
        return key
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = _env_bool("DEBUG", default=False)
ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1").split(",")
    if h.strip()
]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

INSTALLED_APPS = [
    # The admin site is NextOrder's (managers only); see nextorder/core/admin_site.py.
    "nextorder.core.admin_apps.ManagerAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "django_tasks",
    "django_tasks_db",
    "axes",
    "csp",
    "nextorder.core",
    "nextorder.crm",
    "nextorder.sales",
    "nextorder.desk",
    "nextorder.followup",
    "nextorder.insight",
    "nextorder.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes requires: it turns a locked-out log-in into its lockout page.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # First, so that a locked-out user is refused before the password is even checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "nextorder.urls"
WSGI_APPLICATION = "nextorder.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "nextorder.core.context_processors.roles",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'nextorder.sqlite3'}"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # WAL lets the served console read while an import or a task writes.
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # Tests use a file too (not shared-cache memory), so that concurrent writers wait on
    # each other as they do in the demo instead of failing with "table is locked".
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test_nextorder.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "desk:queue"
LOGOUT_REDIRECT_URL = "login"

TASKS = {"default": {"BACKEND": "django_tasks_db.backend.DatabaseBackend"}}

# The ticket priority rule (see nextorder/desk/priority.py): value-at-risk thresholds.
# The priority rule's "most valuable customers": the top share of those scored (desk/priority.py),
# recalibrated at each scoring; before the first scoring, those with at least TOP_VALUE at risk.
NEXTORDER_PRIORITY_TOP_SHARE = float(os.environ.get("NEXTORDER_PRIORITY_TOP_SHARE", "0.10"))
NEXTORDER_PRIORITY_TOP_VALUE = os.environ.get("NEXTORDER_PRIORITY_TOP_VALUE", "200")
NEXTORDER_QUEUE_PAGE_SIZE = int(os.environ.get("NEXTORDER_QUEUE_PAGE_SIZE", "50"))

# Customer value (see nextorder/insight): the monthly rate future orders are discounted
# at in the 12-month CLV; when the nightly scoring task runs (local time); and how many
# weeks at the end of the history it holds out to check the model's predictions.
NEXTORDER_CLV_MONTHLY_DISCOUNT_RATE = float(
    os.environ.get("NEXTORDER_CLV_MONTHLY_DISCOUNT_RATE", "0.01")
)
NEXTORDER_SCORING_TIME = os.environ.get("NEXTORDER_SCORING_TIME", "02:30")
# How often the worker looks for service-level clocks to warn about or escalate.
NEXTORDER_SLA_CHECK_SECONDS = int(os.environ.get("NEXTORDER_SLA_CHECK_SECONDS", "60"))
NEXTORDER_HOLDOUT_WEEKS = int(os.environ.get("NEXTORDER_HOLDOUT_WEEKS", "26"))
# The shop's own currency: customers' spend and value are in it; orders in another one
# count once `nextorder rates import` gave its rate.
NEXTORDER_CURRENCY = os.environ.get("NEXTORDER_CURRENCY", "USD").upper()
# The purchase model scores come from: "bgnbd" (default) or "pareto_nbd".
NEXTORDER_PURCHASE_MODEL = os.environ.get("NEXTORDER_PURCHASE_MODEL", "bgnbd")

# The follow-up playbook (see nextorder/followup): a survey goes out this many hours after
# a ticket is solved, never in the quiet hours (local time, "HH:MM-HH:MM"), at most once
# a period per customer; its link works this many days. A detractor's recovery task is due
# this many hours after the answer; a next-order nudge opens this many days before the
# customer's expected next purchase. The playbook runs every night at PLAYBOOK_TIME.
NEXTORDER_SURVEY_DELAY_HOURS = float(os.environ.get("NEXTORDER_SURVEY_DELAY_HOURS", "24"))
NEXTORDER_QUIET_HOURS = os.environ.get("NEXTORDER_QUIET_HOURS", "21:00-08:00")
NEXTORDER_SURVEY_PERIOD_DAYS = int(os.environ.get("NEXTORDER_SURVEY_PERIOD_DAYS", "90"))
NEXTORDER_SURVEY_LINK_DAYS = int(os.environ.get("NEXTORDER_SURVEY_LINK_DAYS", "14"))
NEXTORDER_RECOVERY_DUE_HOURS = float(os.environ.get("NEXTORDER_RECOVERY_DUE_HOURS", "4"))
NEXTORDER_NUDGE_DAYS_BEFORE = int(os.environ.get("NEXTORDER_NUDGE_DAYS_BEFORE", "7"))
NEXTORDER_PLAYBOOK_TIME = os.environ.get("NEXTORDER_PLAYBOOK_TIME", "03:00")
# Where customers reach the site: links in emails sent by the worker (surveys, referral
# asks, unsubscribe) start with it, as no request is there to say the host.
NEXTORDER_SITE_URL = os.environ.get("NEXTORDER_SITE_URL", "http://localhost:8000").rstrip("/")

MEDIA_URL = "media/"
MEDIA_ROOT = VAR_DIR / "media"
# The domain in the Message-IDs of mail we send: <uuid@domain>.
NEXTORDER_MESSAGE_ID_DOMAIN = os.environ.get("NEXTORDER_MESSAGE_ID_DOMAIN", "nextorder.localhost")

# Email. Replies go out from the support address; until EMAIL_HOST names an SMTP server
# they are kept in the outbox (a table managers read at /desk/outbox/), never sent.
NEXTORDER_SUPPORT_ADDRESS = os.environ.get(
    "NEXTORDER_SUPPORT_ADDRESS", "support@nextorder.localhost"
)
NEXTORDER_SUPPORT_NAME = os.environ.get("NEXTORDER_SUPPORT_NAME", "Customer service")
DEFAULT_FROM_EMAIL = f"{NEXTORDER_SUPPORT_NAME} <{NEXTORDER_SUPPORT_ADDRESS}>"
SERVER_EMAIL = NEXTORDER_SUPPORT_ADDRESS
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "nextorder.desk.mail.outbox.OutboxBackend"
)
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "587"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _env_bool("EMAIL_USE_TLS", default=EMAIL_PORT == 587)
EMAIL_USE_SSL = _env_bool("EMAIL_USE_SSL", default=EMAIL_PORT == 465)
EMAIL_TIMEOUT = 30
# Inbound limits: a message or attachment over them is quarantined with the reason.
NEXTORDER_MAIL_MAX_MESSAGE_MB = float(os.environ.get("NEXTORDER_MAIL_MAX_MESSAGE_MB", "25"))
NEXTORDER_MAIL_MAX_ATTACHMENT_MB = float(os.environ.get("NEXTORDER_MAIL_MAX_ATTACHMENT_MB", "10"))
# A reply that cannot be sent is tried this many times, 1, 2, 4, 8... minutes apart.
NEXTORDER_DELIVERY_ATTEMPTS = int(os.environ.get("NEXTORDER_DELIVERY_ATTEMPTS", "6"))
# Where `nextorder smtpd` listens for a mail server to relay into.
NEXTORDER_SMTPD_ADDR = os.environ.get("NEXTORDER_SMTPD_ADDR", "127.0.0.1:2525")
# The IMAP folder `nextorder fetchmail` reads when given none, and its password when the
# URL has none (so that it stays out of a command line and the process list).
NEXTORDER_IMAP_URL = os.environ.get("NEXTORDER_IMAP_URL", "")
NEXTORDER_IMAP_PASSWORD = os.environ.get("NEXTORDER_IMAP_PASSWORD", "")

# The public contact form and the portal's log-in links (see nextorder/desk/portal):
# how many posts one client address, and one email address, may make in a window
# ("COUNT/WINDOW", the window in s, m or h), counted in Django's cache; and how long a
# log-in link works.
NEXTORDER_CONTACT_RATE = os.environ.get("NEXTORDER_CONTACT_RATE", "5/10m")
NEXTORDER_PORTAL_LINK_RATE = os.environ.get("NEXTORDER_PORTAL_LINK_RATE", "5/10m")
NEXTORDER_PORTAL_LINK_MINUTES = int(os.environ.get("NEXTORDER_PORTAL_LINK_MINUTES", "30"))

# Promises, agreements and leads (see nextorder/sales): how far ahead an open promise's
# owner is told it is coming due; how many days before an agreement ends it becomes a
# renewal lead; when the nightly co-occurrence table of products is rebuilt (local time;
# promises are checked every hour); and the shop's own web domains
# (comma-separated; the support address's domain is always one), the only ones a
# suggested text may point a customer to.
NEXTORDER_PROMISE_DUE_SOON_HOURS = int(os.environ.get("NEXTORDER_PROMISE_DUE_SOON_HOURS", "48"))
NEXTORDER_RENEWAL_DAYS = int(os.environ.get("NEXTORDER_RENEWAL_DAYS", "60"))
NEXTORDER_AFFINITY_TIME = os.environ.get("NEXTORDER_AFFINITY_TIME", "03:30")
NEXTORDER_OWN_DOMAINS = [
    d.strip().lower()
    for d in (
        os.environ.get("NEXTORDER_OWN_DOMAINS", "")
        + ","
        + NEXTORDER_SUPPORT_ADDRESS.rpartition("@")[2]
    ).split(",")
    if d.strip()
]

# Log-in throttling (django-axes): after NEXTORDER_LOGIN_FAILURE_LIMIT wrong passwords for
# one user from one address, that pair is locked out for NEXTORDER_LOGIN_COOLOFF_MINUTES,
# or until a manager releases it (admin: "Access attempts", or `nextorder axes_reset`).
AXES_FAILURE_LIMIT = int(os.environ.get("NEXTORDER_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("NEXTORDER_LOGIN_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

# Production is secure by default: with DEBUG off the site redirects to HTTPS, sends HSTS
# and marks its cookies secure. A deployment that serves plain HTTP (on a private network,
# or behind a proxy that terminates TLS and does not pass X-Forwarded-Proto) turns each
# off by its own variable; all are listed in the README's configuration table.
_HTTPS = not DEBUG
SECURE_SSL_REDIRECT = _env_bool("NEXTORDER_SSL_REDIRECT", default=_HTTPS)
SESSION_COOKIE_SECURE = _env_bool("NEXTORDER_SECURE_COOKIES", default=_HTTPS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = int(
    os.environ.get("NEXTORDER_HSTS_SECONDS", str(365 * 24 * 3600 if _HTTPS else 0))
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("NEXTORDER_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = _env_bool("NEXTORDER_HSTS_PRELOAD", default=False)
if _env_bool("NEXTORDER_BEHIND_TLS_PROXY", default=False):
    # The proxy terminates TLS and says so in X-Forwarded-Proto; trust it for is_secure().
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp): scripts and styles from our own origin only, no
# inline script, no eval; images may be data: URLs (inline images of emails).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}
