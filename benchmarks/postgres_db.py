"""The benchmarks' own PostgreSQL database, `nextorder_bench`, set up for Django.

Only this database is ever dropped: the product's `nextorder` and the tests'
`test_nextorder` are not touched. Call `fresh_bench_database()` before anything imports
Django models; it points DATABASE_URL at the bench database, sets Django up and migrates.
"""

from __future__ import annotations

import os

import psycopg
from psycopg import sql

SERVER_URL = os.environ.get("NEXTORDER_BENCH_PG", "postgres://postgres@127.0.0.1:5432")
# A second checkout benchmarking beside this one names a database of its own.
BENCH_DATABASE = os.environ.get("NEXTORDER_BENCH_DATABASE", "nextorder_bench")
BENCH_URL = f"{SERVER_URL}/{BENCH_DATABASE}"


def fresh_bench_database() -> str:
    """Drop and recreate `nextorder_bench`, then migrate it; returns the server version.

    A fresh database per run keeps one run's data (and bloat) out of the next one's figures.
    """
    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as admin:
        name = sql.Identifier(BENCH_DATABASE)
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(name))
        version = str(admin.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
    os.environ["DATABASE_URL"] = BENCH_URL
    # The benchmarks talk plain HTTP to Django's test client or to a server on loopback;
    # production's redirect to HTTPS would answer every request with a 301.
    os.environ.setdefault("NEXTORDER_SSL_REDIRECT", "0")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nextorder.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return version


def server_settings() -> dict[str, str]:
    """The server settings that move bulk-load and query figures, for the JSON record."""
    from django.db import connection

    names = ("shared_buffers", "work_mem", "maintenance_work_mem", "max_wal_size", "jit")
    with connection.cursor() as cursor:
        found = {}
        for name in names:
            cursor.execute(f"SHOW {name}")
            found[name] = str(cursor.fetchone()[0])
    return found
