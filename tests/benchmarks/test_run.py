"""The benchmark driver's own logic (the benchmark itself is run by hand: make bench)."""

from __future__ import annotations

from benchmarks.run import remove_day_deliveries


def test_day_files_of_an_earlier_benchmark_are_removed_before_the_full_run(tmp_path):
    landing = tmp_path / "landing"
    kept = [
        "email_events/email_events_part00.parquet",
        "email_events/my_export.parquet",
        "contacts/contacts.parquet",
    ]
    day = ["email_events/email_events_20261206.parquet", "order_lines/order_lines_20261206.csv"]
    for name in kept + day:
        (landing / name).parent.mkdir(parents=True, exist_ok=True)
        (landing / name).write_bytes(b"x")
    assert remove_day_deliveries(landing) == 2
    assert sorted(str(p.relative_to(landing)) for p in landing.glob("*/*")) == sorted(kept)
