"""`nextorder clv fit|score|schedule`: customer-value models from the command line.

clv fit                    fit on the database's orders (recorded for the console)
clv fit --from-file FILE   fit on an order file, read as `import orders` reads it
clv score                  fit and write every customer's scores (or --enqueue it)
clv schedule               book the nightly scoring task
"""

from __future__ import annotations

import json
import zoneinfo
from datetime import date
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from nextorder.core.files import DATA_FORMATS, DataFormat, data_format_of
from nextorder.core.progress import phase_progress_bars
from nextorder.crm.importers import (
    LAYOUTS,
    ColumnMapping,
    OrderFileError,
    mapping_from_options,
)
from nextorder.insight import holdout, rfm
from nextorder.insight.selectors import transactions_from_file
from nextorder.insight.services import customers_score, value_models_fit
from nextorder.insight.tasks import nightly_scoring_schedule, score_customers_now
from nextorder.insight.valuation import (
    NotEnoughHistory,
    fit_report,
    fit_value_models,
    holdout_charts,
    unconverged_models,
)


def _date(raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise CommandError(f"{raw!r} is not a date: use YYYY-MM-DD") from exc


class Command(BaseCommand):
    help = "Customer-value models: fit (database or file), score customers, schedule nightly."

    def add_arguments(self, parser: CommandParser) -> None:
        # A positional action rather than sub-parsers, so Django's own options (-v 0)
        # may stand anywhere on the line.
        parser.add_argument("action", choices=["fit", "score", "schedule"])
        parser.add_argument(
            "--calibration-end",
            type=_date,
            help="last day the models learn from (default: today, or a file's last day)",
        )
        parser.add_argument(
            "--holdout-end",
            type=_date,
            help="fit: check the predictions against the orders up to this day",
        )
        parser.add_argument(
            "--from-file",
            type=Path,
            help="fit: an order file, read as `import orders` reads it (formats, columns)",
        )
        parser.add_argument(
            "--format",
            choices=[*DATA_FORMATS, *LAYOUTS],
            help="a file format or a platform's export; default: from the suffix and header",
        )
        parser.add_argument(
            "--column",
            action="append",
            default=[],
            metavar="FIELD=COLUMN",
            help="which file column holds a field, as for `import orders`",
        )
        parser.add_argument("--customer-column", help="short for --column customer_id=...")
        parser.add_argument("--date-column", help="short for --column placed_at=...")
        parser.add_argument("--amount-column", help="short for --column amount=...")
        parser.add_argument(
            "--currency", help="fit: the sales in this currency (needed when a file has several)"
        )
        parser.add_argument("--time-zone", help="fit: the zone of times without an offset")
        parser.add_argument(
            "--period-days", type=float, default=rfm.DAYS_PER_WEEK, help="time unit in days"
        )
        parser.add_argument(
            "--no-pareto", action="store_true", help="fit: skip the Pareto/NBD comparison"
        )
        parser.add_argument(
            "--penalizer",
            type=float,
            default=0.0,
            help="fit: L2 penalty on the parameters (as lifetimes' penalizer_coef)",
        )
        parser.add_argument("--json", action="store_true", help="fit: print one JSON object")
        parser.add_argument(
            "--charts", type=Path, metavar="DIR", help="fit: write the hold-out charts as SVG"
        )
        parser.add_argument("--as-of", type=_date, help="score: the day to score at")
        parser.add_argument(
            "--enqueue", action="store_true", help="score: run it as a background task"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["action"] == "fit":
                self._fit(options)
            elif options["action"] == "score":
                self._score(options)
            else:
                when = nightly_scoring_schedule()
                self.stdout.write(f"Nightly scoring booked for {timezone.localtime(when):%c}.")
        except NotEnoughHistory as exc:
            raise CommandError(f"cannot fit the value models: {exc}") from exc

    def _fit(self, options: dict[str, Any]) -> None:
        calibration_end: date | None = options["calibration_end"]
        holdout_end: date | None = options["holdout_end"]
        if holdout_end and calibration_end is None:
            raise CommandError("--holdout-end needs --calibration-end")
        if holdout_end and calibration_end and holdout_end <= calibration_end:
            raise CommandError("--holdout-end must be after --calibration-end")
        if options["penalizer"] < 0:
            raise CommandError("--penalizer must be 0 or more")
        quiet = options["json"] or options["verbosity"] == 0
        with phase_progress_bars(enabled=not quiet) as progress:
            if options["from_file"]:
                report = self._fit_file(options, calibration_end, holdout_end)
            else:
                report = value_models_fit(
                    calibration_end=calibration_end or timezone.localdate(),
                    holdout_end=holdout_end,
                    with_pareto=not options["no_pareto"],
                    penalizer=options["penalizer"],
                    progress=progress,
                ).report
        if options["charts"]:
            written = self._write_charts(options["charts"], report)
            if not quiet:
                self.stdout.write(f"Charts: {', '.join(str(path) for path in written)}")
        if options["json"]:
            self.stdout.write(json.dumps(report))
        else:
            self._print_report(report)
        self._warn_unconverged(report)

    def _fit_file(
        self, options: dict[str, Any], calibration_end: date | None, holdout_end: date | None
    ) -> dict[str, Any]:
        path: Path = options["from_file"]
        layout = options["format"] if options["format"] in LAYOUTS else None
        shorthands = [
            f"{field}={options[option]}"
            for field, option in (
                ("customer_id", "customer_column"),
                ("placed_at", "date_column"),
                ("amount", "amount_column"),
            )
            if options[option]
        ]
        try:
            file_format: DataFormat = "csv" if layout else options["format"] or data_format_of(path)
            mapping = mapping_from_options(
                base=ColumnMapping(), options=[*options["column"], *shorthands]
            )
            transactions = transactions_from_file(
                path=path,
                file_format=file_format,
                mapping=mapping,
                layout=layout,
                currency=options["currency"].upper() if options["currency"] else None,
                time_zone=options["time_zone"],
            )
        except OrderFileError as exc:
            where = f"{path}:{exc.line}" if exc.line is not None else str(path)
            raise CommandError(f"cannot read {where}: {exc.reason}") from exc
        except (ValueError, zoneinfo.ZoneInfoNotFoundError) as exc:
            raise CommandError(f"cannot read {path}: {exc}") from exc
        if transactions.height == 0:
            raise CommandError(f"{path} has no transactions")
        last_day = transactions["date"].max()
        assert isinstance(last_day, date)
        calibration_end = calibration_end or last_day
        summary = rfm.rfm_summary(
            transactions=transactions,
            calibration_end=calibration_end,
            holdout_end=holdout_end,
            period_days=options["period_days"],
        )
        fits = fit_value_models(
            summary=summary, with_pareto=not options["no_pareto"], penalizer=options["penalizer"]
        )
        return fit_report(
            fits=fits,
            summary=summary,
            calibration_end=calibration_end,
            holdout_end=holdout_end,
            daily_counts=(
                holdout.daily_purchase_counts(
                    transactions=transactions,
                    calibration_end=calibration_end,
                    holdout_end=holdout_end,
                )
                if holdout_end
                else None
            ),
            period_days=options["period_days"],
            source=str(path),
        )

    def _write_charts(self, directory: Path, report: dict[str, Any]) -> list[Path]:
        svgs = holdout_charts(report=report)
        if not svgs:
            raise CommandError("--charts needs a hold-out: pass --holdout-end")
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        for name, svg in svgs.items():
            path = directory / f"holdout-{name}.svg"
            path.write_text(svg)
            written.append(path)
        return written

    def _score(self, options: dict[str, Any]) -> None:
        if options["enqueue"]:
            result = score_customers_now.enqueue(
                as_of=options["as_of"].isoformat() if options["as_of"] else None
            )
            self.stdout.write(f"Scoring queued as task {result.id}; a worker runs it.")
            return
        with phase_progress_bars(enabled=options["verbosity"] > 0) as progress:
            run = customers_score(as_of=options["as_of"], progress=progress)
        report = run.fit.report
        self.stdout.write(
            self.style.SUCCESS(
                f"Scored {run.customers_scored:,} customers as of {report['calibration_end']} "
                f"in {run.fit.seconds:.1f} s; value at risk refreshed on "
                f"{run.tickets_refreshed:,} active tickets."
            )
        )
        self._warn_unconverged(report)
        self.stdout.write(
            f"BG/NBD r={report['r']:.4g} alpha={report['alpha']:.4g} a={report['a']:.4g} "
            f"b={report['b']:.4g}; Gamma-Gamma p={report['p']:.4g} q={report['q']:.4g} "
            f"gamma={report['gamma']:.4g}"
        )

    def _warn_unconverged(self, report: dict[str, Any]) -> None:
        if models := unconverged_models(report=report):
            self.stderr.write(
                self.style.WARNING(
                    f"Warning: did not converge: {', '.join(models)}. These parameters, "
                    "and any scores from them, are unreliable; more history or --penalizer "
                    "may help."
                )
            )

    def _print_report(self, report: dict[str, Any]) -> None:
        write = self.stdout.write
        errors = report["standard_errors"]
        write(
            f"{report['customers']:,} customers ({report['repeat_customers']:,} with repeat "
            f"purchases), calibration to {report['calibration_end']}, source {report['source']}"
        )
        write("BG/NBD       " + _params(report, ("r", "alpha", "a", "b"), errors))
        write(f"             log-likelihood {report['log_likelihood']['bgnbd']:.1f}")
        spend = report["spend_model"]
        write("Gamma-Gamma  " + _params(report, ("p", "q", "gamma"), errors))
        write(
            f"             log-likelihood {report['log_likelihood']['gamma_gamma']:.1f}; "
            f"{spend['customers']:,} customers, {spend['left_out']:,} left out "
            f"({spend['left_out_why']})"
        )
        if pareto := report["pareto_nbd"]:
            write(
                "Pareto/NBD   "
                + _params(pareto, ("r", "alpha", "s", "beta"), pareto["standard_errors"])
            )
            write(f"             log-likelihood {report['log_likelihood']['pareto_nbd']:.1f}")
        for name, check in (report["holdout"] or {}).items():
            write(f"\nHold-out check, {name} (to {report['holdout_end']}):")
            write(
                f"  cumulative repeat purchases at the end: error "
                f"{_pct(check['final_cumulative_error_pct'], signed=True)}; tracking MAPE "
                f"{_pct(check['tracking_mape_pct'])}; by frequency MAPE "
                f"{_pct(check['conditional_mape_pct'])}"
            )
            write("  repeat purchases in calibration   customers   actual   predicted")
            for row in check["conditional"]:
                write(
                    f"  {row['frequency']:>32}   {row['customers']:>9,}   "
                    f"{row['actual']:>6.2f}   {row['predicted']:>9.2f}"
                )


def _params(values: dict[str, Any], names: tuple[str, ...], errors: dict[str, Any]) -> str:
    return "  ".join(f"{name} = {values[name]:.4g} (se {_se(errors.get(name))})" for name in names)


def _se(value: float | None) -> str:
    return f"{value:.3g}" if value is not None else "n/a"


def _pct(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.1f}%" if signed else f"{value:.1f}%"
