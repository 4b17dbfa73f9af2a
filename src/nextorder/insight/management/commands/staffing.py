"""`nextorder staffing required|forecast`: agents needed, for planners and for checks.

staffing required --calls N --interval-seconds S --handle-seconds H --target-level 0.8
                  --answer-within T [--shrinkage F] [--patience-seconds P] [--json]
staffing forecast [--weeks W] [--interval-minutes 15|30] [--new-customers-per-month N]
                  [--target-level 0.8 --answer-within 20 --shrinkage 0.3] [--json|--csv FILE]
"""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from nextorder.insight import erlang
from nextorder.insight.selectors import StaffingTarget, staffing_plan

# Refused input is the caller's mistake, as argparse's own usage errors are: status 2.
USAGE_ERROR = 2


class Command(BaseCommand):
    help = "Agents needed per interval (Erlang C, or Erlang A with patience)."

    def add_arguments(self, parser: CommandParser) -> None:
        # A positional action rather than sub-parsers, so Django's own options (-v 0)
        # may stand anywhere on the line.
        parser.add_argument("action", choices=["required", "forecast"])
        parser.add_argument("--calls", type=float, help="calls offered in the interval")
        parser.add_argument("--interval-seconds", type=float, help="length of the interval")
        parser.add_argument("--handle-seconds", type=float, help="average handle time")
        parser.add_argument(
            "--target-level", type=float, help="share answered within the time, e.g. 0.8"
        )
        parser.add_argument("--answer-within", type=float, help="the target's seconds, e.g. 20")
        parser.add_argument(
            "--shrinkage", type=float, help="share of paid time off the phones, e.g. 0.3"
        )
        parser.add_argument(
            "--patience-seconds",
            type=float,
            help="callers' mean patience: Erlang A, with abandonment",
        )
        parser.add_argument("--json", action="store_true", help="print JSON")
        parser.add_argument("--weeks", type=int, default=4, help="forecast: weeks ahead (4)")
        parser.add_argument(
            "--interval-minutes", type=int, choices=[15, 30], default=30, help="forecast: 30"
        )
        parser.add_argument(
            "--new-customers-per-month",
            type=float,
            default=0.0,
            help="forecast: the growth scenario, and the extra agents it needs",
        )
        parser.add_argument("--csv", type=Path, help="forecast: write the intervals to a file")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "forecast":
            self._forecast(options)
        else:
            self._required(options)

    def _forecast(self, options: dict[str, Any]) -> None:
        if not 1 <= options["weeks"] <= 52:
            raise CommandError("--weeks must be between 1 and 52", returncode=USAGE_ERROR)
        target = StaffingTarget(
            target_level=0.8 if options["target_level"] is None else options["target_level"],
            answer_within=20.0 if options["answer_within"] is None else options["answer_within"],
            shrinkage=0.3 if options["shrinkage"] is None else options["shrinkage"],
            interval_minutes=options["interval_minutes"],
        )
        growth = options["new_customers_per_month"]
        rows: list[dict[str, Any]] = []
        next_monday = timezone.localdate() + timedelta(days=7 - timezone.localdate().weekday())
        try:
            for week in range(options["weeks"]):
                day = next_monday + timedelta(weeks=week)
                plan = staffing_plan(week=day, target=target)
                grown = (
                    staffing_plan(week=day, target=replace(target, new_customers_per_month=growth))
                    if growth
                    else plan
                )
                for today, then in zip(plan.intervals, grown.intervals, strict=True):
                    rows.append(
                        {
                            "start": then.start.isoformat(),
                            "forecast_calls": round(then.forecast_calls, 2),
                            "forecast_tickets": round(then.forecast_tickets, 2),
                            "agents_required": then.agents_required,
                            "agents_to_roster": then.agents_to_roster,
                            "agents_rostered": then.agents_rostered,
                            "gap": then.gap,
                            "extra_agents_for_growth": then.agents_to_roster
                            - today.agents_to_roster,
                        }
                    )
        except ValueError as exc:
            raise CommandError(str(exc), returncode=USAGE_ERROR) from exc
        if options["csv"]:
            with options["csv"].open("w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
            self.stdout.write(f"{len(rows)} intervals written to {options['csv']}")
        elif options["json"]:
            self.stdout.write(json.dumps(rows))
        else:
            self._forecast_summary(rows, growth=growth)

    def _forecast_summary(self, rows: list[dict[str, Any]], *, growth: float) -> None:
        gaps = [row for row in rows if row["gap"]]
        self.stdout.write(
            f"{len(rows)} intervals; peak {max(r['agents_to_roster'] for r in rows)} agents "
            f"to roster; {len(gaps)} intervals short of the roster"
        )
        for row in gaps[:20]:
            self.stdout.write(
                f"  {row['start']}: {row['agents_rostered']} rostered, "
                f"{row['agents_to_roster']} needed"
            )
        if growth:
            extra = [row for row in rows if row["extra_agents_for_growth"]]
            self.stdout.write(
                f"with {growth:g} new customers a month: {len(extra)} intervals need more agents"
            )
            for row in extra[:20]:
                self.stdout.write(f"  {row['start']}: +{row['extra_agents_for_growth']}")

    def _required(self, options: dict[str, Any]) -> None:
        needed = ["calls", "interval_seconds", "handle_seconds", "target_level", "answer_within"]
        missing = [f"--{name.replace('_', '-')}" for name in needed if options[name] is None]
        if missing:
            raise CommandError(
                f"staffing required needs {', '.join(missing)}", returncode=USAGE_ERROR
            )
        try:
            figures = erlang.agents_required(
                calls=options["calls"],
                interval_seconds=options["interval_seconds"],
                handle_seconds=options["handle_seconds"],
                target_level=options["target_level"],
                answer_within=options["answer_within"],
                patience_seconds=options["patience_seconds"],
            )
            rostered = (
                None
                if options["shrinkage"] is None
                else int(erlang.rostered(agents=figures.agents, shrinkage=options["shrinkage"]))
            )
        except ValueError as exc:
            raise CommandError(str(exc), returncode=USAGE_ERROR) from exc
        result: dict[str, float | int] = {
            "agents": int(figures.agents),
            "service_level": float(figures.service_level),
            "waiting_probability": float(figures.waiting_probability),
            "asa_seconds": float(figures.asa_seconds),
            "occupancy": float(figures.occupancy),
        }
        if figures.abandon_probability is not None:
            result["abandon_probability"] = float(figures.abandon_probability)
        if rostered is not None:
            result["agents_rostered"] = rostered
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        model = "Erlang A" if figures.abandon_probability is not None else "Erlang C"
        self.stdout.write(f"agents needed ({model}): {result['agents']}")
        if rostered is not None:
            self.stdout.write(
                f"agents to roster after {options['shrinkage']:.0%} shrinkage: {rostered}"
            )
        self.stdout.write(f"service level: {result['service_level']:.2%}")
        self.stdout.write(f"waiting probability: {result['waiting_probability']:.2%}")
        if "abandon_probability" in result:
            self.stdout.write(f"abandon probability: {result['abandon_probability']:.2%}")
        self.stdout.write(f"average speed of answer: {result['asa_seconds']:.1f} s")
        self.stdout.write(f"occupancy: {result['occupancy']:.1%}")
