"""Search, for the console's search box and the API: tickets by their subject and the
words of their messages, and (through crm) customers, contacts and orders, in one
answer grouped by kind.

Tickets are ranked among a bounded set of candidates, the newest CANDIDATES tickets
whose subject matches and the newest CANDIDATES messages that match: ranking every
match of a common word ("order" is in half the messages) would read them all. Each
candidate read is an index seek (GIN on PostgreSQL, FTS5 on SQLite), in id order, so
the work is bounded whatever the size of the desk; older matches are reached by
narrowing the query or the dates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone

from nextorder.core.search import SearchText, TextIndex, search_text
from nextorder.crm.models import Contact, Customer, Order
from nextorder.crm.selectors import contacts_find, customers_find, orders_find
from nextorder.desk.models import Message, Ticket
from nextorder.desk.selectors import ASSIGNEE_ME, ASSIGNEE_NOBODY

# Subjects and messages in SQLite's FTS5 (desk migration 0008 makes them; PostgreSQL
# has a generated tsvector column on each table, under GIN).
TEXT_INDEXES = (
    TextIndex(
        table="desk_ticket", columns=("subject",), tokenize="porter unicode61 remove_diacritics 2"
    ),
    TextIndex(
        table="desk_message",
        columns=("body_text",),
        tokenize="porter unicode61 remove_diacritics 2",
    ),
)

CANDIDATES = 100
PER_PAGE = 20
# A subject that matches counts as much as twice a message that does.
SUBJECT_WEIGHT = 2.0
# A ticket's own number, typed, comes before any match of words.
NUMBER_RANK = 1e9


class Kind(StrEnum):
    TICKETS = "tickets"
    CUSTOMERS = "customers"
    CONTACTS = "contacts"
    ORDERS = "orders"


# What a role must be able to read to see each kind (core/roles.py).
KIND_PERMISSIONS: dict[Kind, tuple[str, ...]] = {
    Kind.TICKETS: ("desk.view_ticket", "desk.view_message"),
    Kind.CUSTOMERS: ("crm.view_customer",),
    Kind.CONTACTS: ("crm.view_contact", "crm.view_contactemail"),
    Kind.ORDERS: ("crm.view_order",),
}


def kinds_for(user: User) -> tuple[Kind, ...]:
    return tuple(kind for kind in Kind if user.has_perms(KIND_PERMISSIONS[kind]))


@dataclass(frozen=True)
class SearchFilters:
    kinds: tuple[Kind, ...] = tuple(Kind)
    statuses: tuple[str, ...] = ()  # none chosen: any status
    team_id: int | None = None
    # A user id, ASSIGNEE_ME, ASSIGNEE_NOBODY, or None for anyone.
    assignee: int | str | None = None
    opened_from: date | None = None
    opened_to: date | None = None  # inclusive

    @property
    def narrows_tickets(self) -> bool:
        return bool(
            self.statuses
            or self.team_id is not None
            or self.assignee is not None
            or self.opened_from
            or self.opened_to
        )


@dataclass(frozen=True)
class TicketHit:
    ticket: Ticket
    rank: float
    # Words around the first match in the best matching message ("" if only the subject).
    excerpt: str = ""


@dataclass(frozen=True)
class SearchResults:
    text: SearchText
    filters: SearchFilters
    kinds: tuple[Kind, ...]  # searched: asked for and readable by the user
    tickets: list[TicketHit] = field(default_factory=list)
    page: int = 1
    more_tickets: bool = False
    # More matches than candidates: the best of the newest are shown.
    capped: bool = False
    customers: list[Customer] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.tickets or self.customers or self.contacts or self.orders)


def _ticket_conditions(*, user: User, filters: SearchFilters) -> tuple[str, list[Any]]:
    """The filters as SQL on the ticket (alias t), values as parameters."""
    sql: list[str] = []
    values: list[Any] = []
    if filters.statuses:
        sql.append(f"t.status IN ({', '.join(['%s'] * len(filters.statuses))})")
        values += list(filters.statuses)
    if filters.team_id is not None:
        sql.append("t.team_id = %s")
        values.append(filters.team_id)
    if filters.assignee == ASSIGNEE_NOBODY:
        sql.append("t.assignee_id IS NULL")
    elif filters.assignee is not None:
        sql.append("t.assignee_id = %s")
        values.append(user.pk if filters.assignee == ASSIGNEE_ME else filters.assignee)
    tz = timezone.get_current_timezone()
    if filters.opened_from:
        sql.append("t.created_at >= %s")
        values.append(datetime.combine(filters.opened_from, time(), tzinfo=tz))
    if filters.opened_to:
        sql.append("t.created_at < %s")
        values.append(datetime.combine(filters.opened_to + timedelta(days=1), time(), tzinfo=tz))
    return "".join(f" AND {condition}" for condition in sql), values


# (ticket id, message id or None, rank: higher is better)
_Candidate = tuple[int, int | None, float]


# Per OR group of the query, the positive terms' typed words; a group is rare when one
# of its terms has a word whose lexeme is not among the column's most common elements
# (pg_stats, from ANALYZE), and the query when every group is.
_RARE_SQL = """
    SELECT s.tablename, COALESCE(bool_and(g.rare), false)
    FROM pg_stats s
    CROSS JOIN LATERAL (
        SELECT bool_or(
            EXISTS (
                SELECT 1 FROM unnest(tsvector_to_array(to_tsvector('english', t.typed))) AS l
                WHERE l <> ALL (s.most_common_elems::text::text[])
            )
        ) AS rare
        FROM unnest(%s::int[], %s::text[]) AS t(grp, typed)
        GROUP BY t.grp
    ) AS g
    WHERE s.schemaname = current_schema() AND s.attname = 'search_vector'
        AND s.tablename IN ('desk_ticket', 'desk_message')
    GROUP BY s.tablename
"""


def _rare_on(text: SearchText) -> set[str]:
    """The tables (desk_ticket, desk_message) on which every group of the query has a
    word outside the column's most common elements: few rows match it there.

    The planner reads `ORDER BY id DESC LIMIT n` with a match as "walk the newest rows
    and test each", which is right for a common word and, for a word it has no
    statistics of (an order number, a name, a typo), reads every row: 1.3 s on 3,000,000
    messages (benchmarks/bench_search.py). For those, the GIN index is read first.
    """
    groups = [
        (number, term.typed)
        for number, group in enumerate(text.groups)
        for term in group
        if not term.negated
    ]
    if len({number for number, _typed in groups}) < len(text.groups):
        return set()  # a group of only negated terms matches most rows
    with connection.cursor() as cursor:
        cursor.execute(
            _RARE_SQL,
            [[number for number, _typed in groups], [typed for _number, typed in groups]],
        )
        return {table for table, rare in cursor.fetchall() if rare}


def _postgres_candidates(
    text: SearchText, where: str, values: list[Any], join: bool
) -> tuple[list[_Candidate], bool]:
    query = "websearch_to_tsquery('english', %s)"
    typed = text.websearch()
    rare = _rare_on(text)
    # "+ 0": not the primary key's order, so the planner cannot walk it (see _rare_on).
    newest_ticket = "t.id + 0" if "desk_ticket" in rare else "t.id"
    newest_message = "m.id + 0" if "desk_message" in rare else "m.id"
    subjects = (
        f"SELECT id, NULL, ts_rank(search_vector, {query}) "
        "FROM (SELECT t.id, t.search_vector FROM desk_ticket t "
        f"WHERE t.search_vector @@ {query}{where} "
        f"ORDER BY {newest_ticket} DESC LIMIT %s) hits"
    )
    ticket_join = " JOIN desk_ticket t ON t.id = m.ticket_id" if join else ""
    messages = (
        f"SELECT ticket_id, id, ts_rank(search_vector, {query}) "
        "FROM (SELECT m.id, m.ticket_id, m.search_vector FROM desk_message m"
        f"{ticket_join} WHERE m.search_vector @@ {query}{where} "
        f"ORDER BY {newest_message} DESC LIMIT %s) hits"
    )
    return _run_candidates(
        (subjects, [typed, typed, *values, CANDIDATES]),
        (messages, [typed, typed, *values, CANDIDATES]),
    )


def _sqlite_candidates(
    text: SearchText, where: str, values: list[Any], join: bool
) -> tuple[list[_Candidate], bool]:
    match = text.fts5()
    # bm25() is lower for better matches: negated, higher is better as on PostgreSQL.
    subjects = (
        "SELECT t.id, NULL, -bm25(desk_ticket_fts) FROM desk_ticket_fts "
        "JOIN desk_ticket t ON t.id = desk_ticket_fts.rowid "
        f"WHERE desk_ticket_fts MATCH %s{where} ORDER BY t.id DESC LIMIT %s"
    )
    ticket_join = " JOIN desk_ticket t ON t.id = m.ticket_id" if join else ""
    messages = (
        "SELECT m.ticket_id, m.id, -bm25(desk_message_fts) FROM desk_message_fts "
        f"JOIN desk_message m ON m.id = desk_message_fts.rowid{ticket_join} "
        f"WHERE desk_message_fts MATCH %s{where} ORDER BY m.id DESC LIMIT %s"
    )
    return _run_candidates(
        (subjects, [match, *values, CANDIDATES]), (messages, [match, *values, CANDIDATES])
    )


def _run_candidates(*queries: tuple[str, list[Any]]) -> tuple[list[_Candidate], bool]:
    found: list[_Candidate] = []
    capped = False
    with connection.cursor() as cursor:
        for number, (sql, values) in enumerate(queries):
            cursor.execute(sql, values)
            rows = cursor.fetchall()
            capped = capped or len(rows) == CANDIDATES
            weight = SUBJECT_WEIGHT if number == 0 else 1.0
            found += [(row[0], row[1], float(row[2] or 0) * weight) for row in rows]
    return found, capped


def _ticket_number(text: SearchText) -> int | None:
    """A query that is a ticket's number ("1234" or "#1234")."""
    terms = [t for group in text.groups for t in group]
    if len(terms) != 1 or terms[0].negated:
        return None
    typed = terms[0].typed.lstrip("#")
    return int(typed) if typed.isascii() and typed.isdigit() and len(typed) <= 18 else None


def _ranked(candidates: list[_Candidate]) -> list[tuple[int, float, int | None]]:
    """Per ticket: its best rank and the message that gave it; best first, then newest."""
    best: dict[int, tuple[float, int | None]] = {}
    for ticket_id, message_id, rank in candidates:
        if ticket_id not in best or rank > best[ticket_id][0]:
            best[ticket_id] = (rank, message_id)
    ordered = sorted(best.items(), key=lambda item: (-item[1][0], -item[0]))
    return [(ticket_id, rank, message_id) for ticket_id, (rank, message_id) in ordered]


def _excerpt(body: str, words: tuple[str, ...], width: int = 160) -> str:
    """The words around the first of `words` (or its stem) in `body`, on one line."""
    flat = " ".join(body.split())
    found = [
        m.start()
        for word in words
        if (m := re.search(re.escape(word[: max(4, len(word) - 2)]), flat, re.IGNORECASE))
    ]
    start = max(0, min(found) - width // 3) if found else 0
    cut = flat[start : start + width]
    return ("…" if start else "") + cut + ("…" if start + width < len(flat) else "")


def tickets_search(
    *, user: User, text: SearchText, filters: SearchFilters, page: int = 1
) -> tuple[list[TicketHit], bool, bool]:
    """(this page's tickets, whether a next page exists, whether candidates were capped)."""
    where, values = _ticket_conditions(user=user, filters=filters)
    join = filters.narrows_tickets
    if connection.vendor == "postgresql":
        candidates, capped = _postgres_candidates(text, where, values, join)
    else:
        candidates, capped = _sqlite_candidates(text, where, values, join)
    number = _ticket_number(text)
    if number is not None and number <= 2**63 - 1:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT t.id FROM desk_ticket t WHERE t.id = %s{where}", [number, *values]
            )
            if cursor.fetchone():
                candidates.append((number, None, NUMBER_RANK))
    ranked = _ranked(candidates)
    start = (page - 1) * PER_PAGE
    shown = ranked[start : start + PER_PAGE]
    tickets = Ticket.objects.select_related("customer", "assignee", "team").in_bulk(
        [ticket_id for ticket_id, _, _ in shown]
    )
    bodies = dict(
        Message.objects.filter(pk__in=[m for _, _, m in shown if m]).values_list("id", "body_text")
    )
    hits = [
        TicketHit(
            ticket=tickets[ticket_id],
            rank=rank,
            excerpt=_excerpt(bodies[message_id], text.words) if message_id in bodies else "",
        )
        for ticket_id, rank, message_id in shown
        if ticket_id in tickets
    ]
    return hits, len(ranked) > start + PER_PAGE, capped


def search(*, user: User, query: str, filters: SearchFilters, page: int = 1) -> SearchResults:
    """Everything `user` may read that matches `query`, grouped by kind: a page of
    tickets, and the first few customers, contacts and orders."""
    text = search_text(query)
    kinds = tuple(kind for kind in filters.kinds if kind in kinds_for(user))
    results = SearchResults(text=text, filters=filters, kinds=kinds, page=page)
    if text.empty:
        return results
    tickets: list[TicketHit] = []
    more = capped = False
    if Kind.TICKETS in kinds:
        tickets, more, capped = tickets_search(user=user, text=text, filters=filters, page=page)
    others = page == 1  # the other kinds are a short list on the first page
    return SearchResults(
        text=text,
        filters=filters,
        kinds=kinds,
        tickets=tickets,
        page=page,
        more_tickets=more,
        capped=capped,
        customers=customers_find(text=text) if others and Kind.CUSTOMERS in kinds else [],
        contacts=contacts_find(text=text) if others and Kind.CONTACTS in kinds else [],
        orders=orders_find(text=text) if others and Kind.ORDERS in kinds else [],
    )
