"""The dbt asset's plumbing without a database: build_dbt_args (the dbt CLI arguments of a run,
from its run config), pruning of invocation folders, the order events are yielded in."""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import shutil
import sys

import pytest
import yaml

from dagster_project import settings
from dagster_project.defs.dbt import (
    _FLAG_FIELDS,
    DbtRunConfig,
    ReveilDbtCliResource,
    _stream_with_mart_row_counts,
    build_dbt_args,
    dbt_executable,
    dbt_project,
    prune_invocation_dirs,
)


@pytest.mark.parametrize("target", [None, "duckdb"])
def test_defaults_build_everything_without_vars(target):
    # the profile's default target is not named, so a run reuses `make manifest`'s parse
    assert build_dbt_args(DbtRunConfig(), target=target) == [
        "build",
        "--exclude",
        "resource_type:unit_test",
        "--indirect-selection",
        "cautious",
    ]


def test_unit_tests_run_only_when_asked():
    assert build_dbt_args(DbtRunConfig(unit_tests=True)) == [
        "build",
        "--indirect-selection",
        "cautious",
    ]


def test_only_the_vars_that_were_set_are_passed():
    args = build_dbt_args(DbtRunConfig(attribution_window_days=7, as_of_date="2024-06-30"))

    assert args[:2] == ["build", "--vars"]
    assert args[3:] == ["--exclude", "resource_type:unit_test", "--indirect-selection", "cautious"]
    assert json.loads(args[2]) == {"attribution_window_days": 7, "as_of_date": "2024-06-30"}


def test_vars_json_is_deterministic_and_keeps_types():
    config = DbtRunConfig(
        lost_window_multiple=2.5,
        annual_cycle_industries=["education", "tourism"],
        attribution_model="first_touch",
        inactivity_window_days_b2c=60,
    )

    args = build_dbt_args(config)

    assert args[2] == (
        '{"annual_cycle_industries": ["education", "tourism"], '
        '"attribution_model": "first_touch", "inactivity_window_days_b2c": 60, '
        '"lost_window_multiple": 2.5}'
    )


def test_a_zero_override_is_still_passed():
    # 0 is a value, only None means "not set"
    assert json.loads(build_dbt_args(DbtRunConfig(at_risk_window_ratio=0))[2]) == {
        "at_risk_window_ratio": 0
    }


def test_full_refresh_is_a_flag_not_a_var():
    assert build_dbt_args(DbtRunConfig(full_refresh=True, unit_tests=True)) == [
        "build",
        "--full-refresh",
        "--indirect-selection",
        "cautious",
    ]


def test_a_malformed_as_of_date_fails_before_dbt_runs():
    with pytest.raises(ValueError):
        build_dbt_args(DbtRunConfig(as_of_date="30/06/2024"))


def test_every_dbt_var_can_be_overridden_from_the_run_config():
    """DbtRunConfig has one field per var of dbt_project.yml, and no field dbt ignores."""
    project = yaml.safe_load((settings.DBT_PROJECT_DIR / "dbt_project.yml").read_text())
    dbt_vars = set(project["vars"])
    fields = set(DbtRunConfig.model_fields) - _FLAG_FIELDS

    assert fields - dbt_vars == set(), "fields of DbtRunConfig that are not dbt vars"
    assert dbt_vars - fields == set(), "dbt vars missing from DbtRunConfig"


def test_the_target_is_passed_when_given():
    assert build_dbt_args(DbtRunConfig(unit_tests=True), target="spark") == [
        "build",
        "--target",
        "spark",
        "--indirect-selection",
        "cautious",
    ]


def test_dbt_is_found_without_the_virtualenv_on_path(monkeypatch):
    """`make dev` code servers may not have .venv/bin on PATH: dbt must still be found."""
    from pathlib import Path

    from dagster_project.defs.dbt import dbt_executable

    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert Path(dbt_executable()).exists()


def test_old_dbt_invocation_folders_are_pruned(tmp_path):
    import os

    for i in range(5):
        folder = tmp_path / f"reveil_dbt_models-{i}"
        folder.mkdir()
        (folder / "manifest.json").write_text("{}")
        os.utime(folder, (1_000_000 + i, 1_000_000 + i))
    (tmp_path / "manifest.json").write_text("{}")  # `make manifest`'s own files stay

    assert prune_invocation_dirs(tmp_path, keep=2) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "manifest.json",
        "reveil_dbt_models-3",
        "reveil_dbt_models-4",
    ]


def test_events_stream_while_dbt_runs_and_only_the_marts_wait(monkeypatch):
    """Dagster stores each event as it is yielded: the events of staging and intermediate
    models go out as dbt emits them; the marts' wait for dbt to exit (their row counts)."""
    import dagster as dg

    from dagster_project.defs import dbt as dbt_defs

    keys = {"stg": dg.AssetKey(["staging", "stg"]), "mart": dg.AssetKey(["marts", "m"])}
    emitted: list[str] = []

    def dbt_events():
        for name in ("stg", "mart"):
            emitted.append(name)
            yield dg.Output(None, output_name=name)
        mart_check = dg.AssetCheckResult(
            passed=True, asset_key=keys["mart"], check_name="unique_m_id"
        )
        emitted.append("mart check")
        yield mart_check
        emitted.append("dbt exited")

    monkeypatch.setattr(
        dbt_defs,
        "_row_counts",
        lambda tables: {t: {"dagster/row_count": dg.MetadataValue.int(3)} for t in tables},
    )
    stream = _stream_with_mart_row_counts(dbt_events(), keys, log=None)
    first = next(stream)
    assert first.output_name == "stg" and emitted == ["stg"]  # dbt has not gone further
    rest = list(stream)
    assert emitted[-1] == "dbt exited"
    assert [type(e).__name__ for e in rest] == ["Output", "AssetCheckResult"]
    assert rest[0].metadata["dagster/row_count"].value == 3


def test_dbt_version_of_this_virtualenv_is_read_without_running_dbt(monkeypatch, tmp_path):
    """dagster-dbt's ``dbt --version`` subprocess (~2 s per build) is skipped for this
    virtualenv's dbt; another executable is still asked."""
    import dagster_dbt.core.resource as dagster_dbt_resource

    calls = []

    def check_output(args, *rest, **kwargs):
        calls.append(args)
        return b"Core:\n  - installed: 9.8.7\n"

    monkeypatch.setattr(dagster_dbt_resource, "check_output", check_output)
    ours = ReveilDbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable())
    assert str(ours._cli_version) == importlib.metadata.version("dbt-core")
    assert calls == []
    elsewhere = tmp_path / "dbt"
    elsewhere.write_text("#!/bin/sh\n")
    elsewhere.chmod(0o755)
    other = ReveilDbtCliResource(project_dir=dbt_project, dbt_executable=str(elsewhere))
    assert str(other._cli_version) == "9.8.7"
    assert calls == [[str(elsewhere), "--version"]]


def test_no_dbt_adapter_is_opened_in_dagsters_process(monkeypatch, tmp_path):
    """dagster-dbt opens a read-only dbt adapter before every invocation (profile, project and
    dbt's macros parsed in Dagster's process, ~1.5 s) for row counts / column metadata that
    reveil does not fetch: the invocation gets none, and dbt's macros are not parsed."""
    import dagster_dbt.core.resource as dagster_dbt_resource
    from dbt.parser.manifest import ManifestLoader

    monkeypatch.setenv("REVEIL_WAREHOUSE", str(tmp_path / "reveil.duckdb"))  # the profile's
    parsed = []
    monkeypatch.setattr(ManifestLoader, "load_macros", lambda *a, **k: parsed.append(a))
    launched = {}

    def run(**kwargs):
        launched.update(kwargs)
        return "invocation"

    monkeypatch.setattr(dagster_dbt_resource.DbtCliInvocation, "run", run)
    ours = ReveilDbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable())
    assert ours.cli(["build"]) == "invocation"
    assert launched["adapter"] is None
    assert parsed == []  # dagster-dbt's own method parses them (and swallows any error)
    assert launched["args"][1:] == ["build"]


@pytest.mark.skipif(
    sys.platform != "linux" or shutil.which("setpriv") is None,
    reason="PR_SET_PDEATHSIG is Linux's, set by util-linux's setpriv",
)
def test_dbt_dies_with_the_process_that_started_it(tmp_path):
    """dbt runs through DBT_LAUNCHER: when the process that started it is killed with SIGKILL
    (a `make run` killed hard), the kernel kills dbt too; it used to keep writing the
    warehouse. A stand-in for dbt (sleep) is started as dagster-dbt starts dbt."""
    import os
    import signal
    import subprocess
    import time

    import psutil

    from dagster_project.defs.dbt import DBT_LAUNCHER, LAUNCHED_DBT_ENV, dbt_resource

    assert dbt_resource.dbt_executable == str(DBT_LAUNCHER)
    assert dbt_resource.launched_dbt == dbt_executable()
    assert str(dbt_resource._cli_version) == importlib.metadata.version("dbt-core")
    starter = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time\n"
            "child = subprocess.Popen(sys.argv[1:])\n"
            "print(child.pid, flush=True)\n"
            "time.sleep(120)\n",
            str(DBT_LAUNCHER),
            "120",
        ],
        env={**os.environ, LAUNCHED_DBT_ENV: "/bin/sleep"},
        stdout=subprocess.PIPE,
        text=True,
    )
    dbt = None
    try:
        dbt = psutil.Process(int(starter.stdout.readline()))
        deadline = time.monotonic() + 10
        while dbt.cmdline() != ["/bin/sleep", "120"] and time.monotonic() < deadline:
            time.sleep(0.05)  # the launcher execs setpriv, which execs dbt
        assert dbt.cmdline() == ["/bin/sleep", "120"]
        starter.send_signal(signal.SIGKILL)
        starter.wait()
        gone, _ = psutil.wait_procs([dbt], timeout=5)
        zombie = dbt.is_running() and dbt.status() == psutil.STATUS_ZOMBIE  # not reaped yet
        assert gone or zombie, "dbt outlived the process that started it"
    finally:
        starter.kill()
        starter.wait()
        with contextlib.suppress(psutil.Error, AttributeError):
            dbt.kill()
