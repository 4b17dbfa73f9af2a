"""`nextorder staffing required|forecast`: agents needed, for planners and for checks.

staffing required --calls N --interval-seconds S --handle-seconds H --target-level 0.8
                  --answer-within T [--shrinkage F] [--patience-seconds P] [--json]
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from nextorder.insight import erlang

# Refused input is the caller's mistake, as argparse's own usage errors are: status 2.
USAGE_ERROR = 2


class Command(BaseCommand):
    help = "Agents needed per interval (Erlang C, or Erlang A with patience)."

    def add_arguments(self, parser: CommandParser) -> None:
        # A positional action rather than sub-parsers, so Django's own options (-v 0)
        # may stand anywhere on the line.
        parser.add_argument("action", choices=["required"])
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
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        self._required(options)

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
