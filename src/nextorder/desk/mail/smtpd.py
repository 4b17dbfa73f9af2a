"""The desk's SMTP receiver: a mail server relays customers' mail into it.

A message is answered "250" only once `mail_receive` has committed it (a ticket
message, a bounce record, an ignored auto-reply or a quarantined row); a database that
is down gets "451" so the relaying server keeps the message and tries again. Nothing
accepted is ever lost. The protocol runs on asyncio; the database work runs on a small
pool of threads, each with its own connection, so slow commits do not stall the others.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from django.db import close_old_connections

from nextorder.desk.mail.inbound import mail_limits, mail_receive
from nextorder.desk.models import InboundMail

log = logging.getLogger(__name__)


def _receive(raw: bytes) -> str:
    close_old_connections()
    try:
        return mail_receive(raw=raw, source=InboundMail.Source.SMTP).outcome
    finally:
        close_old_connections()


class DeskHandler:
    def __init__(self, *, workers: int) -> None:
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="smtpd-db")

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        # A str only with decode_data, which the controller leaves off.
        raw = content.encode("utf-8", "surrogateescape") if isinstance(content, str) else content
        try:
            outcome = await asyncio.get_running_loop().run_in_executor(self.pool, _receive, raw)
        except Exception:
            log.exception("could not store a message from %s", envelope.mail_from)
            return "451 4.3.0 Temporary failure storing the message; please try again later"
        return f"250 2.0.0 Accepted ({outcome})"


def smtp_server(*, host: str, port: int, workers: int = 4) -> Controller:
    """An SMTP server for the desk (start() it; stop() it). Messages up to four times the
    desk's size limit are taken (and quarantined when over it); larger ones are refused
    at the door (552), so their sender hears of it."""
    limit = mail_limits().max_message_bytes * 4
    handler: Any = DeskHandler(workers=workers)
    return Controller(
        handler,
        hostname=host,
        port=port,
        data_size_limit=limit,
        server_hostname="nextorder",
        ready_timeout=10,
    )


def parse_address(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{addr!r} is not HOST:PORT")
    return host, int(port)
