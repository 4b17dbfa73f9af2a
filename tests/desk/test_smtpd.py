"""Real SMTP into the desk's receiver on loopback: "250" only once the message is
committed, duplicates and concurrent senders handled, "451" when it cannot be stored."""

from __future__ import annotations

import multiprocessing
import smtplib
import socket
import threading
from types import SimpleNamespace

import pytest
from django.core.management import CommandError, call_command

from nextorder.desk.mail import smtpd
from nextorder.desk.mail.smtpd import smtp_server
from nextorder.desk.models import InboundMail, Message, Ticket
from tests.desk.mail_factory import customer_email
from tests.net import free_port

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def receiver():
    server = smtp_server(host="127.0.0.1", port=free_port(), workers=2)
    server.start()
    yield server
    server.stop()


def _send(server, raw: bytes, sender: str = "ada@example.com") -> tuple[int, bytes]:
    with smtplib.SMTP(server.hostname, server.port, timeout=10) as client:
        client.ehlo()
        client.mail(sender)
        client.rcpt("support@nextorder.localhost")
        return client.data(raw)


def test_a_message_is_a_ticket_when_the_server_says_250(receiver):
    code, reply = _send(receiver, customer_email(subject="Broken lid"))
    assert code == 250 and b"opened" in reply
    ticket = Ticket.objects.get()  # committed before the answer
    assert ticket.subject == "Broken lid" and ticket.channel == Ticket.Channel.EMAIL


def test_the_same_message_twice_and_eight_senders_at_once(receiver):
    raw = customer_email(message_id="<once@mail.example.com>")
    assert _send(receiver, raw)[0] == 250
    assert _send(receiver, raw)[1].endswith(b"(duplicate)")
    results: list[int] = []

    def send(number: int) -> None:
        mail = customer_email(sender=f"buyer{number}@shop{number}.example", subject=f"n{number}")
        results.append(_send(receiver, mail, sender=f"buyer{number}@shop{number}.example")[0])

    threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [250] * 8
    assert Ticket.objects.count() == 9 and Message.objects.count() == 9
    assert InboundMail.objects.count() == 9


def test_a_message_that_cannot_be_stored_is_refused_for_now(receiver, monkeypatch):
    def broken(**_):
        raise ConnectionError("database unreachable")

    monkeypatch.setattr(smtpd, "mail_receive_many", broken)
    code, reply = _send(receiver, customer_email())
    assert code == 451 and b"try again later" in reply
    assert Ticket.objects.count() == 0


def test_a_message_that_breaks_its_batch_is_refused_alone(receiver, monkeypatch):
    """Group commit: the messages that waited together are stored one by one when their
    batch fails, so only the one at fault hears "451"."""
    receive_many = smtpd.mail_receive_many

    def fragile(*, letters, **options):
        if any(b"POISON" in letter.raw for letter in letters):
            raise RuntimeError("a bug this message sets off")
        return receive_many(letters=letters, **options)

    monkeypatch.setattr(smtpd, "mail_receive_many", fragile)
    codes: dict[int, int] = {}

    def send(number: int) -> None:
        text = "POISON" if number == 3 else "Where is it?"
        mail = customer_email(sender=f"b{number}@shop.example", subject=f"n{number}", text=text)
        codes[number] = _send(receiver, mail, sender=f"b{number}@shop.example")[0]

    threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes == {n: 451 if n == 3 else 250 for n in range(8)}
    assert sorted(Ticket.objects.values_list("subject", flat=True)) == [
        f"n{n}" for n in range(8) if n != 3
    ]


def test_processes_share_the_port_and_stop_together():
    """`nextorder smtpd` on PostgreSQL runs a process per core on one listening socket:
    every message from concurrent connections is stored, whichever process took it, and
    stopping the server ends every process."""
    listener = socket.create_server(("127.0.0.1", free_port()))
    stop = threading.Event()
    server = threading.Thread(
        target=smtpd.smtp_serve,
        kwargs={"listener": listener, "processes": 2, "workers": 1, "stop": stop},
    )
    server.start()
    address = SimpleNamespace(hostname="127.0.0.1", port=listener.getsockname()[1])
    codes: list[int] = []

    def send(number: int) -> None:
        mail = customer_email(sender=f"b{number}@shop{number}.example", subject=f"n{number}")
        codes.append(_send(address, mail, sender=f"b{number}@shop{number}.example")[0])

    try:
        senders = [threading.Thread(target=send, args=(n,)) for n in range(12)]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
        assert len(multiprocessing.active_children()) == 2
    finally:
        stop.set()
        server.join(timeout=60)
        listener.close()
    assert codes == [250] * 12
    assert sorted(Ticket.objects.values_list("subject", flat=True)) == sorted(
        f"n{n}" for n in range(12)
    )
    assert not server.is_alive() and multiprocessing.active_children() == []


def test_the_command_refuses_what_it_cannot_serve():
    taken = socket.create_server(("127.0.0.1", free_port()))
    try:
        with pytest.raises(CommandError, match="cannot listen on"):
            call_command("smtpd", addr=f"127.0.0.1:{taken.getsockname()[1]}")
    finally:
        taken.close()
    with pytest.raises(CommandError, match="at least 1"):
        call_command("smtpd", addr=f"127.0.0.1:{free_port()}", processes=0)
    with pytest.raises(CommandError, match="HOST:PORT"):
        call_command("smtpd", addr="nowhere")
