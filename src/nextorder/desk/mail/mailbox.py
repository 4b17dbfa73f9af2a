"""A mailbox brought from another tool (mbox file or Maildir folder) into the desk.

Each message goes through `mail_receive`, as live mail does, dated by its own Date
header (`history`), so threads, contacts, bounces and quarantine come out as they would
have. Messages are committed in batches (one savepoint each): a crash loses at most the
batch in flight, and running the import again skips what is there (by Message-ID).
"""

from __future__ import annotations

import mailbox
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from nextorder.desk.mail.inbound import mail_receive
from nextorder.desk.models import InboundMail

BATCH = 200


@dataclass(frozen=True)
class MailboxReport:
    messages: int
    outcomes: dict[str, int]


def _messages(path: Path) -> tuple[int, Iterator[bytes]]:
    if path.is_dir():
        if not (path / "cur").is_dir() or not (path / "new").is_dir():
            raise ValueError(f"{path} is a folder but not a Maildir (no cur/ and new/ inside)")
        box: mailbox.Maildir | mailbox.mbox = mailbox.Maildir(path, create=False)
    elif path.is_file():
        with path.open("rb") as handle:
            if handle.read(5) != b"From ":
                raise ValueError(f"{path} is not an mbox file (it must start with 'From ')")
        box = mailbox.mbox(path, create=False)
    else:
        raise ValueError(f"{path} does not exist")
    keys = box.keys()
    return len(keys), (box.get_bytes(key) for key in keys)


def mailbox_import(
    *, path: Path, progress: Callable[[int, int], None] | None = None
) -> MailboxReport:
    total, messages = _messages(path)
    outcomes: Counter[str] = Counter()
    done = 0
    received_at = timezone.now()
    while True:
        with transaction.atomic():
            batch = 0
            for raw in messages:
                outcome = mail_receive(
                    raw=raw,
                    source=InboundMail.Source.MAILBOX,
                    received_at=received_at,
                    history=True,
                )
                outcomes[outcome.outcome] += 1
                batch += 1
                if batch == BATCH:
                    break
        done += batch
        if progress is not None:
            progress(done, total)
        if batch < BATCH:
            return MailboxReport(messages=done, outcomes=dict(outcomes))
