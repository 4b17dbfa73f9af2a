"""Email into the desk on PostgreSQL: SMTP sustained rate and mailbox import rate.

SMTP: `nextorder smtpd` runs as its own processes (its default: one per core, sharing the
port, each with one database thread and group commit) against the bench database; 8
client connections on loopback send messages for DURATION seconds (each connection keeps
its session and sends one message after another; the messages are built before the timed
window, as a load generator's are). The CPU seconds of the window are split between the
server's processes, the bench database's backends and the client. Every "250" comes
after the message is committed, so messages accepted per second is the figure; the
benchmark checks that the database holds exactly as many received messages as were
accepted. Half the messages are from new senders (a customer, a contact and a ticket
each), half answer an earlier one (threaded by In-Reply-To onto its ticket).

Mailbox: a generated mbox of MAILBOX_MESSAGES realistic messages (threads, HTML
alternatives, JPEG attachments, Latin-1 and UTF-8, automatic replies, bounces; the
generator of the tests) imported with `mailbox_import` (messages read by one worker
process per core, committed in batches). The machine's load average before and after
each part goes into the JSON: other work on the machine moves these figures.

Goals from the channels issue: at least 300 messages/s through SMTP from 8 connections,
at least 1,000 messages/s from a mailbox.
"""

from __future__ import annotations

import os
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests.net import free_port

from benchmarks.postgres_db import BENCH_URL, fresh_bench_database, server_settings
from benchmarks.results_io import cpu_snapshot, cpu_used, print_goals, write_result

DURATION = 20.0
CONNECTIONS = 8
# More than a connection sends in DURATION at twice the goal; one that runs out stops early.
MESSAGES_PER_CONNECTION = 1_600
MAILBOX_MESSAGES = 100_000
GOAL_SMTP = 300.0
GOAL_MAILBOX = 1_000.0


def _wait_for(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"smtpd did not listen on {port}")


def bench_smtp() -> dict[str, float]:
    from tests.desk.mail_factory import customer_email

    port = free_port()
    nextorder = str(Path(sys.executable).with_name("nextorder"))
    server = subprocess.Popen(
        [nextorder, "smtpd", "--addr", f"127.0.0.1:{port}"],
        env={**os.environ, "DATABASE_URL": BENCH_URL},
        stdout=subprocess.DEVNULL,
    )
    accepted = [0] * CONNECTIONS
    refused = [0] * CONNECTIONS
    latencies: list[float] = []
    ran_out = [False] * CONNECTIONS
    stop_at = 0.0

    def messages(number: int) -> list[bytes]:
        """Built before the timed window: building MIME costs the client ~2 ms a message."""
        return [
            customer_email(
                sender=f"Buyer {number}-{sent // 2} <b{number}-{sent // 2}@shop.example>",
                subject=f"Order question {number}-{sent}",
                text="Hello,\nwhere is my order? It was due on Monday.\nThanks\n" * 3,
                html="<p>Hello,</p><p>where is my <b>order</b>?</p>" * 3,
                message_id=f"<c{number}-{sent}@bench.example>",
                in_reply_to=f"<c{number}-{sent - 1}@bench.example>" if sent % 2 else None,
            )
            for sent in range(MESSAGES_PER_CONNECTION)
        ]

    prepared = [messages(number) for number in range(CONNECTIONS)]

    def client(number: int) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            for raw in prepared[number]:
                if time.monotonic() >= stop_at:
                    return
                began = time.perf_counter()
                try:  # sendmail raises unless the server answered 250 to the message
                    smtp.sendmail(f"b{number}@shop.example", ["support@nextorder.localhost"], raw)
                except smtplib.SMTPException:
                    refused[number] += 1
                else:
                    accepted[number] += 1
                latencies.append(time.perf_counter() - began)
            ran_out[number] = True

    try:
        _wait_for(port)
        stop_at = time.monotonic() + DURATION
        began, cpu_before = time.perf_counter(), cpu_snapshot(server.pid)
        threads = [threading.Thread(target=client, args=(n,)) for n in range(CONNECTIONS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began
        cpu = cpu_used(cpu_before, cpu_snapshot(server.pid), server="smtpd")
    finally:
        server.terminate()
        server.wait(timeout=30)
    from nextorder.desk.models import InboundMail

    stored = InboundMail.objects.count()
    total = sum(accepted)
    latencies.sort()
    return {
        "smtp_messages": total,
        "smtp_stored": stored,
        "smtp_refused": sum(refused),
        "smtp_seconds": round(elapsed, 2),
        "smtp_cpu": cpu,
        "smtp_server_cpu_ms_per_message": round(1000 * cpu["smtpd_cpu_s"] / max(total, 1), 2),
        "smtp_postgres_cpu_ms_per_message": round(
            1000 * cpu["postgres_bench_backends_cpu_s"] / max(total, 1), 2
        ),
        "smtp_connections_ran_out": sum(ran_out),
        "smtp_messages_per_s": round(total / elapsed, 1),
        "smtp_p50_ms": round(1000 * latencies[len(latencies) // 2], 1),
        "smtp_p99_ms": round(1000 * latencies[int(len(latencies) * 0.99)], 1),
    }


def bench_mailbox() -> dict[str, float]:
    from tests.desk.mail_factory import realistic_mailbox

    from nextorder.desk.mail.mailbox import mailbox_import

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "support.mbox"
        kinds = realistic_mailbox(path, count=MAILBOX_MESSAGES)
        began = time.perf_counter()
        report = mailbox_import(path=path)
        elapsed = time.perf_counter() - began
    return {
        "mailbox_messages": report.messages,
        "mailbox_seconds": round(elapsed, 2),
        "mailbox_messages_per_s": round(report.messages / elapsed, 1),
        "mailbox_kinds": kinds,  # type: ignore[dict-item]
        "mailbox_outcomes": report.outcomes,  # type: ignore[dict-item]
    }


def main() -> None:
    version = fresh_bench_database()
    figures: dict[str, object] = {"postgresql": version, "server": server_settings()}
    figures["load_before_smtp"] = os.getloadavg()
    figures.update(bench_smtp())
    figures["load_before_mailbox"] = os.getloadavg()
    figures.update(bench_mailbox())
    figures["load_after"] = os.getloadavg()
    path = write_result(name="bench_mail", figures=figures)
    print(
        f"SMTP: {figures['smtp_messages_per_s']} messages/s from {CONNECTIONS} connections "
        f"(p50 {figures['smtp_p50_ms']} ms, p99 {figures['smtp_p99_ms']} ms; "
        f"{figures['smtp_messages']} accepted, {figures['smtp_stored']} stored)"
    )
    print(f"Mailbox: {figures['mailbox_messages_per_s']} messages/s ({MAILBOX_MESSAGES:,})")
    print_goals(
        goals={
            f"SMTP >= {GOAL_SMTP:.0f} messages/s": float(figures["smtp_messages_per_s"])  # type: ignore[arg-type]
            >= GOAL_SMTP,
            "every accepted message stored": figures["smtp_messages"] == figures["smtp_stored"],
            f"mailbox >= {GOAL_MAILBOX:,.0f} messages/s": float(
                figures["mailbox_messages_per_s"]  # type: ignore[arg-type]
            )
            >= GOAL_MAILBOX,
        },
        path=path,
    )


if __name__ == "__main__":
    main()
