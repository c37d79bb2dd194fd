"""``python -m dagster_project.generate --contacts N --seed S --out DIR --format parquet|csv``."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from datetime import date

from dagster_project.generate.core import FORMATS, GeneratorInputError, generate, generate_day
from dagster_project.generate.timeline import DEFAULT_HISTORY_DAYS, FUTURE_DAYS


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from exc


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m dagster_project.generate",
        description=(
            "Generate reveil's source data (contacts, campaigns, email_events, orders, "
            "order_lines, company_registry) into DIR/<source>/, deterministically from the "
            "seed."
        ),
    )
    p.add_argument("--contacts", type=int, default=2_000, help="contacts in the history")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", required=True, help="landing folder (one sub-folder per source)")
    p.add_argument("--format", choices=FORMATS, default="parquet")
    p.add_argument(
        "--as-of",
        type=_date,
        default=None,
        help="last day of the history (default: yesterday, UTC); with --day: the "
        "as_of of the history the day follows (default: the day before)",
    )
    p.add_argument(
        "--history-days",
        type=int,
        default=DEFAULT_HISTORY_DAYS,
        help="days of events and orders in the history (default %(default)s)",
    )
    p.add_argument(
        "--defect-rate",
        type=float,
        default=0.0,
        help="rate of injected defects per applicable row (default 0: none)",
    )
    p.add_argument(
        "--day",
        type=_date,
        default=None,
        help=f"write only the delivery of this day (up to {FUTURE_DAYS} days after "
        "the history's as_of) as <source>_<YYYYMMDD> files",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(message)s",
        stream=sys.stderr,
    )
    common = dict(
        contacts=args.contacts,
        seed=args.seed,
        fmt=args.format,
        as_of=args.as_of,
        history_days=args.history_days,
        defect_rate=args.defect_rate,
    )
    started = time.perf_counter()
    try:
        if args.day is None:
            counts = generate(args.out, **common)
        else:
            counts = generate_day(args.out, args.day, **common)
    except GeneratorInputError as exc:
        parser().error(str(exc))
    elapsed = time.perf_counter() - started
    what = f"day {args.day}" if args.day else "history"
    print(f"{what} written to {args.out} ({args.format}, seed {args.seed}) in {elapsed:.1f} s")  # noqa: T201
    for source, rows in counts.items():
        print(f"  {source:<18} {rows:>12,} rows")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
