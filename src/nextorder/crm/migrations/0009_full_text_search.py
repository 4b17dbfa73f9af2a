"""Indexes for finding customers and contacts by name (words, as typed: prefixes) and
by email address (whole, or its start), on PostgreSQL and in SQLite's FTS5."""

from django.db import migrations

from nextorder.core.search import text_index_operation
from nextorder.crm.selectors import TEXT_INDEXES

POSTGRES_FORWARD = [
    "CREATE INDEX crm_customer_name_fts ON crm_customer "
    "USING gin (to_tsvector('simple'::regconfig, name))",
    "CREATE INDEX crm_contact_name_fts ON crm_contact "
    "USING gin (to_tsvector('simple'::regconfig, name))",
    # Addresses are stored lower-cased; this serves `address LIKE 'jane.d%'` in any collation.
    "CREATE INDEX crm_contactemail_address_prefix ON crm_contactemail (address text_pattern_ops)",
]
POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS crm_contactemail_address_prefix",
    "DROP INDEX IF EXISTS crm_contact_name_fts",
    "DROP INDEX IF EXISTS crm_customer_name_fts",
]


class Migration(migrations.Migration):
    dependencies = [("crm", "0008_currency_rates")]

    operations = [
        text_index_operation(
            postgres=POSTGRES_FORWARD, postgres_undo=POSTGRES_BACKWARD, sqlite=TEXT_INDEXES
        )
    ]
