"""Email in from an IMAP mailbox (`nextorder fetchmail`), with the standard library's imaplib.

Crash safety rests on the order of three steps for each message: fetch it; commit what
`mail_receive` made of it together with the mailbox cursor (its UID) in one transaction;
then move it to the processed folder, or flag it. A crash before the commit leaves
nothing behind, so the message is fetched again. A crash after it leaves a message at or
below the cursor in the folder, which the next run only moves or flags. Nothing is lost
and nothing is taken twice.
"""

from __future__ import annotations

import base64
import imaplib
import ipaddress
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from django.db import transaction
from django.utils import timezone

from nextorder.core.bulk import PhaseProgress, no_phase_progress
from nextorder.desk.mail.inbound import MailOutcome, files_kept_only_if_committed, mail_receive
from nextorder.desk.models import InboundMail, MailboxCursor

Security = Literal["ssl", "starttls", "plain"]
# Marks a message taken when it stays in its folder: \Seen alone is also set by people.
KEYWORD = "$NextOrder"
TIMEOUT_SECONDS = 60
_UIDS_PER_COMMAND = 500


class ImapError(Exception):
    """The server could not be reached or refused something: said in words for the CLI."""


@dataclass(frozen=True)
class ImapAccount:
    """One folder to read. With `processed_folder` taken messages are moved there;
    without, they stay, flagged \\Seen and $NextOrder. `plain` (no TLS at all) is for a
    server on this machine only, so a password never crosses a network in clear;
    `cafile` trusts a self-signed server certificate."""

    host: str
    username: str
    password: str = field(repr=False)
    port: int = 993
    folder: str = "INBOX"
    security: Security = "ssl"
    processed_folder: str | None = None
    cafile: str | None = None

    def __post_init__(self) -> None:
        if self.security not in ("ssl", "starttls", "plain"):
            raise ValueError(f"unknown security {self.security!r}: ssl, starttls or plain")
        if self.security == "plain" and not _is_loopback(self.host):
            raise ValueError(f"plain IMAP (no TLS) is for this machine only, not {self.host}")
        if self.processed_folder == self.folder:
            raise ValueError("the processed folder must not be the folder read")

    @property
    def mailbox(self) -> str:
        """The key of this folder's cursor."""
        return f"{self.username}@{self.host}:{self.port}/{self.folder}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_URL_FLAGS = {"starttls", "plain"}
_URL_PARAMETERS = {"move", "cafile", *_URL_FLAGS}


def imap_account_from_url(url: str, *, password: str = "") -> ImapAccount:
    """`imaps://user:pass@host:993/INBOX?move=Processed`, or `imap://…?starttls=1`.

    `password` stands in when the URL has none, so that it can be kept out of a command
    line. Errors never repeat the URL, which may hold the password.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("imap", "imaps"):
        raise ValueError("an IMAP URL starts with imaps:// or imap://")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    if unknown := sorted(set(query) - _URL_PARAMETERS):
        raise ValueError(
            f"unknown parameter {', '.join(unknown)} (known: {', '.join(sorted(_URL_PARAMETERS))})"
        )
    flags = {name for name in _URL_FLAGS if query.get(name, "0").lower() in {"1", "yes", "true"}}
    security: Security
    if scheme == "imaps":
        if flags:
            raise ValueError("imaps:// is TLS from the start: starttls and plain are for imap://")
        security = "ssl"
    elif flags == {"starttls"}:
        security = "starttls"
    elif flags == {"plain"}:
        security = "plain"
    else:
        raise ValueError(
            "imap:// needs ?starttls=1 (or ?plain=1 for a server on this machine); "
            "imaps:// is TLS from the start"
        )
    port = parts.port  # a ValueError for a port that is not one
    if not parts.hostname or not parts.username:
        raise ValueError("the URL needs a user and a host: imaps://user@host/INBOX")
    password = unquote(parts.password) if parts.password is not None else password
    if not password:
        raise ValueError("no password: in the URL or in NEXTORDER_IMAP_PASSWORD")
    return ImapAccount(
        host=parts.hostname,
        port=port or (993 if scheme == "imaps" else 143),
        username=unquote(parts.username),
        password=password,
        folder=unquote(parts.path.lstrip("/")) or "INBOX",
        security=security,
        processed_folder=query.get("move") or None,
        cafile=query.get("cafile") or None,
    )


@dataclass
class FetchReport:
    """What one run took, by what became of each message; `moved` counts messages moved
    to the processed folder, or flagged where they are."""

    fetched: int = 0
    opened: int = 0
    added: int = 0
    duplicates: int = 0
    auto_replies: int = 0
    bounces: int = 0
    quarantined: int = 0
    moved: int = 0

    def count(self, outcome: str) -> None:
        self.fetched += 1
        name = _REPORT_FIELD[outcome]
        setattr(self, name, getattr(self, name) + 1)


_REPORT_FIELD = {
    InboundMail.Outcome.OPENED: "opened",
    InboundMail.Outcome.ADDED: "added",
    MailOutcome.DUPLICATE: "duplicates",
    InboundMail.Outcome.AUTO_REPLY: "auto_replies",
    InboundMail.Outcome.BOUNCE: "bounces",
    InboundMail.Outcome.QUARANTINED: "quarantined",
}


def mailbox_fetch(
    *, account: ImapAccount, limit: int | None = None, progress: PhaseProgress = no_phase_progress
) -> FetchReport:
    """Take the folder's new messages into the desk, at most `limit`, oldest first.

    First what a crashed run left: messages at or below the cursor still in the folder
    (not yet flagged, when flagging) were committed and are only moved or flagged now.
    """
    report = FetchReport()
    with _session(account) as imap:
        capabilities = _capabilities(imap)
        if account.processed_folder is not None:
            _ensure_folder(imap, account.processed_folder)
        cursor = _cursor(account=account, uid_validity=_select(imap, account.folder))
        not_flagged = f" NOT KEYWORD {KEYWORD}" if account.processed_folder is None else ""
        if cursor.last_uid:
            left = _uids(imap, f"UID 1:{cursor.last_uid}{not_flagged}")
            _put_away(imap, account=account, uids=left, capabilities=capabilities)
            report.moved += len(left)
        # "UID n:*" also answers the highest UID when it is below n.
        found = _uids(imap, f"UID {cursor.last_uid + 1}:*{not_flagged}")
        new = [uid for uid in found if uid > cursor.last_uid][:limit]
        for done, uid in enumerate(new, start=1):
            raw = _fetch(imap, uid)
            if raw is not None:  # None: expunged meanwhile by someone else
                with files_kept_only_if_committed(), transaction.atomic():
                    outcome = mail_receive(raw=raw, source=InboundMail.Source.IMAP)
                    MailboxCursor.objects.filter(
                        pk=cursor.pk, uid_validity=cursor.uid_validity, last_uid__lt=uid
                    ).update(last_uid=uid, updated_at=timezone.now())
                report.count(outcome.outcome)
                _put_away(imap, account=account, uids=[uid], capabilities=capabilities)
                report.moved += 1
            progress("fetch", done, len(new))
    return report


def _cursor(*, account: ImapAccount, uid_validity: int) -> MailboxCursor:
    """The folder's cursor. A new UIDVALIDITY means the old UIDs now name other messages
    (the folder was recreated or rebuilt), so reading starts again at UID 1: the messages
    taken before come again and are recognised by their Message-ID as duplicates, so the
    reset costs a second read, never a second ticket message."""
    cursor, _created = MailboxCursor.objects.get_or_create(
        mailbox=account.mailbox, defaults={"uid_validity": uid_validity}
    )
    if cursor.uid_validity != uid_validity:
        cursor.uid_validity, cursor.last_uid = uid_validity, 0
        cursor.save(update_fields=["uid_validity", "last_uid", "updated_at"])
    return cursor


# ---------------------------------------------------------------- the IMAP conversation


def _text(value: Any) -> str:
    """imaplib's errors and responses carry bytes."""
    if isinstance(value, BaseException) and value.args:
        value = value.args[0]
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _call(what: str, command: Callable[..., tuple[str, list[Any]]], *args: str) -> list[Any]:
    """One IMAP command; a refusal or a broken connection becomes an ImapError."""
    try:
        status, data = command(*args)
    except (imaplib.IMAP4.error, OSError) as exc:
        raise ImapError(f"{what}: {_text(exc)}") from exc
    if status != "OK":
        raise ImapError(f"{what}: {_text(data[-1]) if data else status}")
    return data


@contextmanager
def _session(account: ImapAccount) -> Iterator[imaplib.IMAP4]:
    where = f"{account.host}:{account.port}"
    try:
        context = ssl.create_default_context(cafile=account.cafile)
    except OSError as exc:
        raise ImapError(f"cannot read the certificate file {account.cafile}: {exc}") from exc
    imap: imaplib.IMAP4 | None = None
    try:
        if account.security == "ssl":
            imap = imaplib.IMAP4_SSL(
                account.host, account.port, ssl_context=context, timeout=TIMEOUT_SECONDS
            )
        else:
            imap = imaplib.IMAP4(account.host, account.port, timeout=TIMEOUT_SECONDS)
            if account.security == "starttls":
                imap.starttls(context)
    except ssl.SSLCertVerificationError as exc:
        _close(imap)
        raise ImapError(
            f"TLS with {where} failed: {exc.verify_message}; a self-signed certificate "
            "needs its file: ?cafile=/path/to/cert.pem"
        ) from exc
    except ssl.SSLError as exc:
        _close(imap)
        raise ImapError(f"TLS with {where} failed: {exc.reason or exc}") from exc
    except (OSError, imaplib.IMAP4.error) as exc:
        _close(imap)
        raise ImapError(f"cannot talk IMAP with {where}: {_text(exc)}") from exc
    try:
        _call(
            f"{where} refused the login of {account.username}",
            imap.login,
            account.username,
            account.password,
        )
        yield imap
    finally:
        _close(imap)


def _close(imap: imaplib.IMAP4 | None) -> None:
    if imap is not None:
        with suppress(imaplib.IMAP4.error, OSError):
            imap.logout()


def _capabilities(imap: imaplib.IMAP4) -> frozenset[str]:
    """Asked again after the login: servers announce MOVE and UIDPLUS only then."""
    data = _call("CAPABILITY", imap.capability)
    return frozenset(b" ".join(d for d in data if d).decode().upper().split())


def _mailbox_name(name: str) -> str:
    """A folder name as IMAP writes it: modified UTF-7 (RFC 3501 5.1.3), quoted."""
    encoded: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            utf16 = base64.b64encode("".join(pending).encode("utf-16-be")).decode()
            encoded.append("&" + utf16.rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if " " <= char <= "~":
            flush()
            encoded.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return '"' + "".join(encoded).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _select(imap: imaplib.IMAP4, folder: str) -> int:
    """Open the folder; its UIDVALIDITY."""
    _call(f"cannot open the folder {folder!r}", imap.select, _mailbox_name(folder))
    _name, values = imap.response("UIDVALIDITY")
    if not values or values[0] is None:
        raise ImapError(f"the server gave no UIDVALIDITY for {folder!r}")
    return int(values[0])


def _ensure_folder(imap: imaplib.IMAP4, folder: str) -> None:
    """Create the processed folder if missing, subscribed so that mail clients show it."""
    name = _mailbox_name(folder)
    if not any(_call(f"cannot list the folder {folder!r}", imap.list, '""', name)):
        _call(f"cannot create the folder {folder!r}", imap.create, name)
        _call(f"cannot subscribe to the folder {folder!r}", imap.subscribe, name)


def _uids(imap: imaplib.IMAP4, criteria: str) -> list[int]:
    data = _call(f"UID SEARCH {criteria}", imap.uid, "SEARCH", criteria)
    return sorted(int(uid) for uid in b" ".join(d for d in data if d).split())


def _fetch(imap: imaplib.IMAP4, uid: int) -> bytes | None:
    """The message's bytes, without setting \\Seen (that is for once it is taken)."""
    for item in _call(f"UID FETCH {uid}", imap.uid, "FETCH", str(uid), "(BODY.PEEK[])"):
        if isinstance(item, tuple) and b"BODY[]" in item[0]:
            body: bytes = item[1]
            return body
    return None


def _put_away(
    imap: imaplib.IMAP4, *, account: ImapAccount, uids: list[int], capabilities: frozenset[str]
) -> None:
    """Move taken messages to the processed folder, or flag them where they are.

    Without MOVE a crash between COPY and EXPUNGE leaves a message in both folders; the
    next run copies it again (two copies in the processed folder, one in the desk).
    Without UIDPLUS the EXPUNGE also removes what others marked deleted in the folder.
    """
    for start in range(0, len(uids), _UIDS_PER_COMMAND):
        uid_set = ",".join(str(uid) for uid in uids[start : start + _UIDS_PER_COMMAND])
        if account.processed_folder is None:
            flags = f"(\\Seen {KEYWORD})"
            _call("cannot flag", imap.uid, "STORE", uid_set, "+FLAGS.SILENT", flags)
            continue
        target = _mailbox_name(account.processed_folder)
        where = f"cannot move to {account.processed_folder!r}"
        if "MOVE" in capabilities:
            _call(where, imap.uid, "MOVE", uid_set, target)
            continue
        _call(where, imap.uid, "COPY", uid_set, target)
        _call(where, imap.uid, "STORE", uid_set, "+FLAGS.SILENT", "(\\Deleted)")
        if "UIDPLUS" in capabilities:
            _call(where, imap.uid, "EXPUNGE", uid_set)
        else:
            _call(where, imap.expunge)
