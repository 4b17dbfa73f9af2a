"""Full-text indexes for search (desk.search): PostgreSQL's tsvector + GIN, SQLite's FTS5.

On PostgreSQL, a message's words are a stored generated column (ranking and phrase
checks read it instead of parsing the body again) and a ticket's subject an expression
index (short text; a column would stop `subject` from ever changing type). Neither is
in the model's state: only desk.search reads them, in SQL of its own.
"""

from django.db import migrations

from nextorder.core.search import text_index_operation
from nextorder.desk.search import TEXT_INDEXES

POSTGRES_FORWARD = [
    "CREATE INDEX desk_ticket_subject_fts ON desk_ticket "
    "USING gin (to_tsvector('english'::regconfig, subject))",
    "ALTER TABLE desk_message ADD COLUMN search_vector tsvector "
    "GENERATED ALWAYS AS (to_tsvector('english'::regconfig, body_text)) STORED",
    "CREATE INDEX desk_message_fts ON desk_message USING gin (search_vector)",
]
POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS desk_message_fts",
    "ALTER TABLE desk_message DROP COLUMN IF EXISTS search_vector",
    "DROP INDEX IF EXISTS desk_ticket_subject_fts",
]


class Migration(migrations.Migration):
    dependencies = [("desk", "0007_priority_calibration")]

    operations = [
        text_index_operation(
            postgres=POSTGRES_FORWARD, postgres_undo=POSTGRES_BACKWARD, sqlite=TEXT_INDEXES
        )
    ]
