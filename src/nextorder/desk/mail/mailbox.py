"""A mailbox brought from another tool (mbox file or Maildir folder) into the desk.

Each message goes through `mail_receive_many`, as live mail does, dated by its own Date
header (`history`), so threads, contacts, bounces and quarantine come out as they would
have. Messages are read in worker processes and committed in batches of BATCH: a crash
loses at most the batch in flight, and running the import again skips what is there
(by Message-ID).
"""

from __future__ import annotations

import functools
import itertools
import mailbox
import multiprocessing
import os
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.utils import timezone

from nextorder.desk.mail.inbound import mail_limits, mail_receive_many
from nextorder.desk.mail.parse import Letter, read_letter
from nextorder.desk.models import InboundMail

BATCH = 500
# Below this many messages, starting worker processes costs more than it saves.
PARALLEL_FROM = 1_000


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


@contextmanager
def _reader(workers: int) -> Iterator[Callable[[Iterator[bytes]], Iterator[Letter]]]:
    """Read letters in `workers` processes (in order), or here when there are none.

    The workers are spawned, not forked: a forked child would share this process's
    database connection, and its exit would close it under us.
    """
    read = functools.partial(read_letter, limits=mail_limits())
    if workers < 1:
        yield lambda raws: map(read, raws)
        return
    with multiprocessing.get_context("spawn").Pool(processes=workers) as pool:
        yield lambda raws: pool.imap(read, raws, chunksize=16)


def mailbox_import(
    *,
    path: Path,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> MailboxReport:
    """`workers`: processes that read the messages (default: one per core for a mailbox
    of PARALLEL_FROM messages or more, else none)."""
    total, messages = _messages(path)
    if workers is None:
        workers = (os.cpu_count() or 1) if total >= PARALLEL_FROM else 0
    outcomes: Counter[str] = Counter()
    done = 0
    received_at = timezone.now()
    with _reader(workers) as read:
        letters = read(messages)
        while batch := list(itertools.islice(letters, BATCH)):
            for outcome in mail_receive_many(
                letters=batch,
                source=InboundMail.Source.MAILBOX,
                received_at=received_at,
                history=True,
            ):
                outcomes[outcome.outcome] += 1
            done += len(batch)
            if progress is not None:
                progress(done, total)
    return MailboxReport(messages=done, outcomes=dict(outcomes))
