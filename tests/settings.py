"""The test suite's settings: the project's own, with two changes that only tests need.

- A fast password hasher: set-up hashes a password for every user it makes, and the
  default PBKDF2 spends 0.3 s on each.
- The test client and the live server speak plain HTTP, so production's HTTPS redirect
  and secure-only cookies are off; `tests/core/test_settings.py` checks the production
  defaults themselves with `check --deploy`.
"""

from nextorder.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0
