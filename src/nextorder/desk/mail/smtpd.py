"""The desk's SMTP receiver: a mail server relays customers' mail into it.

A message is answered "250" only once `mail_receive` has committed it (a ticket
message, a bounce record, an ignored auto-reply or a quarantined row); a database that
is down gets "451" so the relaying server keeps the message and tries again. Nothing
accepted is ever lost. The protocol runs on asyncio; the database work runs on a few
threads, each with its own connection, each committing whatever messages are waiting
(group commit, see `DeskHandler`). `smtp_serve` runs that in several processes that
share one listening socket: one process is held to one core by Python's GIL.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import queue
import signal
import socket
import threading
from dataclasses import dataclass
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from django.db import close_old_connections, connection, connections

from nextorder.desk.mail.inbound import mail_limits, mail_receive_many
from nextorder.desk.mail.parse import Letter, read_letter
from nextorder.desk.models import InboundMail

log = logging.getLogger(__name__)


# The most messages committed together; with eight busy connections a batch holds eight.
MOST_IN_ONE_COMMIT = 64


class DeskHandler:
    """Group commit: messages that arrive while a commit is under way wait for the next
    one together, so eight busy connections cost one transaction, not eight, and each
    still hears "250" only once its message is committed."""

    def __init__(self, *, workers: int) -> None:
        self.waiting: queue.SimpleQueue[_Waiting | None] = queue.SimpleQueue()
        self.committers = [
            threading.Thread(target=self._commit_until_closed, name=f"smtpd-db-{n}", daemon=True)
            for n in range(workers)
        ]
        for committer in self.committers:
            committer.start()

    def close(self) -> None:
        """Let the committers finish what waits, then end them and their connections."""
        for _committer in self.committers:
            self.waiting.put(None)
        for committer in self.committers:
            committer.join(timeout=30)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        # A str only with decode_data, which the controller leaves off.
        raw = content.encode("utf-8", "surrogateescape") if isinstance(content, str) else content
        loop = asyncio.get_running_loop()
        stored = loop.create_future()
        self.waiting.put(_Waiting(raw=raw, stored=stored, loop=loop))
        try:
            outcome = await stored
        except Exception:
            log.exception("could not store a message from %s", envelope.mail_from)
            return "451 4.3.0 Temporary failure storing the message; please try again later"
        return f"250 2.0.0 Accepted ({outcome})"

    def _commit_until_closed(self) -> None:
        while (first := self.waiting.get()) is not None:
            batch = [first]
            while len(batch) < MOST_IN_ONE_COMMIT:
                try:
                    waiting = self.waiting.get_nowait()
                except queue.Empty:
                    break
                if waiting is None:  # closing: the next committer's turn to see it
                    self.waiting.put(None)
                    break
                batch.append(waiting)
            close_old_connections()
            limits = mail_limits()
            letters = [read_letter(w.raw, limits=limits) for w in batch]
            try:
                results: list[str | Exception] = list(_receive(letters))
            except Exception:
                # One message that breaks the batch must not take the others with it.
                results = [_receive_or_error(letter) for letter in letters]
            for waiting, result in zip(batch, results, strict=True):
                waiting.loop.call_soon_threadsafe(_settle, waiting.stored, result)
        connection.close()


@dataclass(frozen=True)
class _Waiting:
    raw: bytes
    stored: asyncio.Future[str]
    loop: asyncio.AbstractEventLoop


def _receive(letters: list[Letter]) -> list[str]:
    outcomes = mail_receive_many(letters=letters, source=InboundMail.Source.SMTP)
    return [outcome.outcome for outcome in outcomes]


def _receive_or_error(letter: Letter) -> str | Exception:
    close_old_connections()
    try:
        return _receive([letter])[0]
    except Exception as error:
        return error


def _settle(stored: asyncio.Future[str], result: str | Exception) -> None:
    if stored.done():  # the client went away meanwhile
        return
    if isinstance(result, Exception):
        stored.set_exception(result)
    else:
        stored.set_result(result)


def _smtp_options() -> dict[str, Any]:
    """Messages up to four times the desk's size limit are taken (and quarantined when
    over it); larger ones are refused at the door (552), so their sender hears of it."""
    return {
        "data_size_limit": mail_limits().max_message_bytes * 4,
        "hostname": "nextorder",
    }


def smtp_server(*, host: str, port: int, workers: int = 1) -> Controller:
    """An SMTP server for the desk on a thread of this process (start() it; stop() it):
    for the demo and the tests, beside other work."""
    handler: Any = DeskHandler(workers=workers)
    options = _smtp_options()
    return _DeskController(
        handler,
        hostname=host,
        port=port,
        data_size_limit=options["data_size_limit"],
        server_hostname=options["hostname"],
        ready_timeout=10,
    )


class _DeskController(Controller):
    def stop(self, no_assert: bool = False) -> None:
        super().stop(no_assert=no_assert)
        self.handler.close()


def smtp_serve(
    *, listener: socket.socket, processes: int, workers: int, stop: threading.Event
) -> None:
    """Serve on `listener` until `stop` is set, in `processes` forked processes that
    accept from the one socket (the kernel hands each connection to one of them).

    A process that dies takes no accepted message with it: a message is answered 250
    only once committed, so a connection cut before that is retried by its sender.
    """
    if processes == 1:
        _serve_until(listener=listener, workers=workers, stop=stop)
        return
    connections.close_all()  # a forked child must not share this process's connection
    fork = multiprocessing.get_context("fork")
    children = [
        fork.Process(target=_serve_child, args=(listener, workers), name=f"smtpd-{n}")
        for n in range(processes)
    ]
    for child in children:
        child.start()
    try:
        while not stop.wait(1.0):
            if dead := [child for child in children if not child.is_alive()]:
                log.error("smtpd process %s ended (exit code %s)", dead[0].pid, dead[0].exitcode)
                break
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.join(timeout=30)


def stop_on_signals() -> threading.Event:
    """An event that SIGTERM or Ctrl-C (SIGINT) sets, for `smtp_serve` and its children."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    return stop


def _serve_child(listener: socket.socket, workers: int) -> None:
    _serve_until(listener=listener, workers=workers, stop=stop_on_signals())


def _serve_until(*, listener: socket.socket, workers: int, stop: threading.Event) -> None:
    handler = DeskHandler(workers=workers)
    loop = asyncio.new_event_loop()
    options = _smtp_options()
    server = loop.run_until_complete(
        loop.create_server(lambda: SMTP(handler, loop=loop, **options), sock=listener)
    )
    watcher = threading.Thread(target=lambda: (stop.wait(), loop.call_soon_threadsafe(loop.stop)))
    watcher.start()
    try:
        loop.run_forever()
    finally:
        stop.set()
        watcher.join()
        server.close()
        loop.run_until_complete(server.wait_closed())
        loop.close()
        handler.close()


def parse_address(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{addr!r} is not HOST:PORT")
    return host, int(port)
