"""`nextorder fetchmail` against a real IMAP server: Debian's Dovecot, started for the test
session on free loopback ports (STARTTLS and IMAPS) with a self-signed certificate. Mail
is put in by IMAP APPEND; every test reads the mailbox of a user of its own."""

from __future__ import annotations

import imaplib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from nextorder.desk.mail import imap
from nextorder.desk.mail.imap import ImapAccount, imap_account_from_url, mailbox_fetch
from nextorder.desk.models import InboundMail, MailboxCursor, Message, Ticket
from tests.desk.mail_factory import customer_email
from tests.net import free_port

DOVECOT = shutil.which("dovecot", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
if DOVECOT is None:
    if os.environ.get("NEXTORDER_REQUIRE_IMAP"):
        raise RuntimeError("NEXTORDER_REQUIRE_IMAP is set but Dovecot is missing")
    pytest.skip(
        "Debian's Dovecot is not installed (apt-get install dovecot-imapd)",
        allow_module_level=True,
    )

pytestmark = pytest.mark.django_db

PASSWORD = "secret"


@dataclass(frozen=True)
class Dovecot:
    plain_port: int  # plain and STARTTLS
    imaps_port: int
    cafile: str


def _config(root: Path, *, plain_port: int, imaps_port: int) -> str:
    # Dovecot runs its log-in processes as an unprivileged user and refuses uid 0 for
    # mail; as root, Debian's dovecot and dovenull users serve, otherwise the caller.
    me = pwd.getpwuid(os.geteuid()).pw_name
    mail_user, login_user = ("dovecot", "dovenull") if os.geteuid() == 0 else (me, me)
    return f"""
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
log_path = {root}/dovecot.log
mail_location = maildir:{root}/mail/%u
first_valid_uid = 0
default_internal_user = {mail_user}
default_internal_group = {mail_user}
default_login_user = {login_user}
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain
auth_failure_delay = 0
passdb {{
  driver = static
  args = password={PASSWORD}
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={mail_user} home={root}/mail/%u
}}
# No growing delay after the wrong-password tests (auth waits once for it at start-up).
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  inet_listener imap {{
    port = {plain_port}
  }}
  inet_listener imaps {{
    port = {imaps_port}
    ssl = yes
  }}
}}
"""


@pytest.fixture(scope="session")
def dovecot():
    root = Path(tempfile.mkdtemp(prefix="nextorder-dovecot-"))
    root.chmod(0o755)  # the mail user reaches its maildir through it
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
            *("-keyout", str(root / "key.pem"), "-out", str(root / "cert.pem")),
        ],
        check=True,
        capture_output=True,
    )
    (root / "mail").mkdir()
    if os.geteuid() == 0:
        shutil.chown(root / "mail", "dovecot", "dovecot")
    server = Dovecot(plain_port=free_port(), imaps_port=free_port(), cafile=str(root / "cert.pem"))
    conf = root / "dovecot.conf"
    conf.write_text(_config(root, plain_port=server.plain_port, imaps_port=server.imaps_port))
    # In the foreground (-F), so that this process is the server and ends it.
    master = subprocess.Popen([DOVECOT, "-F", "-c", str(conf)], stderr=subprocess.PIPE)
    try:
        _wait_for(master, server.plain_port, server.imaps_port, log=root / "dovecot.log")
        yield server
    finally:
        master.terminate()
        master.communicate(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


def _wait_for(master: subprocess.Popen, *ports: int, log: Path) -> None:
    deadline = time.monotonic() + 10
    for port in ports:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if master.poll() is not None or time.monotonic() > deadline:
                    master.kill()
                    _out, err = master.communicate()
                    logged = log.read_text() if log.exists() else ""
                    raise RuntimeError(f"Dovecot did not listen: {err.decode()}{logged}") from None
                time.sleep(0.05)
    warm_up = imaplib.IMAP4("127.0.0.1", ports[0])  # a first log-in starts the auth process
    warm_up.login("warm-up", PASSWORD)
    warm_up.logout()


@pytest.fixture
def user(request) -> str:
    """A mailbox of the test's own (the static passdb takes any name)."""
    return re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")


def _client(server: Dovecot, user: str) -> imaplib.IMAP4:
    client = imaplib.IMAP4("127.0.0.1", server.plain_port)
    client.login(user, PASSWORD)
    return client


def append(server: Dovecot, user: str, *messages: bytes, folder: str = "INBOX") -> None:
    client = _client(server, user)
    try:
        for raw in messages:
            status, _data = client.append(folder, None, None, raw)
            assert status == "OK"
    finally:
        client.logout()


def folder_flags(server: Dovecot, user: str, folder: str) -> list[str]:
    """Each message's flags in the folder, in UID order; [] when it is empty or missing."""
    client = _client(server, user)
    try:
        status, _data = client.select(f'"{folder}"', readonly=True)
        if status != "OK":
            return []
        _status, data = client.uid("FETCH", "1:*", "(FLAGS)")
        return [re.search(rb"FLAGS \(([^)]*)\)", item).group(1).decode() for item in data if item]
    finally:
        client.logout()


def account(server: Dovecot, user: str, **fields) -> ImapAccount:
    return ImapAccount(
        host="127.0.0.1",
        port=server.imaps_port,
        username=user,
        password=PASSWORD,
        cafile=server.cafile,
        **fields,
    )


def three_customers() -> list[bytes]:
    return [
        customer_email(sender=f"{name} <{name}@example.com>", subject=f"Order of {name}")
        for name in ("ada", "bea", "cem")
    ]


def counts() -> tuple[int, int, int]:
    return Ticket.objects.count(), Message.objects.count(), InboundMail.objects.count()


# ---------------------------------------------------------------- taking mail


def test_new_mail_opens_tickets_and_is_moved_to_a_created_folder(dovecot, user):
    append(dovecot, user, *three_customers())
    mailbox = account(dovecot, user, processed_folder="Processed")

    report = mailbox_fetch(account=mailbox)

    assert (report.fetched, report.opened, report.moved) == (3, 3, 3)
    assert counts() == (3, 3, 3)
    assert set(Ticket.objects.values_list("subject", flat=True)) == {
        "Order of ada",
        "Order of bea",
        "Order of cem",
    }
    assert {i.source for i in InboundMail.objects.all()} == {InboundMail.Source.IMAP}
    assert folder_flags(dovecot, user, "INBOX") == []
    assert len(folder_flags(dovecot, user, "Processed")) == 3
    cursor = MailboxCursor.objects.get()
    assert (cursor.mailbox, cursor.last_uid) == (f"{user}@127.0.0.1:{dovecot.imaps_port}/INBOX", 3)

    again = mailbox_fetch(account=mailbox)
    assert (again.fetched, again.moved) == (0, 0)
    assert counts() == (3, 3, 3)


def test_without_a_processed_folder_taken_mail_stays_flagged(dovecot, user):
    append(dovecot, user, *three_customers())
    mailbox = account(dovecot, user)

    report = mailbox_fetch(account=mailbox)

    assert (report.fetched, report.opened, report.moved) == (3, 3, 3)
    flags = folder_flags(dovecot, user, "INBOX")
    assert len(flags) == 3
    assert all("\\Seen" in f and "$NextOrder" in f for f in flags)
    assert mailbox_fetch(account=mailbox).fetched == 0
    # Mail that arrives later is taken, and only that.
    append(dovecot, user, customer_email(sender="dan@example.com"))
    assert mailbox_fetch(account=mailbox).fetched == 1
    assert counts() == (4, 4, 4)


def test_the_same_message_twice_makes_one_ticket_message(dovecot, user):
    raw = customer_email(message_id="<twice@mail.example.com>")
    append(dovecot, user, raw, raw)

    report = mailbox_fetch(account=account(dovecot, user, processed_folder="Processed"))

    assert (report.fetched, report.opened, report.duplicates, report.moved) == (2, 1, 1, 2)
    assert counts() == (1, 1, 1)
    assert folder_flags(dovecot, user, "INBOX") == []


def test_limit_takes_the_oldest_first(dovecot, user):
    append(dovecot, user, *three_customers())
    mailbox = account(dovecot, user, processed_folder="Processed")

    assert mailbox_fetch(account=mailbox, limit=2).fetched == 2
    assert set(Ticket.objects.values_list("subject", flat=True)) == {"Order of ada", "Order of bea"}
    assert mailbox_fetch(account=mailbox, limit=2).fetched == 1
    assert counts() == (3, 3, 3)


def test_outcomes_are_counted_and_a_folder_name_is_encoded(dovecot, user):
    append(
        dovecot,
        user,
        customer_email(sender="ada@example.com", subject="Hello"),
        customer_email(
            sender="ada@example.com", subject="Away", headers={"Auto-Submitted": "auto-replied"}
        ),
        customer_email(sender="not an address", subject="Who?"),
    )
    progress: list[tuple[str, int, int]] = []

    report = mailbox_fetch(
        account=account(dovecot, user, processed_folder="Traités & done"),
        progress=lambda *step: progress.append(step),
    )

    assert (report.opened, report.auto_replies, report.quarantined) == (1, 1, 1)
    assert progress == [("fetch", 1, 3), ("fetch", 2, 3), ("fetch", 3, 3)]
    client = _client(dovecot, user)
    try:
        _status, listed = client.list('""', '"Trait&AOk-s &- done"')
    finally:
        client.logout()
    assert listed != [None]
    assert len(folder_flags(dovecot, user, "Trait&AOk-s &- done")) == 3


# ---------------------------------------------------------------- crashes


class Crash(Exception):
    pass


@pytest.mark.parametrize("processed_folder", ["Processed", None], ids=["move", "flag"])
def test_a_crash_before_the_commit_loses_nothing(dovecot, user, monkeypatch, processed_folder):
    append(dovecot, user, *three_customers())
    mailbox = account(dovecot, user, processed_folder=processed_folder)
    calls = []
    receive = imap.mail_receive

    def crashing_on_the_second(**kwargs):
        calls.append(kwargs)
        if len(calls) == 2:
            raise Crash
        return receive(**kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(imap, "mail_receive", crashing_on_the_second)
        with pytest.raises(Crash):
            mailbox_fetch(account=mailbox)
    assert counts() == (1, 1, 1)
    assert MailboxCursor.objects.get().last_uid == 1

    report = mailbox_fetch(account=mailbox)

    assert (report.fetched, report.opened, report.moved) == (2, 2, 2)
    assert counts() == (3, 3, 3)
    assert mailbox_fetch(account=mailbox).fetched == 0


@pytest.mark.parametrize("processed_folder", ["Processed", None], ids=["move", "flag"])
def test_a_crash_after_the_commit_moves_without_taking_again(
    dovecot, user, monkeypatch, processed_folder
):
    append(dovecot, user, *three_customers())
    mailbox = account(dovecot, user, processed_folder=processed_folder)

    def crash(*args, **kwargs):
        raise Crash

    with monkeypatch.context() as patch:
        patch.setattr(imap, "_put_away", crash)
        with pytest.raises(Crash):
            mailbox_fetch(account=mailbox)
    assert counts() == (1, 1, 1)
    assert len(folder_flags(dovecot, user, "INBOX")) == 3  # taken, but still there

    report = mailbox_fetch(account=mailbox)

    assert (report.fetched, report.opened, report.moved) == (2, 2, 3)
    assert counts() == (3, 3, 3)
    if processed_folder:
        assert folder_flags(dovecot, user, "INBOX") == []
        assert len(folder_flags(dovecot, user, "Processed")) == 3
    else:
        assert all("$NextOrder" in f for f in folder_flags(dovecot, user, "INBOX"))


@pytest.mark.parametrize(
    "missing", [{"MOVE"}, {"MOVE", "UIDPLUS"}], ids=["copy-uid-expunge", "copy-expunge"]
)
def test_a_server_without_move_copies_and_expunges(dovecot, user, monkeypatch, missing):
    append(dovecot, user, *three_customers())
    real = imap._capabilities
    monkeypatch.setattr(imap, "_capabilities", lambda client: real(client) - missing)

    report = mailbox_fetch(account=account(dovecot, user, processed_folder="Processed"))

    assert report.moved == 3
    assert folder_flags(dovecot, user, "INBOX") == []
    assert len(folder_flags(dovecot, user, "Processed")) == 3


def test_a_new_uidvalidity_starts_again_without_doubling(dovecot, user):
    client = _client(dovecot, user)
    client.create("Support")
    client.logout()
    mails = three_customers()
    append(dovecot, user, *mails[:2], folder="Support")
    mailbox = account(dovecot, user, folder="Support")
    assert mailbox_fetch(account=mailbox).fetched == 2
    before = MailboxCursor.objects.get()
    assert before.last_uid == 2
    # The folder is recreated: its UIDs start again at 1 and mean other messages.
    client = _client(dovecot, user)
    client.delete("Support")
    client.create("Support")
    client.logout()
    append(dovecot, user, mails[0], customer_email(sender="dan@example.com"), folder="Support")

    report = mailbox_fetch(account=mailbox)

    after = MailboxCursor.objects.get()
    assert after.uid_validity != before.uid_validity
    assert (report.fetched, report.duplicates, report.opened) == (2, 1, 1)
    assert after.last_uid == 2
    assert counts() == (3, 3, 3)


# ---------------------------------------------------------------- connections and the command


def url(server: Dovecot, user: str, *, scheme="imaps", port=None, query="", password=PASSWORD):
    port = port or server.imaps_port
    return f"{scheme}://{user}:{password}@127.0.0.1:{port}/INBOX?cafile={server.cafile}{query}"


def fetchmail(*args: str) -> str:
    out = StringIO()
    call_command("fetchmail", *args, stdout=out, stderr=StringIO(), verbosity=0)
    return out.getvalue()


@pytest.mark.parametrize("security", ["imaps", "starttls", "plain"])
def test_the_command_takes_mail_over_each_connection(dovecot, user, security):
    append(dovecot, user, *three_customers())
    address = {
        "imaps": url(dovecot, user, query="&move=Processed"),
        "starttls": url(
            dovecot,
            user,
            scheme="imap",
            port=dovecot.plain_port,
            query="&starttls=1&move=Processed",
        ),
        "plain": url(
            dovecot, user, scheme="imap", port=dovecot.plain_port, query="&plain=1&move=Processed"
        ),
    }[security]

    output = fetchmail(address)

    assert "3 fetched (3 opened a ticket" in output and "3 moved to Processed" in output
    assert counts() == (3, 3, 3)


def test_the_mailbox_and_password_come_from_the_settings(dovecot, user):
    append(dovecot, user, customer_email())
    address = url(dovecot, user).replace(f":{PASSWORD}@", "@")
    with override_settings(NEXTORDER_IMAP_URL=address, NEXTORDER_IMAP_PASSWORD=PASSWORD):
        output = fetchmail()
    assert "1 fetched" in output and "1 flagged" in output


def test_an_unknown_certificate_is_refused_in_words(dovecot, user):
    address = url(dovecot, user).split("?")[0]
    with pytest.raises(CommandError, match=r"TLS with 127\.0\.0\.1:\d+ failed: .*cafile"):
        fetchmail(address)


def test_a_wrong_password_is_refused_in_words(dovecot, user):
    with pytest.raises(
        CommandError, match=r"refused the login of .*Authentication failed"
    ) as error:
        fetchmail(url(dovecot, user, password="not-the-password"))
    assert "not-the-password" not in str(error.value)


def test_a_missing_folder_is_said(dovecot, user):
    with pytest.raises(CommandError, match="cannot open the folder 'Nowhere'"):
        fetchmail(url(dovecot, user).replace("/INBOX?", "/Nowhere?"))


def test_a_server_that_is_not_there_is_said():
    port = free_port()
    with pytest.raises(CommandError, match=f"cannot talk IMAP with 127.0.0.1:{port}"):
        fetchmail(f"imap://u:p@127.0.0.1:{port}/INBOX?plain=1")


def test_watch_polls_until_stopped_and_outlives_a_refusal(dovecot, user, monkeypatch):
    append(dovecot, user, customer_email())
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        if len(sleeps) == 2:
            raise KeyboardInterrupt

    command = "nextorder.desk.management.commands.fetchmail"
    monkeypatch.setattr(f"{command}.time.sleep", sleep)
    # As Django's test client does: the test's connection must outlive the poll.
    monkeypatch.setattr(f"{command}.close_old_connections", lambda: None)
    out, err = StringIO(), StringIO()
    call_command("fetchmail", url(dovecot, user), "--watch", "30", stdout=out, stderr=err)
    assert sleeps == [30, 30]
    assert out.getvalue().count("1 fetched") == 1  # the idle second poll writes nothing
    assert counts() == (1, 1, 1)

    sleeps.clear()
    err = StringIO()
    call_command(
        "fetchmail",
        url(dovecot, user, password="wrong"),
        "--watch",
        "5",
        stdout=StringIO(),
        stderr=err,
    )
    assert err.getvalue().count("refused the login") == 2


# ---------------------------------------------------------------- URLs


def test_a_url_names_every_part():
    mailbox = imap_account_from_url(
        "imaps://help%40shop.example:p%2Fw@Mail.Example.com/Support%20Desk?move=Done&cafile=/c.pem"
    )
    assert mailbox == ImapAccount(
        host="mail.example.com",
        port=993,
        username="help@shop.example",
        password="p/w",
        folder="Support Desk",
        security="ssl",
        processed_folder="Done",
        cafile="/c.pem",
    )
    assert "p/w" not in repr(mailbox)
    starttls = imap_account_from_url("imap://u@mail.example.com?starttls=1", password="from-env")
    assert (starttls.port, starttls.security, starttls.folder, starttls.password) == (
        143,
        "starttls",
        "INBOX",
        "from-env",
    )


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("pop3://u:pw@host/INBOX", "starts with imaps:// or imap://"),
        ("imap://u:pw@mail.example.com/INBOX", "needs ?starttls=1"),
        ("imap://u:pw@mail.example.com/INBOX?plain=1", "for this machine only"),
        ("imaps://u:pw@host/INBOX?starttls=1", "TLS from the start"),
        ("imaps://pw@host/INBOX?mvoe=Done", "unknown parameter mvoe"),
        ("imaps://host/INBOX", "needs a user and a host"),
        ("imaps://u@host/INBOX", "no password"),
        ("imaps://u:pw@host:99999/INBOX", "out of range"),
        ("imaps://u:pw@host/INBOX?move=INBOX", "must not be the folder read"),
    ],
)
def test_a_bad_url_is_refused_in_words(address, reason):
    with pytest.raises(CommandError, match=f"bad IMAP URL: .*{re.escape(reason)}") as error:
        fetchmail(address)
    assert "pw" not in str(error.value)
