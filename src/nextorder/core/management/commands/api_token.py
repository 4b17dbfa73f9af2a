"""`nextorder api_token create|revoke|list`: API tokens from the command line.

api_token create --user U --name N   print a new token's secret (shown this once)
api_token revoke ID                  refuse a token from now on
api_token list                       every token: id, prefix, name, user, last use, state
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from nextorder.core.models import ApiToken
from nextorder.core.services import api_token_create, api_token_revoke


class Command(BaseCommand):
    help = "API tokens: create (the secret is printed once), revoke, list."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["create", "revoke", "list"])
        parser.add_argument("token_id", nargs="?", type=int, help="revoke: the token's id")
        parser.add_argument("--user", help="create: the staff user the token acts as")
        parser.add_argument("--name", help="create: what the token is for")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "create":
            self._create(username=options["user"], name=options["name"])
        elif action == "revoke":
            if options["token_id"] is None:
                raise CommandError("revoke needs the token's id (see `api_token list`)")
            token = ApiToken.objects.filter(pk=options["token_id"]).first()
            if token is None:
                raise CommandError(f"no token #{options['token_id']}")
            api_token_revoke(token=token, actor=None)
            self.stdout.write(f"revoked token #{token.pk} ({token})")
        else:
            for token in ApiToken.objects.select_related("user"):
                state = f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "active"
                used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
                self.stdout.write(
                    f"{token.pk}\t{token.prefix}…\t{token.name}\t{token.user.get_username()}"
                    f"\tlast used {used}\t{state}"
                )

    def _create(self, *, username: str | None, name: str | None) -> None:
        if not username or not name:
            raise CommandError("create needs --user and --name")
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r}")
        try:
            token, secret = api_token_create(user=user, name=name, actor=None)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stderr.write(f"token #{token.pk} for {username}; the secret is shown only now:")
        self.stdout.write(secret)
