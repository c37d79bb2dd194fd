"""End-to-end benchmark: ``make bench SCALE=100k|1m|10m`` (or ``python -m benchmarks.run``).

Stages, each in its own process so peak memory is the RSS of the whole process tree:

1. generate      the demo generator at the scale (skipped when the data already exists)
   prepare       ``dbt parse`` in the benchmark's environment, as a deployment does once
2. pipeline      ``python -m dagster_project.cli run`` — the daily job through Dagster, then the
                 purge dry-run; split per stage from Dagster's own step timings
                 (ingest, gates, dbt, serving, report/exports, purge dry-run)
3. incremental   one more day of data (``--day``) and the daily job again
4. sql floor     one hand-written DuckDB SQL script over the same files: no orchestration, no
                 dbt, no gates (``benchmarks/floor.sql``)
5. pandas        what an analyst would otherwise write (``benchmarks/pandas_baseline.py``)

Writes ``benchmarks/results/<scale>.json`` (ignored) and ``benchmarks/results/<scale>.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psutil

from dagster_project import settings

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
SCALES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000, "10m": 10_000_000}
PYTHON = sys.executable


@dataclass
class Measure:
    name: str
    seconds: float
    peak_rss_mb: float
    returncode: int = 0
    detail: dict = field(default_factory=dict)
    samples: list = field(default_factory=list, repr=False)  # (t, rss_mb)


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def measured(
    name: str, cmd: list[str], env: dict, log: Path, keep_samples=False, cwd: Path = ROOT
) -> Measure:
    """Run ``cmd``, sampling the RSS of its whole process tree every 0.1 s."""
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    samples: list[tuple[float, float]] = []
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=cwd)
        ps = psutil.Process(proc.pid)
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                samples.append((time.time(), _tree_rss(ps) / 2**20))
                stop.wait(0.1)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        code = proc.wait()
        stop.set()
        thread.join()
    seconds = time.perf_counter() - started
    peak = max((rss for _, rss in samples), default=0.0)
    m = Measure(
        name, round(seconds, 2), round(peak, 1), code, samples=samples if keep_samples else []
    )
    status = "ok" if code == 0 else f"FAILED (exit {code}, see {log})"
    sys.stderr.write(f"  {name:<22}{seconds:>9.1f} s {peak:>9.0f} MB  {status}\n")
    return m


def _env(data: Path) -> dict:
    env = dict(os.environ)
    env.update(
        REVEIL_DATA_DIR=str(data),
        REVEIL_WAREHOUSE=str(data / "warehouse" / "reveil.duckdb"),
        DAGSTER_HOME=str(data / "dagster_home"),
        REVEIL_DUCKDB_TEMP_DIR=str(data / "tmp"),
        REVEIL_LOG_LEVEL="WARNING",
        # as make does: `prepare`'s parse and the runs render dbt's profile alike
        REVEIL_DUCKDB_THREADS=str(settings.duckdb_threads()),
    )
    (data / "dagster_home").mkdir(parents=True, exist_ok=True)
    # the project's instance settings of today (storage, pools), also over an earlier copy
    shutil.copy(ROOT / "dagster.yaml", data / "dagster_home" / "dagster.yaml")
    return env


STAGE_OF_STEP = (
    ("staged__", "ingest"),
    ("publish_raw", "ingest"),
    ("reveil_dbt_models", "dbt"),
    ("serving", "serving"),
    ("report", "report"),
    ("audience", "audiences"),
    ("predict", "predictions"),
    ("purge", "purge dry-run"),
)


def _stage(step_key: str) -> str:
    if "gate" in step_key or "check" in step_key:
        return "gates"
    for prefix, stage in STAGE_OF_STEP:
        if prefix in step_key:
            return stage
    return "other"


def step_breakdown(env: dict, since: float, samples: list) -> dict[str, dict]:
    """Per-stage wall time (sum of Dagster step durations) and peak RSS over those steps."""
    code = (
        "import json, sys, dagster as dg\n"
        "inst = dg.DagsterInstance.get()\n"
        "out = []\n"
        "for r in inst.get_runs(filters=dg.RunsFilter(created_after=__import__('datetime')"
        f".datetime.fromtimestamp({since}))):\n"
        "    for s in inst.get_run_step_stats(r.run_id):\n"
        "        out.append([r.job_name, s.step_key, s.start_time, s.end_time])\n"
        "print(json.dumps(out))\n"
    )
    result = subprocess.run(
        [PYTHON, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT, check=False
    )
    try:
        steps = json.loads(result.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {"error": {"seconds": 0, "detail": result.stderr[-2000:]}}
    stages: dict[str, dict] = {}
    for _job, step_key, start, end in steps:
        if start is None or end is None:
            continue
        stage = _stage(step_key)
        entry = stages.setdefault(stage, {"seconds": 0.0, "peak_rss_mb": 0.0, "steps": 0})
        entry["seconds"] = round(entry["seconds"] + (end - start), 2)
        entry["steps"] += 1
        peak = max((rss for t, rss in samples if start <= t <= end), default=0.0)
        entry["peak_rss_mb"] = round(max(entry["peak_rss_mb"], peak), 1)
    return stages


_DAY_FILE = re.compile(r"^[a-z_]+_\d{8}\.(parquet|csv)$")


def remove_day_deliveries(landing: Path) -> int:
    """Delete the generator's day deliveries (``<source>_YYYYMMDD.parquet``) of an earlier
    benchmark: left there, the full run would load them and the day regenerated after it,
    the same bytes, would be skipped as already loaded (an empty "one more day")."""
    removed = 0
    for path in landing.glob("*/*"):
        if path.is_file() and _DAY_FILE.match(path.name):
            path.unlink()
            removed += 1
    return removed


def dbt_breakdown(since: float, top: int = 8) -> list[list]:
    """The slowest dbt nodes of the newest dagster-dbt invocation started after ``since``
    (its ``run_results.json`` under dbt/target): where the dbt stage's time goes."""
    results = [
        p
        for p in (ROOT / "dbt" / "target").glob("*/run_results.json")
        if p.stat().st_mtime >= since
    ]
    if not results:
        return []
    newest = max(results, key=lambda p: p.stat().st_mtime)
    nodes = json.loads(newest.read_text()).get("results", [])
    nodes.sort(key=lambda r: -r.get("execution_time", 0))
    return [[r["unique_id"], round(r.get("execution_time", 0), 1)] for r in nodes[:top]]


def machine() -> dict:
    import duckdb

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "os": platform.platform(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def markdown(report: dict) -> str:
    lines = [
        f"# Benchmark — {report['scale']} contacts ({report['contacts']:,})",
        "",
        f"Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores, "
        f"{report['machine']['memory_gb']} GB; Python {report['machine']['python']}, "
        f"DuckDB {report['machine']['duckdb']}; {report['machine']['date']}.",
        f"Command: `make bench SCALE={report['scale']}`. "
        f"DuckDB memory limit {report['duckdb_memory_limit']}.",
        "",
        "| stage | wall time (s) | peak RSS (MB) |",
        "|---|---:|---:|",
    ]
    for m in report["measures"]:
        lines.append(f"| {m['name']} | {m['seconds']:.1f} | {m['peak_rss_mb']:.0f} |")
        for stage, entry in m.get("detail", {}).get("stages", {}).items():
            lines.append(
                f"| &nbsp;&nbsp;↳ {stage} ({entry.get('steps', 0)} steps) | "
                f"{entry.get('seconds', 0):.1f} | {entry.get('peak_rss_mb', 0):.0f} |"
            )
    for m in report["measures"]:
        if m.get("detail", {}).get("dbt_slowest"):
            lines += ["", f"Slowest dbt nodes, {m['name']} (s, dbt's run_results.json):", ""]
            lines += [f"- {node}: {seconds}" for node, seconds in m["detail"]["dbt_slowest"]]
    if report.get("rows"):
        lines += ["", "Rows: " + ", ".join(f"{k} {v:,}" for k, v in report["rows"].items())]
    if report.get("ratios"):
        lines += ["", "| ratio | value |", "|---|---:|"]
        lines += [f"| {k} | {v} |" for k, v in report["ratios"].items()]
    if report.get("notes"):
        lines += ["", *[f"- {n}" for n in report["notes"]]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run")
    parser.add_argument("--scale", choices=sorted(SCALES), default="100k")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data", type=Path, default=BENCH / "data")
    parser.add_argument("--fresh", action="store_true", help="regenerate the data")
    parser.add_argument("--skip", nargs="*", default=[], choices=["pandas", "floor", "incremental"])
    args = parser.parse_args(argv)

    contacts = SCALES[args.scale]
    data = args.data / args.scale
    landing = data / "landing"
    logs = data / "logs"
    if args.fresh and data.exists():
        shutil.rmtree(data)
    env = _env(data)
    # the history ends the day before yesterday; the incremental day is yesterday (a day file
    # dated today would hold events later than now, which the gates rightly reject)
    as_of = date.today() - timedelta(days=2)
    day = as_of + timedelta(days=1)
    measures: list[Measure] = []
    notes: list[str] = []
    sys.stderr.write(f"benchmark {args.scale}: {contacts:,} contacts into {data}\n")

    if not (landing / "contacts").exists():
        measures.append(
            measured(
                "generate",
                [
                    PYTHON,
                    "-m",
                    "dagster_project.generate",
                    "--contacts",
                    str(contacts),
                    "--seed",
                    str(args.seed),
                    "--out",
                    str(landing),
                    "--format",
                    "parquet",
                    "--as-of",
                    as_of.isoformat(),
                ],
                env,
                logs / "generate.log",
            )
        )
    else:
        notes.append("generate: data already present, not regenerated (use --fresh)")

    # a deployment parses the dbt project once in the environment it runs in (`make run` does:
    # `make manifest`); the daily runs then parse partially. Without it every benchmarked dbt
    # step would parse in full (~3.5 s), since the profile differs from `make manifest`'s.
    measures.append(
        measured(
            "prepare (dbt parse)",
            [
                str(Path(PYTHON).parent / "dbt"),
                "parse",
                "--quiet",
                "--profiles-dir",
                ".",
                "--project-dir",
                ".",
            ],
            env,
            logs / "parse.log",
            # from dbt/, as `make manifest`: the parse keeps seed paths relative to where it
            # ran, and dagster-dbt runs dbt from dbt/
            cwd=ROOT / "dbt",
        )
    )

    # full pipeline from an empty warehouse, over the history only
    for leftover in ("warehouse", "serving", "exports", "reports"):
        shutil.rmtree(data / leftover, ignore_errors=True)
    removed = remove_day_deliveries(landing)
    if removed:
        notes.append(f"removed {removed} day file(s) of an earlier benchmark before the full run")
    since = time.time()
    full = measured(
        "pipeline (full, Dagster)",
        [PYTHON, "-m", "dagster_project.cli", "run", "--no-demo"],
        env,
        logs / "pipeline.log",
        keep_samples=True,
    )
    full.detail["stages"] = step_breakdown(env, since, full.samples)
    full.detail["dbt_slowest"] = dbt_breakdown(since)
    measures.append(full)

    if "incremental" not in args.skip and full.returncode == 0:
        measures.append(
            measured(
                "generate one day",
                [
                    PYTHON,
                    "-m",
                    "dagster_project.generate",
                    "--contacts",
                    str(contacts),
                    "--seed",
                    str(args.seed),
                    "--out",
                    str(landing),
                    "--format",
                    "parquet",
                    "--as-of",
                    as_of.isoformat(),
                    "--day",
                    day.isoformat(),
                ],
                env,
                logs / "generate_day.log",
            )
        )
        since = time.time()
        inc = measured(
            "pipeline (one more day)",
            [PYTHON, "-m", "dagster_project.cli", "run", "--no-demo"],
            env,
            logs / "incremental.log",
            keep_samples=True,
        )
        inc.detail["stages"] = step_breakdown(env, since, inc.samples)
        inc.detail["dbt_slowest"] = dbt_breakdown(since)
        measures.append(inc)

    floor = None
    if "floor" not in args.skip:
        floor = measured(
            "sql floor (DuckDB script)",
            [PYTHON, "-m", "benchmarks.floor", "--landing", str(landing)],
            env,
            logs / "floor.log",
        )
        measures.append(floor)
    pandas = None
    if "pandas" not in args.skip:
        pandas = measured(
            "pandas baseline",
            [PYTHON, "-m", "benchmarks.pandas_baseline", "--landing", str(landing)],
            env,
            logs / "pandas.log",
        )
        measures.append(pandas)
        if pandas.returncode != 0:
            notes.append(
                f"pandas baseline failed (exit {pandas.returncode}): see {logs}/pandas.log"
            )

    rows = {}
    warehouse = data / "warehouse" / "reveil.duckdb"
    if warehouse.exists():
        import duckdb

        with duckdb.connect(str(warehouse), read_only=True) as con:
            for table in ("contacts", "email_events", "orders"):
                rows[table] = con.execute(f"select count(*) from raw.{table}").fetchone()[0]
    ratios = {}
    if floor and floor.returncode == 0 and full.returncode == 0:
        ratios["pipeline / sql floor"] = round(full.seconds / floor.seconds, 2)
    if floor and pandas and pandas.returncode == 0 and floor.returncode == 0:
        ratios["pandas / sql floor"] = round(pandas.seconds / floor.seconds, 2)
    if pandas and pandas.returncode == 0 and full.returncode == 0:
        ratios["pandas / pipeline"] = round(pandas.seconds / full.seconds, 2)

    report = {
        "scale": args.scale,
        "contacts": contacts,
        "machine": machine(),
        "duckdb_memory_limit": env.get(
            "REVEIL_DUCKDB_MEMORY_LIMIT", settings.DEFAULT_DUCKDB_MEMORY_LIMIT
        ),
        "measures": [{k: v for k, v in asdict(m).items() if k != "samples"} for m in measures],
        "rows": rows,
        "ratios": ratios,
        "notes": notes,
    }
    results = BENCH / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{args.scale}.json").write_text(json.dumps(report, indent=2))
    (results / f"{args.scale}.md").write_text(markdown(report))
    sys.stdout.write(markdown(report))
    return 0 if all(m.returncode == 0 for m in measures) else 1


if __name__ == "__main__":
    sys.exit(main())
