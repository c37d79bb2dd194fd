"""What `make run` shows while dbt builds: dbt's progress lines go to a file."""

from __future__ import annotations

import io

from dagster_project.cli import DbtProgressFilter


def test_dbt_progress_lines_go_to_the_file_and_the_rest_to_the_screen(tmp_path):
    screen, log = io.StringIO(), tmp_path / "logs" / "dbt_progress.log"
    stream = DbtProgressFilter(screen, log)
    lines = [
        "Running with dbt=1.11.16",
        "1 of 286 START sql view model staging.stg_raw__campaigns ....... [RUN]",
        "1 of 286 OK created sql view model staging.stg_raw__campaigns [\x1b[32mOK\x1b[0m in 1s]",
        "12 of 286 PASS not_null_stg_raw__orders_order_id ................ [PASS in 0.2s]",
        "13 of 286 WARN 3 accepted_values_stg_raw__orders_status ......... [WARN 3 in 0.2s]",
        "14 of 286 ERROR creating sql table model intermediate.int_x ..... [ERROR in 0.1s]",
        "Done. PASS=284 WARN=1 ERROR=1 SKIP=0 NO-OP=0 TOTAL=286",
    ]
    text = "\n".join(lines) + "\n"
    for start in range(0, len(text), 7):  # written in pieces, as a stream is
        stream.write(text[start : start + 7])
    stream.write("a last line without its newline")
    stream.close()
    shown = screen.getvalue().splitlines()
    assert shown == [
        "Running with dbt=1.11.16",
        f"(dbt's progress per model and test: {log}; REVEIL_DBT_VERBOSE=1 shows it here)",
        lines[4],
        lines[5],
        lines[6],
        "a last line without its newline",
    ]
    assert stream.hidden == 3
    assert log.read_text().splitlines() == [*lines, "a last line without its newline"]
