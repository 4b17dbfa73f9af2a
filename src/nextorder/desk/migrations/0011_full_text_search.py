"""Full-text indexes for search (desk.search): PostgreSQL's tsvector + GIN, SQLite's FTS5.

On PostgreSQL the words of a ticket's subject and of a message are stored generated
columns: the search reads the newest matches first, testing each row, and a stored
`tsvector` is tested without parsing the text again. Neither column is in the model's
state: only desk.search reads them, in SQL of its own. (A migration that changes the
type of `subject` or `body_text` must drop the column first and add it again after.)
"""

from django.db import migrations

from nextorder.core.search import text_index_operation
from nextorder.desk.search import TEXT_INDEXES

POSTGRES_FORWARD = [
    "ALTER TABLE desk_ticket ADD COLUMN search_vector tsvector "
    "GENERATED ALWAYS AS (to_tsvector('english'::regconfig, subject)) STORED",
    "CREATE INDEX desk_ticket_subject_fts ON desk_ticket USING gin (search_vector)",
    "ALTER TABLE desk_message ADD COLUMN search_vector tsvector "
    "GENERATED ALWAYS AS (to_tsvector('english'::regconfig, body_text)) STORED",
    "CREATE INDEX desk_message_fts ON desk_message USING gin (search_vector)",
]
POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS desk_message_fts",
    "ALTER TABLE desk_message DROP COLUMN IF EXISTS search_vector",
    "DROP INDEX IF EXISTS desk_ticket_subject_fts",
    "ALTER TABLE desk_ticket DROP COLUMN IF EXISTS search_vector",
]


class Migration(migrations.Migration):
    dependencies = [("desk", "0010_tags_macros_merge_saved_views")]

    operations = [
        text_index_operation(
            postgres=POSTGRES_FORWARD, postgres_undo=POSTGRES_BACKWARD, sqlite=TEXT_INDEXES
        )
    ]
