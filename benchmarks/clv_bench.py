"""Benchmark of the scipy BTYD models on synthetic customers; prints JSON.

    .venv/bin/python benchmarks/clv_bench.py                 # 1,000,000 customers
    .venv/bin/python benchmarks/clv_bench.py --n 100000 --export /tmp/clv_bench.npz

Steps (each timed): simulate customers from BG/NBD with known parameters and their
transactions (Gamma-Gamma amounts); load the transactions into DuckDB; RFM summary in SQL;
fit BG/NBD, MBG/NBD and Gamma-Gamma; score every customer (p_alive, expected purchases 90/365
days, expected order value, clv_12m). Parameter recovery is checked on the exact
(continuous-time) summary and on the day-granular SQL summary, and MBG/NBD recovery on a
population simulated from MBG/NBD. Times exclude the simulation itself.

The same file runs the pymc-marketing comparison in a separate virtualenv that has
pymc-marketing (never the project's):

    /tmp/pmm-venv/bin/python benchmarks/clv_bench.py --pymc-marketing /tmp/clv_bench.npz

It only needs numpy and pandas besides pymc-marketing, and times BetaGeoModel's MAP fit on
the summary exported by ``--export``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TRUE_BG = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}  # CDNOW, weeks
TRUE_MBG = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}  # CDNOW, weeks
TRUE_GG = {"p": 6.25, "q": 3.74, "gamma": 15.44}
OBSERVATION_END = dt.date(2026, 6, 30)
COHORT_DAYS = 78 * 7  # first purchases spread over 78 weeks before the observation end


def _rel_err(fitted: dict[str, float], true: dict[str, float]) -> dict[str, float]:
    return {k: round((fitted[k] - v) / v, 5) for k, v in true.items()}


def _blas_info() -> object:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    return [
        {k: i.get(k) for k in ("internal_api", "architecture", "num_threads")}
        for i in threadpool_info()
        if i.get("user_api") == "blas"
    ]


class Timer:
    def __init__(self) -> None:
        self.times: dict[str, float] = {}

    def __call__(self, name: str):
        timer = self

        class _Ctx:
            def __enter__(self):
                self.start = time.perf_counter()

            def __exit__(self, *exc):
                timer.times[name] = round(time.perf_counter() - self.start, 3)

        return _Ctx()


def run_scipy(n: int, seed: int, export: Path | None, with_sql: bool) -> dict:
    sys.path.insert(0, str(ROOT))
    import duckdb
    import pyarrow as pa

    from dagster_project.lib.clv import BGNBD, MBGNBD, GammaGamma, rfm_summary, score_customers
    from dagster_project.lib.clv.simulate import (
        simulate_beta_geo,
        simulate_spend,
        simulate_transactions,
    )

    rng = np.random.default_rng(seed)
    timer = Timer()
    out: dict = {"n_customers": n, "seed": seed, "time_unit": "weeks"}

    # ---------------------------------------------------------------- simulation (untimed)
    first_day = rng.integers(0, COHORT_DAYS, n)  # day offset of the first purchase
    end_offset = COHORT_DAYS  # observation end = day COHORT_DAYS
    T = (end_offset - first_day) / 7.0
    sim_start = time.perf_counter()
    sim = simulate_beta_geo(n, **TRUE_BG, T=T, rng=rng)
    m_exact = simulate_spend(sim.frequency, **TRUE_GG, rng=rng)
    out["simulation_seconds"] = round(time.perf_counter() - sim_start, 3)

    # ---------------------------------------------------------------- exact summary: fit + score
    with timer("fit_bgnbd_exact"):
        bg_exact = BGNBD.fit(sim.frequency, sim.recency, sim.T)
    out["recovery_exact"] = {
        "bgnbd": {k: round(v, 5) for k, v in bg_exact.params.items()},
        "bgnbd_rel_err": _rel_err(bg_exact.params, TRUE_BG),
    }
    with timer("fit_gamma_gamma_exact"):
        gg_exact = GammaGamma.fit(sim.frequency, m_exact)
    out["recovery_exact"]["gamma_gamma"] = {k: round(v, 5) for k, v in gg_exact.params.items()}
    out["recovery_exact"]["gamma_gamma_rel_err"] = _rel_err(gg_exact.params, TRUE_GG)
    out["p_alive_check"] = {
        "simulated_alive_fraction": round(float(sim.alive.mean()), 5),
        "mean_bgnbd_p_alive": round(
            float(bg_exact.p_alive(sim.frequency, sim.recency, sim.T).mean()), 5
        ),
    }

    # MBG/NBD recovery on an MBG/NBD population
    sim_mbg = simulate_beta_geo(n, **TRUE_MBG, T=T, rng=rng, modified=True)
    with timer("fit_mbgnbd_on_mbg_population"):
        mbg_exact = MBGNBD.fit(sim_mbg.frequency, sim_mbg.recency, sim_mbg.T)
    out["recovery_exact"]["mbgnbd"] = {k: round(v, 5) for k, v in mbg_exact.params.items()}
    out["recovery_exact"]["mbgnbd_rel_err"] = _rel_err(mbg_exact.params, TRUE_MBG)
    out["p_alive_check"]["mbg_population_alive_fraction"] = round(float(sim_mbg.alive.mean()), 5)
    out["p_alive_check"]["mean_mbgnbd_p_alive"] = round(
        float(mbg_exact.p_alive(sim_mbg.frequency, sim_mbg.recency, sim_mbg.T).mean()), 5
    )

    if with_sql:
        # ------------------------------------------------------------ transactions -> DuckDB
        tx = simulate_transactions(sim, first_day, time_unit_days=7.0, **TRUE_GG, rng=rng)
        start = np.datetime64(OBSERVATION_END - dt.timedelta(days=COHORT_DAYS), "D")
        table = pa.table(
            {
                "customer_id": pa.array(tx["customer"], pa.int64()),
                "ordered_at": pa.array(start + tx["day"].astype("timedelta64[D]")),
                "amount": pa.array(tx["amount"]),
            }
        )
        out["n_transactions"] = table.num_rows
        con = duckdb.connect()
        con.execute("SET threads TO 2")
        with timer("load_transactions_duckdb"):
            con.register("tx_arrow", table)
            con.execute("CREATE TABLE transactions AS SELECT * FROM tx_arrow")
            con.unregister("tx_arrow")
        with timer("rfm_summary_sql"):
            summary = rfm_summary(con, "transactions", OBSERVATION_END, time_unit="weeks")
        x, t_x, age, m = summary.frequency, summary.recency, summary.T, summary.monetary_value
    else:
        x, t_x, age, m = sim.frequency, sim.recency, sim.T, m_exact

    # ---------------------------------------------------------------- the pipeline's work
    with timer("fit_bgnbd"):
        bg = BGNBD.fit(x, t_x, age)
    with timer("fit_mbgnbd"):
        mbg = MBGNBD.fit(x, t_x, age)
    with timer("fit_gamma_gamma"):
        gg = GammaGamma.fit(x, m)
    with timer("score"):
        scores = score_customers(
            x, t_x, age, m, purchase_model=mbg, spend_model=gg, time_unit_days=7.0
        )
    with timer("score_discounted_10pct"):
        discounted = score_customers(
            x,
            t_x,
            age,
            m,
            purchase_model=mbg,
            spend_model=gg,
            time_unit_days=7.0,
            annual_discount_rate=0.10,
        )
    out["fitted"] = {
        "bgnbd": {
            **{k: round(v, 5) for k, v in bg.params.items()},
            "log_likelihood": round(bg.fit_info.log_likelihood, 2),
            "rows_after_compression": bg.fit_info.n_rows,
            "iterations": bg.fit_info.iterations,
        },
        "bgnbd_rel_err": _rel_err(bg.params, TRUE_BG),
        "mbgnbd": {
            **{k: round(v, 5) for k, v in mbg.params.items()},
            "log_likelihood": round(mbg.fit_info.log_likelihood, 2),
        },
        "gamma_gamma": {
            **{k: round(v, 5) for k, v in gg.params.items()},
            "log_likelihood": round(gg.fit_info.log_likelihood, 2),
        },
        "gamma_gamma_rel_err": _rel_err(gg.params, TRUE_GG),
    }
    out["score_means"] = {k: round(float(np.mean(v)), 5) for k, v in scores.items()}
    out["score_means"]["clv_12m_discounted_10pct"] = round(float(discounted["clv_12m"].mean()), 5)
    out["all_scores_finite"] = bool(all(np.isfinite(v).all() for v in scores.values()))

    pipeline = ["fit_bgnbd", "fit_mbgnbd", "fit_gamma_gamma", "score"]
    if with_sql:
        pipeline = ["rfm_summary_sql", *pipeline]
    out["seconds"] = timer.times
    out["pipeline_seconds"] = round(sum(timer.times[k] for k in pipeline), 3)
    out["pipeline_steps"] = pipeline
    out["target_seconds"] = 60
    out["within_target"] = out["pipeline_seconds"] <= 60
    out["recovery_within_5pct"] = bool(
        all(abs(v) < 0.05 for v in out["recovery_exact"]["bgnbd_rel_err"].values())
    )
    out["environment"] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "numpy": np.__version__,
        "scipy": __import__("scipy").__version__,
        "duckdb": duckdb.__version__,
        "blas": _blas_info(),
    }

    if export is not None:
        np.savez(
            export,
            frequency=x,
            recency=t_x,
            T=age,
            monetary_value=m,
            scipy_bgnbd=np.array([bg.params[k] for k in ("r", "alpha", "a", "b")]),
            scipy_fit_seconds=np.array(timer.times["fit_bgnbd"]),
        )
        out["exported"] = str(export)
    return out


def run_pymc_marketing(data_path: Path, n: int | None) -> dict:
    """Time pymc-marketing's MAP fits and predictions on an exported summary.

    Same work as the scipy pipeline: BetaGeoModel, ModifiedBetaGeoModel and GammaGammaModel
    fitted with ``method="map"`` (default priors), then P(alive), expected purchases over
    90 and 365 days (MBG/NBD) and expected spend (Gamma-Gamma) for every customer.
    """
    import pandas as pd

    start = time.perf_counter()
    import pymc_marketing
    from pymc_marketing.clv import BetaGeoModel, GammaGammaModel, ModifiedBetaGeoModel

    import_seconds = time.perf_counter() - start
    d = np.load(data_path)
    size = len(d["frequency"]) if n is None else min(n, len(d["frequency"]))
    data = pd.DataFrame(
        {
            "customer_id": np.arange(size),
            "frequency": d["frequency"][:size],
            "recency": d["recency"][:size],
            "T": d["T"][:size],
            "monetary_value": d["monetary_value"][:size],
        }
    )
    timer = Timer()
    out: dict = {
        "pymc_marketing": pymc_marketing.__version__,
        "n_customers": size,
        "import_seconds": round(import_seconds, 2),
    }

    def point(model) -> dict[str, float]:
        fit = model.fit_result  # an xarray Dataset of the MAP point (or an InferenceData)
        fit = getattr(fit, "posterior", fit)
        return {k: round(float(fit[k].mean()), 5) for k in fit.data_vars}

    rft = data[["customer_id", "frequency", "recency", "T"]]
    with timer("fit_bgnbd_map"):
        bg = BetaGeoModel(data=rft)
        bg.fit(method="map")
    with timer("fit_mbgnbd_map"):
        mbg = ModifiedBetaGeoModel(data=rft)
        mbg.fit(method="map")
    repeat = data[(data["frequency"] > 0) & (data["monetary_value"] > 0)]
    with timer("fit_gamma_gamma_map"):
        gg = GammaGammaModel(data=repeat[["customer_id", "frequency", "monetary_value"]])
        gg.fit(method="map")
    with timer("score"):
        p_alive = np.asarray(mbg.expected_probability_alive(rft))
        e90 = np.asarray(mbg.expected_purchases(rft, future_t=90 / 7))
        e365 = np.asarray(mbg.expected_purchases(rft, future_t=365 / 7))
        spend = np.asarray(
            gg.expected_customer_spend(data[["customer_id", "frequency", "monetary_value"]])
        )
        clv = e365 * spend
    out["params"] = {"bgnbd": point(bg), "mbgnbd": point(mbg), "gamma_gamma": point(gg)}
    out["scipy_bgnbd_params"] = dict(
        zip(("r", "alpha", "a", "b"), map(float, d["scipy_bgnbd"]), strict=True)
    )
    out["score_means"] = {
        "p_alive": round(float(p_alive.mean()), 5),
        "expected_purchases_90d": round(float(e90.mean()), 5),
        "expected_purchases_365d": round(float(e365.mean()), 5),
        "expected_avg_order_value": round(float(spend.mean()), 5),
        "clv_12m": round(float(np.nanmean(clv)), 5),
    }
    out["seconds"] = timer.times
    out["pipeline_seconds"] = round(sum(timer.times.values()), 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="number of customers")
    parser.add_argument("--seed", type=int, default=20260630)
    parser.add_argument("--no-sql", action="store_true", help="skip transactions + DuckDB")
    parser.add_argument("--export", type=Path, help="save the summary (npz) for pymc-marketing")
    parser.add_argument(
        "--pymc-marketing",
        type=Path,
        metavar="NPZ",
        help="time pymc-marketing on an exported summary instead",
    )
    args = parser.parse_args()
    if args.pymc_marketing is not None:
        n = args.n if "--n" in sys.argv else None
        with contextlib.redirect_stdout(sys.stderr):  # keep pymc's progress bars off stdout
            result = run_pymc_marketing(args.pymc_marketing, n)
    else:
        result = run_scipy(args.n, args.seed, args.export, not args.no_sql)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
