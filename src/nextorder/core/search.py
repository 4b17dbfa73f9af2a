"""Full-text search mechanics the apps share: the query a person types, read once into
terms, and the text index each database keeps by itself.

PostgreSQL keeps `tsvector`s (a stored generated column or an expression index, both
under GIN) that every INSERT and UPDATE maintains; SQLite keeps an FTS5 table per
indexed table, filled by triggers. Either way a bulk INSERT (`customer_messages_receive`
writes a batch in one statement) is indexed without a line of Python per row, and no
search server runs beside the database.

What a person types is never SQL, nor handed to a query parser that can fail: it is
read here into words and phrases (letters and digits only), and each database gets a
query built from those, as a parameter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# Longer queries are cut here (and the page says so): nobody types more, and the
# database's work grows with the number of terms.
MAX_QUERY_CHARS = 200
MAX_TERMS = 12

_CHUNK = re.compile(r'"([^"]*)"?|(\S+)')
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Term:
    """One word, or several that must follow each other: a quoted phrase, or a token
    such as an email address or order number that punctuation splits into words."""

    words: tuple[str, ...]
    # What was typed, for PostgreSQL's parser, which keeps an address whole.
    typed: str
    negated: bool = False
    phrase: bool = False


@dataclass(frozen=True)
class SearchText:
    """A query as typed, read into groups of terms: a row matches a group when it has
    every positive term and none of the negated ones, and the query when any group."""

    typed: str
    groups: tuple[tuple[Term, ...], ...] = ()
    cut: bool = False  # longer than MAX_QUERY_CHARS, or more terms than MAX_TERMS
    # The positive terms' words, once each: names are matched on these, as typed.
    words: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.groups

    def websearch(self) -> str:
        """The query again, rebuilt from its terms for `websearch_to_tsquery`."""
        groups = []
        for group in self.groups:
            parts = []
            for term in group:
                text = f'"{" ".join(term.words)}"' if term.phrase else term.typed
                parts.append(f"-{text}" if term.negated else text)
            groups.append(" ".join(parts))
        return " or ".join(groups)

    def fts5(self) -> str:
        """The query in FTS5's syntax: each term quoted (so nothing in it is an operator)."""
        groups = []
        for group in self.groups:
            positive = " AND ".join(_fts5_phrase(t.words) for t in group if not t.negated)
            negated = [_fts5_phrase(t.words) for t in group if t.negated]
            groups.append(f"({positive})" + "".join(f" NOT {n}" for n in negated))
        return " OR ".join(f"({g})" for g in groups)


def _fts5_phrase(words: tuple[str, ...]) -> str:
    return '"' + " ".join(words) + '"'  # words hold letters and digits only: no quote inside


def search_text(raw: str) -> SearchText:
    """Read what was typed; never fails. Words are letters and digits (any script),
    lower-cased; a group with nothing to find but exclusions is dropped, as it would
    match nearly everything."""
    cleaned = "".join(c if c.isprintable() else " " for c in raw).strip()
    cut = len(cleaned) > MAX_QUERY_CHARS
    cleaned = cleaned[:MAX_QUERY_CHARS]
    groups: list[tuple[Term, ...]] = []
    current: list[Term] = []
    count = 0
    for match in _CHUNK.finditer(cleaned):
        quoted, bare = match.group(1), match.group(2)
        if bare is not None and bare.lower() == "or":
            groups.append(tuple(current))
            current = []
            continue
        negated = bare is not None and bare.startswith("-") and len(bare) > 1
        chunk = quoted if quoted is not None else bare.lstrip("-")
        words = tuple(w.lower() for w in _WORD.findall(chunk))
        if not words:
            continue
        if count == MAX_TERMS:
            cut = True
            break
        count += 1
        typed = " ".join(words) if quoted is not None else chunk.replace('"', "")
        current.append(Term(words=words, typed=typed, negated=negated, phrase=quoted is not None))
    groups.append(tuple(current))
    kept = tuple(g for g in groups if any(not t.negated for t in g))
    words = tuple(dict.fromkeys(w for g in kept for t in g if not t.negated for w in t.words))
    return SearchText(typed=cleaned, groups=kept, cut=cut, words=words)


# Prefix matching needs a few letters, or "a" would match a tenth of every name.
PREFIX_FROM = 2


def tsquery_prefixes(words: list[str]) -> str:
    """`to_tsquery` text for names: every word, the longer ones as prefixes."""
    return " & ".join(f"'{w}':*" if len(w) >= PREFIX_FROM else f"'{w}'" for w in words)


def fts5_prefixes(words: list[str]) -> str:
    return " AND ".join(_fts5_phrase((w,)) + ("*" if len(w) >= PREFIX_FROM else "") for w in words)


@dataclass(frozen=True)
class TextIndex:
    """A table's text columns in SQLite's FTS5 (`<table>_fts`, external content kept in
    step by triggers). PostgreSQL's indexes are made by each app's migration."""

    table: str
    columns: tuple[str, ...]
    tokenize: str = "unicode61 remove_diacritics 2"

    @property
    def fts(self) -> str:
        return f"{self.table}_fts"

    def triggers(self) -> dict[str, str]:
        cols = ", ".join(self.columns)
        new = ", ".join(f"new.{c}" for c in self.columns)
        old = ", ".join(f"old.{c}" for c in self.columns)
        insert = f"INSERT INTO {self.fts}(rowid, {cols}) VALUES (new.id, {new});"
        delete = (
            f"INSERT INTO {self.fts}({self.fts}, rowid, {cols}) VALUES ('delete', old.id, {old});"
        )
        return {
            f"{self.fts}_ai": f"AFTER INSERT ON {self.table} BEGIN {insert} END",
            f"{self.fts}_ad": f"AFTER DELETE ON {self.table} BEGIN {delete} END",
            f"{self.fts}_au": f"AFTER UPDATE OF {cols} ON {self.table} BEGIN {delete} {insert} END",
        }


_TEXT_INDEXES: dict[str, TextIndex] = {}


def text_index_register(index: TextIndex) -> None:
    """Called by the app owning the table (in `ready`), so that `fts5_repair` knows it."""
    _TEXT_INDEXES[index.table] = index


def fts5_create(connection: Any, index: TextIndex) -> None:
    """Create the FTS5 table and its triggers, and index the rows already there."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {index.fts} USING fts5("
            f"{', '.join(index.columns)}, content='{index.table}', content_rowid='id', "
            f"tokenize='{index.tokenize}')"
        )
    fts5_repair_one(connection, index, force=True)


def fts5_drop(connection: Any, index: TextIndex) -> None:
    with connection.cursor() as cursor:
        for name in index.triggers():
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
        cursor.execute(f"DROP TABLE IF EXISTS {index.fts}")


def fts5_repair_one(connection: Any, index: TextIndex, *, force: bool = False) -> bool:
    """Put back missing triggers and re-index the table; True if anything was missing.

    SQLite migrations that alter a table copy it into a new one and drop the old, and
    its triggers with it: the index would silently stop following the table.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s",
            [index.table],
        )
        present = {row[0] for row in cursor.fetchall()}
        missing = {n: sql for n, sql in index.triggers().items() if n not in present}
        for name, sql in missing.items():
            cursor.execute(f"CREATE TRIGGER {name} {sql}")
        if missing or force:
            cursor.execute(f"INSERT INTO {index.fts}({index.fts}) VALUES ('rebuild')")
    return bool(missing)


def fts5_repair(using: str = "default", **_: Any) -> None:
    """After every migrate on SQLite: each registered index whose FTS table exists gets
    its triggers back if a migration dropped them (a post_migrate receiver)."""
    from django.db import connections

    connection = connections[using]
    if connection.vendor != "sqlite":
        return
    existing = set(connection.introspection.table_names())
    for index in _TEXT_INDEXES.values():
        if index.fts in existing and index.table in existing:
            fts5_repair_one(connection, index)


def text_index_operation(
    *, postgres: list[str], postgres_undo: list[str], sqlite: tuple[TextIndex, ...]
) -> Any:
    """A migration operation making an app's text indexes on whichever database it runs:
    `postgres` statements there, FTS5 tables for `sqlite` there."""
    from django.db import migrations

    def forward(apps: Any, schema_editor: Any) -> None:
        connection = schema_editor.connection
        if connection.vendor == "postgresql":
            for statement in postgres:
                schema_editor.execute(statement)
        elif connection.vendor == "sqlite":
            for index in sqlite:
                fts5_create(connection, index)

    def backward(apps: Any, schema_editor: Any) -> None:
        connection = schema_editor.connection
        if connection.vendor == "postgresql":
            for statement in postgres_undo:
                schema_editor.execute(statement)
        elif connection.vendor == "sqlite":
            for index in sqlite:
                fts5_drop(connection, index)

    return migrations.RunPython(forward, backward)
