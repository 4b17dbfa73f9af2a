"""`nextorder fetchmail [URL] [--limit N] [--watch SECONDS]`: email in from an IMAP folder.

fetchmail                         the mailbox of NEXTORDER_IMAP_URL, once
fetchmail imaps://user@host/INBOX?move=Processed
fetchmail --watch 60              poll every minute until stopped (to run as a service)
"""

from __future__ import annotations

import time
from argparse import ArgumentTypeError
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

from nextorder.core.progress import phase_progress_bars
from nextorder.desk.mail.imap import (
    FetchReport,
    ImapAccount,
    ImapError,
    imap_account_from_url,
    mailbox_fetch,
)


def _positive(raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise ArgumentTypeError(f"{raw!r} is not a whole number above 0")
    return int(raw)


class Command(BaseCommand):
    help = "Take new mail from an IMAP folder into the desk; taken mail is moved or flagged."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "url",
            nargs="?",
            help="imaps://user[:password]@host[:port]/FOLDER[?move=FOLDER&cafile=FILE], "
            "or imap://…?starttls=1 (default: NEXTORDER_IMAP_URL)",
        )
        parser.add_argument("--limit", type=_positive, help="take at most N messages a run")
        parser.add_argument(
            "--watch", type=_positive, metavar="SECONDS", help="poll every SECONDS until stopped"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        url = options["url"] or settings.NEXTORDER_IMAP_URL
        if not url:
            raise CommandError("no mailbox: give an IMAP URL or set NEXTORDER_IMAP_URL")
        try:
            account = imap_account_from_url(url, password=settings.NEXTORDER_IMAP_PASSWORD)
        except ValueError as exc:
            raise CommandError(f"bad IMAP URL: {exc}") from exc
        if options["watch"] is None:
            try:
                self._fetch(account=account, limit=options["limit"], bars=options["verbosity"] > 0)
            except ImapError as exc:
                raise CommandError(f"{account.mailbox}: {exc}") from exc
            return
        try:
            self._watch(
                account=account,
                limit=options["limit"],
                every=options["watch"],
                idle_lines=options["verbosity"] > 1,
            )
        except KeyboardInterrupt:
            self.stderr.write("stopped")

    def _watch(
        self, *, account: ImapAccount, limit: int | None, every: int, idle_lines: bool
    ) -> None:
        """A server that is down or refuses us now may answer at the next poll: the error
        is written and the loop goes on. A poll that took nothing writes nothing (unless
        -v 2), so that a service's log holds what happened."""
        while True:
            close_old_connections()  # the database may have restarted since the last poll
            try:
                self._fetch(account=account, limit=limit, bars=False, idle_line=idle_lines)
            except ImapError as exc:
                self.stderr.write(f"{account.mailbox}: {exc}; trying again in {every} s")
            time.sleep(every)

    def _fetch(
        self, *, account: ImapAccount, limit: int | None, bars: bool, idle_line: bool = True
    ) -> None:
        with phase_progress_bars(enabled=bars) as progress:
            report = mailbox_fetch(account=account, limit=limit, progress=progress)
        if idle_line or report.fetched or report.moved:
            self.stdout.write(f"{account.mailbox}: {_summary(report, account)}")


def _summary(report: FetchReport, account: ImapAccount) -> str:
    put_away = f"moved to {account.processed_folder}" if account.processed_folder else "flagged"
    return (
        f"{report.fetched} fetched ({report.opened} opened a ticket, {report.added} added to "
        f"one, {report.duplicates} duplicates, {report.auto_replies} automatic replies, "
        f"{report.bounces} bounces, {report.quarantined} quarantined), "
        f"{report.moved} {put_away}"
    )
