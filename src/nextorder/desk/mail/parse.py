"""Raw RFC 5322 bytes in, a typed `ParsedMail` out: the desk's one reading of inbound email.

Mail comes from anyone, so this module trusts nothing in it and never raises anything but
`MailRejected`. Every message ends as exactly one of three outcomes:

- a `ParsedMail` of kind MESSAGE, AUTO_REPLY or BOUNCE (the caller decides what to store),
- `MailRejected(reason)`: the desk quarantines it, and the reason says why in words.

What rejects (and nothing else does):
- empty input, or input without a single header field (it is not an email message);
- the message, its header block, an attachment, the number of attachments, the number of
  MIME parts or the MIME nesting depth over its `MailLimits`;
- the standard library's parser failing outright (a last resort, never expected).

What does not reject: a missing or unreadable From (from_address is ""), a missing
Message-ID or Date, unknown or wrong charsets (decoded with a fallback), broken MIME
(whatever text can be found is kept), an over-long body (cut, with a marker line).

Kinds: a bounce is checked before an auto-reply (see `_kind`). `List-Id` or
`List-Unsubscribe` alone does NOT make an auto-reply: a support address run through
Google Groups or a list manager has them stamped on every customer's message.

Pure Python, no Django: tested and fuzzed on its own.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import email
import email.policy
import email.utils
import functools
import mimetypes
import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.message import Message
from enum import StrEnum
from html.parser import HTMLParser
from typing import Any

import nh3
from email_reply_parser import EmailMessage as _ReplyMessage
from tnefparse.tnef import TNEF

# The longest message text the desk keeps, from any channel: far above any real email or
# reply, low enough that one request cannot fill the database (the services refuse more).
MAX_BODY_CHARS = 200_000
MAX_SUBJECT_CHARS = 250
MAX_NAME_CHARS = 250
MAX_FILENAME_CHARS = 255
TRUNCATED_MARKER = "\n\n[NextOrder: the message was cut here at {limit:,} characters]"


@dataclass(frozen=True)
class ParsedAttachment:
    """One attachment or inline image, with a filename that is safe to show and to store."""

    filename: str
    content_type: str
    content: bytes
    content_id: str = ""
    inline: bool = False


class Kind(StrEnum):
    """What the desk does with a message: open/continue a ticket, or not answer it."""

    MESSAGE = "message"
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"


@dataclass(frozen=True)
class ParsedMail:
    """Everything the desk reads from one inbound message, already decoded and cleaned."""

    kind: Kind
    message_id: str = ""
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    from_address: str = ""
    from_name: str = ""
    to_addresses: list[str] = field(default_factory=list)
    subject: str = ""
    sent_at: datetime | None = None
    body_text: str = ""
    body_html: str = ""
    attachments: list[ParsedAttachment] = field(default_factory=list)
    bounced_message_id: str = ""
    bounce_recipient: str = ""


class MailRejected(Exception):
    """A message the desk must quarantine; `reason` says why, for the person who looks."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class MailLimits:
    """Bounds on what one message may cost to read and store."""

    max_message_bytes: int = 25 * 1024 * 1024
    max_attachment_bytes: int = 10 * 1024 * 1024
    max_attachments: int = 50
    max_header_bytes: int = 256 * 1024
    max_parts: int = 200
    max_depth: int = 20


class _RepeatingHeadersPolicy(email.policy.EmailPolicy):
    """`policy.default`, but a header value it has read once is not read again.

    The standard policy parses a structured field (Content-Type, Content-Disposition,
    Content-Transfer-Encoding) afresh on every access, and that was three quarters of
    the parse time; the same few values come in message after message. Short values only
    are kept, so a hostile header cannot fill the memory.
    """

    def header_fetch_parse(self, name: str, value: str) -> Any:
        if hasattr(value, "name") or len(value) > _CACHED_HEADER_CHARS:
            return super().header_fetch_parse(name, value)
        return _header_read(name, value)


_CACHED_HEADER_CHARS = 500


@functools.lru_cache(maxsize=4096)
def _header_read(name: str, value: str) -> Any:
    return email.policy.default.header_fetch_parse(name, value)


_POLICY = _RepeatingHeadersPolicy()


def parse_mail(raw: bytes, *, limits: MailLimits = MailLimits()) -> ParsedMail:
    """Read one inbound message; the caller decides by `kind` what to store.

    Raises MailRejected(reason) when the message breaks a limit or cannot be read at all,
    and never anything else, whatever the bytes. It rejects: empty input; input with no
    header field; a message, header block, attachment, attachment count, MIME part count
    or nesting depth over `limits`; a failure of the standard parser itself. A missing
    From, Message-ID or Date, a bad charset or broken MIME are read as well as they can be.
    """
    try:
        return _parse(bytes(raw), limits)
    except MailRejected:
        raise
    except Exception as exc:  # the last guard: a bug or a parser failure must not escape
        raise MailRejected(f"message cannot be read ({type(exc).__name__})") from exc


@dataclass(frozen=True)
class Letter:
    """One raw message and what reading it gave: the parsed mail, or why it is refused.

    Reading is the costly, database-free half of receiving, so a mailbox import does it
    in worker processes (`read_letter` is what they run).
    """

    raw: bytes
    parsed: ParsedMail | None
    rejected: str = ""


def read_letter(raw: bytes, *, limits: MailLimits) -> Letter:
    try:
        return Letter(raw=raw, parsed=parse_mail(raw, limits=limits))
    except MailRejected as rejected:
        return Letter(raw=raw, parsed=None, rejected=rejected.reason)


# ---------------------------------------------------------------- the whole message


def _parse(raw: bytes, limits: MailLimits) -> ParsedMail:
    if not raw.strip():
        raise MailRejected("message is empty")
    if len(raw) > limits.max_message_bytes:
        raise MailRejected(_too_big("message", len(raw), limits.max_message_bytes))
    header_bytes = _header_block_size(raw)
    if header_bytes > limits.max_header_bytes:
        raise MailRejected(_too_big("header block", header_bytes, limits.max_header_bytes))
    msg = email.message_from_bytes(raw, policy=_POLICY)
    if not msg.keys():
        raise MailRejected("no header fields: this is not an email message")
    _check_shape(msg, limits)

    found = _walk(msg, limits)
    from_name, from_address = _first_address(_header(msg, "From"))
    kind = _kind(msg, from_address=from_address, has_dsn=bool(found.dsn_parts))
    body_text = found.body_text()
    bounced_id = recipient = ""
    if kind is Kind.BOUNCE:
        bounced_id = _bounced_message_id(found, body_text)
        recipient = _bounce_recipient(found, _header(msg, "X-Failed-Recipients"))
    return ParsedMail(
        kind=kind,
        message_id=_message_id(_header(msg, "Message-ID")),
        in_reply_to=next(iter(_MSGID.findall(_header(msg, "In-Reply-To"))), ""),
        references=_MSGID.findall(_header(msg, "References")),
        from_address=from_address,
        from_name=from_name,
        to_addresses=_addresses(_header(msg, "To")),
        subject=_one_line(_decode_words(_header(msg, "Subject")), MAX_SUBJECT_CHARS),
        sent_at=_date(_header(msg, "Date")),
        body_text=body_text,
        body_html=found.body_html(),
        attachments=found.attachments,
        bounced_message_id=bounced_id,
        bounce_recipient=recipient,
    )


def _header_block_size(raw: bytes) -> int:
    """Bytes before the first empty line (all of it if there is none)."""
    ends = [i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0]
    return min(ends) if ends else len(raw)


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB"
    if n >= 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n:,} bytes"


def _limit(n: int) -> str:
    for unit, name in ((1024 * 1024, "MB"), (1024, "KB")):
        if n >= unit:
            return f"{n / unit:g} {name}"
    return f"{n:,} bytes"


def _too_big(what: str, n: int, limit: int) -> str:
    """'message is 31.2 MB; the limit is 25 MB', in bytes when rounding would hide it."""
    size, cap = _size(n), _limit(limit)
    if size.split()[0].rstrip("0").rstrip(".") == cap.split()[0]:
        size, cap = f"{n:,} bytes", f"{limit:,} bytes"
    return f"{what} is {size}; the limit is {cap}"


def _check_shape(msg: Message, limits: MailLimits) -> None:
    """Count every MIME part and the nesting depth, without recursion, before reading any."""
    stack: list[tuple[Message, int]] = [(msg, 0)]
    parts = 0
    while stack:
        part, depth = stack.pop()
        parts += 1
        if parts > limits.max_parts:
            raise MailRejected(f"message has more than {limits.max_parts} MIME parts")
        if depth > limits.max_depth:
            raise MailRejected(f"MIME nesting deeper than {limits.max_depth} levels")
        if _content_type(part) == "message/delivery-status":
            continue  # its payload is blocks of fields, not parts
        payload = part.get_payload()
        if isinstance(payload, list):
            stack.extend((p, depth + 1) for p in payload if isinstance(p, Message))


# ---------------------------------------------------------------- headers


_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_MSGID = re.compile(r"<[^<>\s]{1,985}>")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_ADDR = re.compile(r"^[^@\s<>()\[\],;:\"]{1,64}@[^@\s<>()\[\],;:\"]{1,255}$")
_NOT_TEXT_CODECS = {"unicode_escape", "raw_unicode_escape", "punycode", "idna", "utf_7"}
_WESTERN_CODECS = {"ascii", "latin_1", "iso8859_1", "cp1252", "iso8859_15"}
# Control characters that text may not keep: C0 but tab and newline, DEL, C1.
_CONTROLS = {c: None for c in [*range(0, 9), *range(11, 32), 127, *range(0x80, 0xA0)]}


def _fix_8bit(value: str) -> str:
    """Raw 8-bit header bytes arrive as surrogate escapes: read them as UTF-8."""
    if not any("\udc80" <= ch <= "\udcff" for ch in value):
        return value.encode("utf-8", "replace").decode("utf-8")
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _header(msg: Message, name: str) -> str:
    """The first `name` field, raw (our own decoding copes with what the policy cannot)."""
    try:
        for key, value in msg.raw_items():
            if key.lower() == name.lower():
                unfolded = _FOLD.sub("", str(value)).replace("\r", "").replace("\n", " ")
                return _fix_8bit(unfolded).strip()
    except Exception:
        return ""
    return ""


def _decode_bytes(data: bytes, charset: str | None) -> str:
    """The declared charset, then UTF-8, then cp1252 with replacement: always some text.

    Text declared as ASCII or Latin-1 that is valid UTF-8 is read as UTF-8: mislabelled
    UTF-8 is common, and Latin-1 text that happens to be valid UTF-8 is rare.
    """
    codec = _codec(charset)
    if codec in _WESTERN_CODECS and _is_utf8(data):
        codec = "utf-8"
    for name in (codec, "utf-8"):
        if name:
            try:
                return data.decode(name)
            except Exception:
                continue
    return data.decode("cp1252", errors="replace")


def _codec(charset: str | None) -> str | None:
    if not charset:
        return None
    try:
        name = codecs.lookup(charset.strip().strip('"').lower()).name.replace("-", "_")
    except Exception:
        return None
    return None if name in _NOT_TEXT_CODECS else name


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words leniently (bad base64 stays as written).

    Adjacent words in one charset are joined as bytes before decoding, since senders
    split a multi-byte character across two words.
    """
    chunks: list[tuple[str | None, bytes | str]] = []
    pos = 0
    for match in _ENCODED_WORD.finditer(value):
        between = value[pos : match.start()]
        if not (chunks and between.strip() == "" and chunks[-1][0] is not None):
            chunks.append((None, between))
        charset, data = match.group(1).split("*")[0], _word_bytes(match.group(2), match.group(3))
        if data is None:
            chunks.append((None, match.group(0)))
        elif chunks and chunks[-1][0] == charset.lower() and isinstance(chunks[-1][1], bytes):
            chunks[-1] = (charset.lower(), chunks[-1][1] + data)
        else:
            chunks.append((charset.lower(), data))
        pos = match.end()
    chunks.append((None, value[pos:]))
    return "".join(
        text if isinstance(text, str) else _decode_bytes(text, charset) for charset, text in chunks
    )


def _word_bytes(encoding: str, text: str) -> bytes | None:
    try:
        if encoding in "bB":
            return base64.b64decode(text + "=" * (-len(text) % 4))
        return binascii.a2b_qp(text.encode("utf-8"), header=True)
    except (binascii.Error, ValueError):
        return None


def _one_line(value: str, limit: int) -> str:
    value = " ".join(value.split())  # tabs and line breaks are whitespace, then gone
    return "".join(ch for ch in value if unicodedata.category(ch) not in ("Cc", "Cs"))[:limit]


def _clean_address(addr: str) -> str:
    addr = addr.strip().lower()
    return addr if _ADDR.match(addr) else ""


def _parse_addresses(value: str) -> list[tuple[str, str]]:
    try:
        pairs = email.utils.getaddresses([value])
    except Exception:
        return []
    return [(name, _clean_address(addr)) for name, addr in pairs]


def _first_address(value: str) -> tuple[str, str]:
    """(display name, addr-spec) of the first address; ("", "") when none can be read."""
    pairs = _parse_addresses(value)
    if not pairs:
        return "", ""
    name, addr = next(((n, a) for n, a in pairs if a), pairs[0])
    return _one_line(_decode_words(name), MAX_NAME_CHARS), addr


def _addresses(value: str) -> list[str]:
    seen: dict[str, None] = {}
    for _, addr in _parse_addresses(value):
        if addr:
            seen.setdefault(addr, None)
    return list(seen)


def _message_id(value: str) -> str:
    """The '<...>' id; a bare id without brackets is given them, so threading can match."""
    found = _MSGID.search(value)
    if found:
        return found.group(0)
    bare = _one_line(value, 985)
    return f"<{bare}>" if bare and not re.search(r"[\s<>]", bare) else ""


def _date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        sent = email.utils.parsedate_to_datetime(value)
    except Exception:
        return None
    return sent if sent.tzinfo is not None else sent.replace(tzinfo=UTC)


# ---------------------------------------------------------------- MIME parts


@dataclass
class _Found:
    """What the walk over the parts collects, in document order."""

    texts: list[str] = field(default_factory=list)
    htmls: list[str] = field(default_factory=list)
    attachments: list[ParsedAttachment] = field(default_factory=list)
    dsn_parts: list[Message] = field(default_factory=list)
    original_messages: list[Message] = field(default_factory=list)
    original_headers: list[str] = field(default_factory=list)

    def body_text(self) -> str:
        text = "\n".join(t for t in self.texts if t.strip())
        if not text.strip() and self.htmls:
            text = html_to_text("\n".join(self.htmls))
        text = text.strip("\n")
        if len(text) > MAX_BODY_CHARS:
            marker = TRUNCATED_MARKER.format(limit=MAX_BODY_CHARS)
            text = text[: MAX_BODY_CHARS - len(marker)] + marker
        return text

    def body_html(self) -> str:
        if not self.htmls:
            return ""
        try:
            return nh3.clean("\n".join(self.htmls), url_schemes=_URL_SCHEMES)
        except Exception:
            return ""


_URL_SCHEMES = {*nh3.ALLOWED_URL_SCHEMES, "cid"}  # cid: inline images of multipart/related


def _walk(msg: Message, limits: MailLimits) -> _Found:
    found = _Found()
    stack: list[tuple[Message, str]] = [(msg, "")]
    while stack:
        part, parent_type = stack.pop()
        ctype = _content_type(part)
        payload = part.get_payload()
        if ctype == "message/delivery-status":
            found.dsn_parts.append(part)
        elif ctype.startswith("message/") and isinstance(payload, list):
            found.original_messages.extend(p for p in payload if isinstance(p, Message))
            _add_attachment(found, part, ctype, parent_type, limits)
        elif isinstance(payload, list):
            stack.extend((p, ctype) for p in reversed(payload) if isinstance(p, Message))
        elif _is_body(part, ctype):
            text = _clean_text(_decode_bytes(_payload_bytes(part), _charset(part)))
            if ctype == "text/plain" and _param(part, "format") == "flowed":
                text = unflowed(text, delsp=_param(part, "delsp") == "yes")
            (found.htmls if ctype == "text/html" else found.texts).append(text)
        elif parent_type == "multipart/signed" and ctype in _SIGNATURES:
            # The sender's S/MIME or PGP signature of the part beside it: not something
            # they attached, and an smime.p7s on every message of a company's staff
            # would bury what they did attach.
            continue
        else:
            if ctype == "text/rfc822-headers":
                found.original_headers.append(_decode_bytes(_payload_bytes(part), _charset(part)))
            _add_attachment(found, part, ctype, parent_type, limits)
    if len(found.attachments) > limits.max_attachments:
        raise MailRejected(
            f"message has {len(found.attachments)} attachments; "
            f"the limit is {limits.max_attachments}"
        )
    # Inline means shown inside the HTML. Apple Mail and phones mark a photo "inline"
    # beside a plain-text body, where nothing shows it: such a file is listed instead.
    # Matched exactly, as storing links them (inbound._store_attachments).
    shown = {cid for html in found.htmls for _quote, cid in CID_IN_HTML.findall(html)}
    found.attachments = [
        replace(a, inline=False) if a.inline and a.content_id not in shown else a
        for a in found.attachments
    ]
    return found


CID_IN_HTML = re.compile(r"""(["'])cid:([^"']{1,250})\1""", re.IGNORECASE)


_SIGNATURES = {
    "application/pkcs7-signature",
    "application/x-pkcs7-signature",
    "application/pgp-signature",
}
_QUOTES = re.compile(r"^>+")


def unflowed(text: str, *, delsp: bool) -> str:
    """A `format=flowed` text (RFC 3676) as its paragraphs: a line ending in a space runs
    on into the next line of the same quote depth (without that space when `delsp`).
    Thunderbird and other clients wrap every paragraph at 72 characters this way; read
    as it comes, a message shows broken in mid-sentence."""
    lines: list[tuple[int, str]] = []
    flowing = False
    for line in text.split("\n"):
        quotes = _QUOTES.match(line)
        depth = len(quotes.group()) if quotes else 0
        content = line[depth:]
        if content.startswith(" "):  # space-stuffed (or the space after the quote marks)
            content = content[1:]
        if flowing and lines and lines[-1][0] == depth:
            lines[-1] = (depth, lines[-1][1] + content)
        else:
            lines.append((depth, content))
        flowing = content.endswith(" ") and content != "-- "
        if flowing and delsp:
            lines[-1] = (depth, lines[-1][1][:-1])
    return "\n".join(
        (">" * depth + " " + content) if depth else content for depth, content in lines
    )


def _content_type(part: Message) -> str:
    try:
        ctype = part.get_content_type().lower()
    except Exception:
        return "application/octet-stream"
    return (
        ctype
        if re.fullmatch(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+", ctype)
        else ("application/octet-stream")
    )


def _disposition(part: Message) -> str:
    try:
        return (part.get_content_disposition() or "").lower()
    except Exception:
        return ""


def _raw_filename(part: Message) -> str:
    try:
        name = part.get_filename() or ""
    except Exception:
        return ""
    return _decode_words(_fix_8bit(str(name)))


def _charset(part: Message) -> str | None:
    try:
        charset = part.get_content_charset()
    except Exception:
        return None
    return str(charset) if charset else None


def _payload_bytes(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:
        return b""
    return data if isinstance(data, bytes) else b""


def _is_body(part: Message, ctype: str) -> bool:
    """Text meant to be read as the message, not a text file the sender attached.

    A multipart whose boundary never came is read as text too, so its words are kept.
    """
    if ctype not in ("text/plain", "text/html") and not ctype.startswith("multipart/"):
        return False
    return _disposition(part) != "attachment" and not _raw_filename(part)


def _clean_text(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").translate(_CONTROLS)


def _add_attachment(
    found: _Found, part: Message, ctype: str, parent_type: str, limits: MailLimits
) -> None:
    content = _message_bytes(part) if ctype.startswith("message/") else _payload_bytes(part)
    number = len(found.attachments) + 1
    filename = safe_filename(_raw_filename(part), content_type=ctype, number=number)
    if len(content) > limits.max_attachment_bytes:
        raise MailRejected(
            _too_big(f"attachment '{filename}'", len(content), limits.max_attachment_bytes)
        )
    if ctype in _TNEF_TYPES or filename.lower() == "winmail.dat":
        inside = _tnef_files(content)
        if inside:
            for name, data in inside:
                inner_type = (
                    mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"
                )
                found.attachments.append(
                    ParsedAttachment(
                        filename=safe_filename(
                            name, content_type=inner_type, number=len(found.attachments) + 1
                        ),
                        content_type=inner_type,
                        content=data,
                        content_id="",
                        inline=False,
                    )
                )
            return
    content_id = _one_line(_header(part, "Content-ID"), 255).strip("<>").strip()
    disposition = _disposition(part)
    inline = disposition == "inline" or (
        disposition != "attachment" and bool(content_id) and parent_type == "multipart/related"
    )
    found.attachments.append(
        ParsedAttachment(
            filename=filename,
            content_type=ctype,
            content=content,
            content_id=content_id,
            inline=inline,
        )
    )


_TNEF_TYPES = {"application/ms-tnef", "application/vnd.ms-tnef"}


def _tnef_files(content: bytes) -> list[tuple[str, bytes]]:
    """The files inside an Outlook `winmail.dat` (TNEF), which no other mail client opens:
    a customer's photos of the damage would otherwise reach the agent as one unreadable
    file. Empty when it holds none or cannot be read (the winmail.dat is kept then)."""
    try:
        tnef = TNEF(content, do_checksum=False)
        files = [
            (str(attachment.long_filename() or attachment.name), bytes(attachment.data))
            for attachment in tnef.attachments
        ]
    except Exception:  # a third-party decoder on hostile bytes: any failure keeps the file
        return []
    return [(name, data) for name, data in files if data]


def _message_bytes(part: Message) -> bytes:
    """An attached message (a forward, a bounce's original) as an .eml file's bytes."""
    payload = part.get_payload()
    if not isinstance(payload, list) or not payload or not isinstance(payload[0], Message):
        return b""
    try:
        return payload[0].as_bytes()
    except Exception:
        try:
            return payload[0].as_bytes(policy=email.policy.compat32)
        except Exception:
            return b""


_UNSAFE_IN_NAMES = re.compile(r'[\\/:*?"<>|]')


def safe_filename(name: str, *, content_type: str, number: int) -> str:
    """A filename to show and to store: no path, no control or format characters, <= 255.

    `../../etc/passwd` becomes `passwd`; a name left empty becomes `attachment-N.ext`.
    """
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = _UNSAFE_IN_NAMES.sub("_", " ".join(name.split())).strip(" .")
    if not name:
        ext = _extension(content_type)
        return f"attachment-{number}{ext}"
    if len(name) > MAX_FILENAME_CHARS:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 16:
            name = stem[: MAX_FILENAME_CHARS - len(ext) - 1] + "." + ext
        else:
            name = name[:MAX_FILENAME_CHARS]
    return name


def _extension(content_type: str) -> str:
    if content_type.startswith("message/"):
        return ".eml"
    if content_type == "text/plain":
        return ".txt"
    return mimetypes.guess_extension(content_type, strict=False) or ".bin"


# ---------------------------------------------------------------- kind, bounces


# Not "list": Google Groups and list managers stamp it on every customer's message to a
# support address run through them, and a customer must never go unheard.
_AUTO_PRECEDENCE = {"bulk", "junk", "auto_reply"}
_AUTO_SUPPRESS = {"all", "oof", "autoreply"}
_DAEMONS = {"mailer-daemon", "postmaster"}


def _kind(msg: Message, *, from_address: str, has_dsn: bool) -> Kind:
    """BOUNCE before AUTO_REPLY before MESSAGE.

    BOUNCE: a multipart/report with report-type=delivery-status, or a message from
    mailer-daemon/postmaster carrying a delivery-status part or X-Failed-Recipients.
    AUTO_REPLY: Auto-Submitted other than "no"; Precedence bulk/junk/auto_reply;
    X-Autoreply or X-Autorespond (any value but "no"); X-Auto-Response-Suppress naming
    All, OOF or AutoReply; any other multipart/report (read receipts); any other message
    from mailer-daemon/postmaster. Never List-Id, List-Unsubscribe or Precedence: list.
    """
    ctype = _content_type(msg)
    report_type = _param(msg, "report-type")
    from_daemon = from_address.split("@")[0] in _DAEMONS
    if ctype == "multipart/report" and report_type == "delivery-status":
        return Kind.BOUNCE
    if from_daemon and (has_dsn or _header(msg, "X-Failed-Recipients")):
        return Kind.BOUNCE

    auto_submitted = _header(msg, "Auto-Submitted").split(";")[0].strip().lower()
    precedence = _header(msg, "Precedence").strip().lower()
    suppress = set(re.split(r"[\s,;]+", _header(msg, "X-Auto-Response-Suppress").lower()))
    flags = [_header(msg, name).strip().lower() for name in ("X-Autoreply", "X-Autorespond")]
    if (
        (auto_submitted and auto_submitted != "no")
        or precedence in _AUTO_PRECEDENCE
        or suppress & _AUTO_SUPPRESS
        or any(flag and flag != "no" for flag in flags)
        or ctype == "multipart/report"
        or from_daemon
    ):
        return Kind.AUTO_REPLY
    return Kind.MESSAGE


def _param(msg: Message, name: str) -> str:
    try:
        value = msg.get_param(name)
    except Exception:
        return ""
    return value.strip().lower() if isinstance(value, str) else ""


_ORIGINAL_MSGID = re.compile(r"(?im)^message-id:\s*(<[^<>\s]{1,985}>)")
_FINAL_RECIPIENT = re.compile(r"(?im)^(?:final|original)-recipient:\s*[^;\n]*;\s*([^\s;]+)")


def _bounced_message_id(found: _Found, body_text: str) -> str:
    """Our message that bounced: from the returned message, its headers, or the text."""
    for original in found.original_messages:
        msgid = _MSGID.search(_header(original, "Message-ID"))
        if msgid:
            return msgid.group(0)
    for text in [*found.original_headers, body_text]:
        match = _ORIGINAL_MSGID.search(text)
        if match:
            return match.group(1)
    return ""


def _bounce_recipient(found: _Found, failed_recipients: str) -> str:
    """Final-Recipient of a failed delivery (else the first listed), or X-Failed-Recipients."""
    candidates: list[tuple[bool, str]] = []
    for part in found.dsn_parts:
        payload = part.get_payload()
        blocks = payload if isinstance(payload, list) else []
        for block in blocks:
            if not isinstance(block, Message):
                continue
            field_value = _header(block, "Final-Recipient") or _header(block, "Original-Recipient")
            addr = _clean_address(field_value.split(";")[-1]) if field_value else ""
            if addr:
                failed = _header(block, "Action").lower().startswith("failed")
                candidates.append((failed, addr))
        if isinstance(payload, str):
            text = _decode_bytes(_payload_bytes(part), _charset(part))
            candidates += [
                (False, a) for m in _FINAL_RECIPIENT.findall(text) if (a := _clean_address(m))
            ]
    if candidates:
        return next((a for failed, a in candidates if failed), candidates[0][1])
    return next(iter(_addresses(failed_recipients)), "")


# ---------------------------------------------------------------- HTML to text


class _TextFromHtml(HTMLParser):
    _SKIP = frozenset({"script", "style", "title", "template"})
    _BLOCK = frozenset(
        {"p", "div", "li", "tr", "table", "ul", "ol", "blockquote", "pre", "hr"}
        | {"h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "header", "footer"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skipping = 0
        self.in_pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self.skipping += 1
        elif tag == "br":
            self.out.append("\n")
        elif tag in self._BLOCK:
            self._line_break()
            if tag == "li":
                self.out.append("- ")
            self.in_pre += tag == "pre"

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self._BLOCK:
            self._line_break()
            if tag == "p":  # a paragraph ends with an empty line, a <div> (Gmail's line) not
                self.out.append("\n")
            if tag == "pre":
                self.in_pre = max(0, self.in_pre - 1)

    def _line_break(self) -> None:
        """Start a new line unless one has just started."""
        if self.out and not self.out[-1].endswith("\n"):
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.out.append(data if self.in_pre else re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """Readable text of an HTML body: tags dropped, breaks kept, entities unescaped."""
    parser = _TextFromHtml()
    try:
        parser.feed(html)
        parser.close()
    except Exception:
        pass  # keep what was read before the parser gave up
    lines = [line.strip() for line in "".join(parser.out).split("\n")]
    text = "\n".join(lines)
    return _clean_text(re.sub(r"\n{3,}", "\n\n", text).strip())


# ---------------------------------------------------------------- quoted text


REPLY_SCAN_CHARS = 50_000


class _BoundedReplyMessage(_ReplyMessage):
    """email-reply-parser with its multi-line "On ... wrote:" pattern bounded.

    The library's own pattern backtracks catastrophically: 8,000 characters of
    "On x " take 45 seconds. This one allows the header to span three lines of at most
    300 characters each, starting at a line's start, which is linear.
    """

    MULTI_QUOTE_HDR_REGEX = re.compile(
        r"^(On\s[^\n]{0,300}(?:\n[^\n]{0,300}){0,2}wrote:)$", re.MULTILINE
    )
    MULTI_QUOTE_HDR_REGEX_MULTILINE = MULTI_QUOTE_HDR_REGEX
    # The line a client writes above the quote, in the languages of the shops' customers
    # (the library knows only "On … wrote:"), each part bounded so that no line backtracks.
    QUOTE_HDR_REGEX = re.compile(
        r"^(?:On\s[^\n]{0,300}wrote:"
        r"|Am\s[^\n]{0,300}schrieb[^\n]{0,300}:"
        r"|Le\s[^\n]{0,300}a\s+écrit\s?:"
        r"|El\s[^\n]{0,300}escribió:"
        r"|Il\s[^\n]{0,300}ha\s+scritto:"
        r"|Em\s[^\n]{0,300}escreveu:"
        r"|Op\s[^\n]{0,300}schreef[^\n]{0,300}:"
        r"|Den\s[^\n]{0,300}skrev[^\n]{0,300}:)\s*$"
    )


# Outlook's header above a quoted message ("From: …" then "Sent: …") in the language of
# the sender's Outlook; the reply parser knows the English words only, so the first two
# lines of such a block are read in English (one alone could be the customer's own "An:").
_OUTLOOK_WORDS = {
    "Von": ("Gesendet",),
    "De": ("Envoyé", "Enviado"),
    "Van": ("Verzonden",),
    "Da": ("Inviato",),
    "Från": ("Skickat",),
}
_OUTLOOK_HEADER = re.compile(
    r"^(\*?)(Von|De|Van|Da|Från)(\s?:\*?\s[^\n]{1,500})\n"
    r"(\*?)(Gesendet|Envoyé|Enviado|Verzonden|Inviato|Skickat)(\s?:\*?\s[^\n]{1,500})$",
    re.MULTILINE,
)


def _in_english(block: re.Match[str]) -> str:
    star, sender, rest, star2, sent, rest2 = block.groups()
    if sent not in _OUTLOOK_WORDS[sender]:
        return block.group()
    return f"{star}From{rest.replace(' :', ':', 1)}\n{star2}Sent{rest2.replace(' :', ':', 1)}"


def visible_text(body_text: str) -> tuple[str, str]:
    """(the new text, the quoted earlier text): the console folds the quoted text away.

    Uses email-reply-parser on the first 50,000 characters (its fragment pass is
    quadratic); once quoting has begun there, the rest is treated as quoted too. If the
    parser would hide everything, nothing is hidden: an agent must see what was sent.
    """
    head, tail = body_text[:REPLY_SCAN_CHARS], body_text[REPLY_SCAN_CHARS:]
    try:
        fragments = _BoundedReplyMessage(_OUTLOOK_HEADER.sub(_in_english, head)).read().fragments
    except Exception:
        return body_text.strip(), ""
    shown = [f.content for f in fragments if not (f.hidden or f.quoted)]
    folded = [f.content for f in fragments if f.hidden or f.quoted]
    new, quoted = "\n\n".join(c for c in shown if c), "\n\n".join(c for c in folded if c)
    if not new.strip():
        return body_text.strip(), ""
    if tail:
        if quoted:
            quoted += tail
        else:
            new += tail
    return new, quoted
