"""Richer statistics on the words of subjects and messages (PostgreSQL).

ANALYZE keeps the most common elements of a tsvector column, ten for each unit of the
statistics target; with the default 100, a word outside the thousand most common is
estimated at half the rarest one's share, which on a large desk is far too many and
makes a search for an order number walk every message. With 1000 the list holds ten
thousand words, so `desk.search` can tell a rare word from a common one (`_rare_on`).
"""

from django.db import migrations

from nextorder.core.search import text_index_operation

POSTGRES_FORWARD = [
    "ALTER TABLE desk_ticket ALTER COLUMN search_vector SET STATISTICS 1000",
    "ALTER TABLE desk_message ALTER COLUMN search_vector SET STATISTICS 1000",
]
POSTGRES_BACKWARD = [
    "ALTER TABLE desk_ticket ALTER COLUMN search_vector SET STATISTICS -1",
    "ALTER TABLE desk_message ALTER COLUMN search_vector SET STATISTICS -1",
]


class Migration(migrations.Migration):
    dependencies = [("desk", "0014_sla_policies_and_clocks")]

    operations = [
        text_index_operation(postgres=POSTGRES_FORWARD, postgres_undo=POSTGRES_BACKWARD, sqlite=())
    ]
