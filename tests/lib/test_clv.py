"""Tests of the scipy BTYD models (dagster_project.lib.clv).

Validation against the literature uses the CDNOW 1/10th sample shipped inside the lifetimes
wheel (a dev dependency). Only the data file is read: lifetimes' modules are never imported
(they break on pandas 3). Published values:

* BG/NBD: r=0.243, alpha=4.414, a=0.793, b=2.426, LL=-9582.4 (Fader, Hardie & Lee 2005,
  "Counting your customers the easy way"); E[X(t)] and the conditional expectation 1.226 of
  the customer (x=2, t_x=30.43, T=38.86) over 39 weeks come from Hardie's spreadsheet.
* MBG/NBD: r=0.525, alpha=6.183, a=0.891, b=1.614 (BTYDplus, as quoted by lifetimes' tests).
* Gamma-Gamma: p=6.25, q=3.74, gamma=15.44 (Fader & Hardie 2013, "The Gamma-Gamma model of
  monetary value"), LL=-4055.9177 (CLVTools' correctness test); conditional expected
  average values of the first ten customers from Hardie's spreadsheet.
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from scipy import integrate, stats
from scipy.optimize import check_grad
from scipy.special import betaln, hyp2f1

from dagster_project.lib.clv import (
    BGNBD,
    MBGNBD,
    SCORE_COLUMNS,
    GammaGamma,
    calibration_holdout_diagnostics,
    fit_clv_models,
    rfm_calibration_holdout,
    rfm_summary,
    score_customers,
    score_summary,
)
from dagster_project.lib.clv.simulate import simulate_beta_geo, simulate_spend

CDNOW_BG = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
CDNOW_MBG = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}
CDNOW_GG = {"p": 6.25, "q": 3.74, "gamma": 15.44}


# ---------------------------------------------------------------------------- CDNOW fixtures
def _lifetimes_datasets() -> Path:
    spec = importlib.util.find_spec("lifetimes")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("lifetimes (dev dependency shipping the CDNOW sample) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets"


@pytest.fixture(scope="module")
def cdnow_con() -> duckdb.DuckDBPyConnection:
    path = _lifetimes_datasets() / "CDNOW_sample.txt"
    con = duckdb.connect()
    # whitespace-separated: master id, sample id, date YYYYMMDD, number of CDs, dollar value
    con.execute(
        f"""
        CREATE TABLE cdnow AS
        SELECT CAST(f[2] AS INTEGER) AS customer_id,
               CAST(strptime(f[3], '%Y%m%d') AS DATE) AS ordered_at,
               CAST(f[4] AS INTEGER) AS cds,
               CAST(f[5] AS DOUBLE) AS amount
        FROM (
            SELECT string_split_regex(trim(line), '\\s+') AS f
            FROM read_csv('{path}', header = false, columns = {{'line': 'VARCHAR'}},
                          delim = '\\t', quote = '', escape = '')
        )
        """
    )
    return con


@pytest.fixture(scope="module")
def cdnow(cdnow_con):
    return rfm_calibration_holdout(
        cdnow_con, "cdnow", "1997-09-30", "1998-06-30", time_unit="weeks"
    )


@pytest.fixture(scope="module")
def cdnow_models(cdnow):
    s = cdnow.calibration
    return fit_clv_models(s)


# ---------------------------------------------------------------------------- CDNOW validation
def test_cdnow_summary_matches_published_summary(cdnow, cdnow_con):
    s = cdnow.calibration
    assert cdnow_con.execute("SELECT count(*) FROM cdnow").fetchone()[0] == 6919
    assert len(s) == 2357
    assert int(s.frequency.sum()) == 2457  # repeat transactions in the 39 calibration weeks
    assert s.T.max() == pytest.approx(272 / 7)  # 1997-01-01 .. 1997-09-30
    assert cdnow.duration_holdout == pytest.approx(39.0)
    # the summary Fader & Hardie published (shipped by lifetimes, 2 decimals)
    with open(_lifetimes_datasets() / "cdnow_customers_summary_with_transactions.csv") as fh:
        rows = list(csv.DictReader(fh))
    ref = {k: np.array([float(r[k]) for r in rows]) for k in ("ID", "x", "t_x", "T", "zbar")}
    np.testing.assert_array_equal(s.customer_id, ref["ID"])
    np.testing.assert_array_equal(s.frequency, ref["x"])
    np.testing.assert_allclose(s.recency, ref["t_x"], atol=0.0051)
    np.testing.assert_allclose(s.T, ref["T"], atol=0.0051)
    np.testing.assert_allclose(s.monetary_value, ref["zbar"], atol=0.0051)


def test_bgnbd_reproduces_fader_hardie_lee_on_cdnow(cdnow_models):
    bg = cdnow_models.bgnbd
    for key, published in CDNOW_BG.items():
        assert bg.params[key] == pytest.approx(published, rel=0.01), key
    assert bg.fit_info.log_likelihood == pytest.approx(-9582.4, rel=0.01)
    assert bg.fit_info.log_likelihood == pytest.approx(-9582.4, abs=0.1)  # in fact to 0.1
    assert bg.fit_info.converged


def test_bgnbd_expectations_match_hardie_spreadsheet(cdnow_models):
    bg = cdnow_models.bgnbd
    times = [0.1429, 1.0, 3.00, 31.8571, 32.00, 78.00]
    expected = [0.0078, 0.0532, 0.1506, 1.0405, 1.0437, 1.8576]
    np.testing.assert_allclose(bg.expected_purchases(times), expected, atol=1e-3)
    cond = bg.conditional_expected_purchases(39, 2, 30.43, 38.86)
    assert cond[0] == pytest.approx(1.226, abs=1e-3)


def test_fit_does_not_depend_on_the_time_unit(cdnow):
    s = cdnow.calibration
    for model in (BGNBD, MBGNBD):
        weeks = model.fit(s.frequency, s.recency, s.T)
        days = model.fit(s.frequency, s.recency * 7, s.T * 7)
        assert days.alpha == pytest.approx(7 * weeks.alpha, rel=1e-4)
        for key in ("r", "a", "b"):
            assert days.params[key] == pytest.approx(weeks.params[key], rel=1e-4)
        # the density of t_x changes by the Jacobian: x log 7 per customer
        shift = float(s.frequency.sum()) * np.log(7)
        assert days.fit_info.log_likelihood == pytest.approx(
            weeks.fit_info.log_likelihood - shift, abs=1e-3
        )


def test_mbgnbd_fits_cdnow_like_btydplus(cdnow_models):
    mbg, bg = cdnow_models.mbgnbd, cdnow_models.bgnbd
    for key, published in CDNOW_MBG.items():
        assert mbg.params[key] == pytest.approx(published, rel=0.01), key
    # same number of parameters, a fit as good as BG/NBD's
    assert mbg.fit_info.log_likelihood == pytest.approx(bg.fit_info.log_likelihood, abs=5)


def test_gamma_gamma_reproduces_fader_hardie_on_cdnow(cdnow, cdnow_models):
    gg = cdnow_models.gamma_gamma
    for key, published in CDNOW_GG.items():
        assert gg.params[key] == pytest.approx(published, rel=0.01), key
    assert gg.fit_info.n_customers == 946  # repeat customers of the calibration period
    assert gg.fit_info.log_likelihood == pytest.approx(-4055.9177, abs=0.01)
    # Hardie's spreadsheet: E[Z | x, zbar] for the first ten customers, p=6.25 q=3.74 g=15.44
    s = cdnow.calibration
    published = GammaGamma(**CDNOW_GG)
    got = published.conditional_expected_average_value(s.frequency[:10], s.monetary_value[:10])
    expected = [24.65, 18.91, 35.17, 35.17, 35.17, 71.46, 18.91, 35.17, 27.28, 35.17]
    np.testing.assert_allclose(got, expected, atol=0.1)


def test_cdnow_diagnostics(cdnow, cdnow_models):
    diag = calibration_holdout_diagnostics(
        [cdnow_models.bgnbd, cdnow_models.mbgnbd], cdnow, spend_model=cdnow_models.gamma_gamma
    )
    assert diag["n_customers"] == 2357
    bins = diag["holdout_bins"]
    assert [b["frequency_cal"] for b in bins] == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert sum(b["customers"] for b in bins) == 2357
    assert bins[0]["customers"] == 1411
    for name in ("BG/NBD", "MBG/NBD"):
        stats_ = diag["models"][name]
        assert stats_["holdout_actual_total"] == float(cdnow.frequency_holdout.sum())
        # conditional predictions of the holdout: within 20 % of what happened
        assert abs(stats_["holdout_error_pct"]) < 20
        means = [b[f"predicted_mean[{name}]"] for b in bins]
        assert means == sorted(means)  # more calibration purchases, more predicted
    assert diag["models"]["BG/NBD"]["log_likelihood"] == pytest.approx(-9582.43, abs=0.01)
    assert abs(diag["spend"]["frequency_value_correlation"]) < 0.3
    md = diag["markdown"]
    assert "| BG/NBD |" in md and "| 7+ |" in md and "Gamma-Gamma" in md


def test_cdnow_scores(cdnow, cdnow_models):
    table = score_summary(cdnow.calibration, cdnow_models)
    assert table.num_rows == 2357
    assert table.column_names[-5:] == list(SCORE_COLUMNS)
    cols = {c: table.column(c).to_numpy() for c in table.column_names}
    assert np.all((cols["p_alive"] > 0) & (cols["p_alive"] <= 1))
    assert np.all(cols["p_alive"][cols["frequency"] == 0] < 1)  # MBG/NBD, not BG/NBD
    assert np.all(cols["expected_purchases_90d"] < cols["expected_purchases_365d"])
    np.testing.assert_allclose(
        cols["clv_12m"], cols["expected_purchases_365d"] * cols["expected_avg_order_value"]
    )
    discounted = score_summary(cdnow.calibration, cdnow_models, annual_discount_rate=0.1)
    d = discounted.column("clv_12m").to_numpy()
    assert np.all(d < cols["clv_12m"]) and np.all(d > cols["clv_12m"] / 1.1)


# ---------------------------------------------------------------------------- closed forms
def test_log_likelihood_closed_forms():
    ones = dict(r=1.0, alpha=1.0, a=1.0, b=1.0)
    bg, mbg = BGNBD(**ones), MBGNBD(**ones)
    # x = 0: BG/NBD -> (alpha / (alpha + T))^r
    assert bg.log_likelihood(0, 0, 1)[0] == pytest.approx(np.log(0.5))
    bg2 = BGNBD(r=0.7, alpha=3.0, a=2.0, b=5.0)
    assert bg2.log_likelihood(0, 0, 9)[0] == pytest.approx(0.7 * np.log(3 / 12))
    # x = 0: MBG/NBD -> b/(a+b) (alpha/(alpha+T))^r + a/(a+b)
    assert mbg.log_likelihood(0, 0, 1)[0] == pytest.approx(np.log(0.5 * 0.5 + 0.5))
    # x = 1, t_x = 1, T = 3, all ones: 0.5 / 4^2 + 0.5 / 2^2
    assert bg.log_likelihood(1, 1, 3)[0] == pytest.approx(np.log(0.5 / 16 + 0.5 / 4))
    # MBG/NBD: B(1,3)/B(1,1) 4^-2 + B(2,2)/B(1,1) 2^-2 = 1/3/16 + 1/6/4
    assert mbg.log_likelihood(1, 1, 3)[0] == pytest.approx(np.log(1 / 48 + 1 / 24))


def test_log_likelihood_matches_direct_formula():
    r, alpha, a, b = 0.4, 2.5, 1.3, 3.1
    x, t_x, T = np.array([1.0, 3, 7, 40]), np.array([2.0, 5, 30, 31]), np.array([10.0, 10, 35, 32])
    bg, mbg = BGNBD(r, alpha, a, b), MBGNBD(r, alpha, a, b)
    from scipy.special import gamma as G

    head = G(r + x) * alpha**r / G(r)
    direct_bg = head * (
        np.exp(betaln(a, b + x) - betaln(a, b)) * (alpha + T) ** -(r + x)
        + np.exp(betaln(a + 1, b + x - 1) - betaln(a, b)) * (alpha + t_x) ** -(r + x)
    )
    direct_mbg = head * (
        np.exp(betaln(a, b + x + 1) - betaln(a, b)) * (alpha + T) ** -(r + x)
        + np.exp(betaln(a + 1, b + x) - betaln(a, b)) * (alpha + t_x) ** -(r + x)
    )
    np.testing.assert_allclose(bg.log_likelihood(x, t_x, T), np.log(direct_bg), rtol=1e-10)
    np.testing.assert_allclose(mbg.log_likelihood(x, t_x, T), np.log(direct_mbg), rtol=1e-10)


def test_p_alive_closed_forms():
    ones = dict(r=1.0, alpha=1.0, a=1.0, b=1.0)
    # 1 / (1 + a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)) = 1 / (1 + 2^2)
    assert BGNBD(**ones).p_alive(1, 1, 3)[0] == pytest.approx(0.2)
    # MBG/NBD: a/(b+x) = 1/2
    assert MBGNBD(**ones).p_alive(1, 1, 3)[0] == pytest.approx(1 / 3)
    # a one-time buyer just after his first purchase: P(no dropout at 0) = b / (a+b)
    assert MBGNBD(0.5, 3.0, 2.0, 6.0).p_alive(0, 0, 0)[0] == pytest.approx(6 / 8)


def test_expected_purchases_closed_forms():
    r, alpha, a, b = 0.6, 2.0, 2.5, 4.0
    bg, mbg = BGNBD(r, alpha, a, b), MBGNBD(r, alpha, a, b)
    t = np.array([0.5, 3.0, 20.0, 200.0])
    z = t / (alpha + t)
    # the published (non-transformed) formulas
    direct_bg = (
        (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, z))
    )
    direct_mbg = b / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b + 1, a + b, z))
    np.testing.assert_allclose(bg.expected_purchases(t), direct_bg, rtol=1e-10)
    np.testing.assert_allclose(mbg.expected_purchases(t), direct_mbg, rtol=1e-10)
    # initial slope: everybody alive buys at mean rate r/alpha (MBG: b/(a+b) of them)
    h = 1e-6
    assert bg.expected_purchases(h)[0] / h == pytest.approx(r / alpha, rel=1e-4)
    assert mbg.expected_purchases(h)[0] / h == pytest.approx(b / (a + b) * r / alpha, rel=1e-4)
    # t -> infinity: expected purchases before dropout, E[1/p] and E[(1-p)/p]
    assert bg.expected_purchases(1e9)[0] == pytest.approx((a + b - 1) / (a - 1), rel=1e-3)
    assert mbg.expected_purchases(1e9)[0] == pytest.approx(b / (a - 1), rel=1e-3)
    # a new customer is a customer with x = 0 and T = 0
    np.testing.assert_allclose(
        mbg.conditional_expected_purchases(t, 0, 0, 0), mbg.expected_purchases(t)
    )


def test_conditional_expectation_matches_direct_formula():
    r, alpha, a, b = 0.35, 5.0, 0.8, 2.4
    bg, mbg = BGNBD(r, alpha, a, b), MBGNBD(r, alpha, a, b)
    x, t_x, T, t = np.array([1.0, 4, 12]), np.array([3.0, 20, 25]), np.array([30.0, 30, 26]), 52.0
    z = t / (alpha + T + t)
    ratio = ((alpha + T) / (alpha + t_x)) ** (r + x)
    bg_direct = (
        (a + b + x - 1)
        / (a - 1)
        * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z))
        / (1 + a / (b + x - 1) * ratio)
    )
    mbg_direct = (
        (a + b + x)
        / (a - 1)
        * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x + 1, a + b + x, z))
        / (1 + a / (b + x) * ratio)
    )
    np.testing.assert_allclose(bg.conditional_expected_purchases(t, x, t_x, T), bg_direct, 1e-9)
    np.testing.assert_allclose(mbg.conditional_expected_purchases(t, x, t_x, T), mbg_direct, 1e-9)


def test_conditional_expectation_random_parameters_match_published_formula():
    """Euler-transformed hypergeometric vs the published form, wherever the latter is finite."""
    rng = np.random.default_rng(0)
    for _ in range(300):
        r, alpha, a, b = np.exp(rng.uniform(-3, 3, 4))
        x = float(rng.integers(0, 30))
        T = rng.uniform(0, 100)
        t_x = rng.uniform(0, T) if x > 0 else 0.0
        t = np.exp(rng.uniform(-2, 6))
        for model, k in ((BGNBD(r, alpha, a, b), 0), (MBGNBD(r, alpha, a, b), 1)):
            got = model.conditional_expected_purchases(t, x, t_x, T)[0]
            assert np.isfinite(got) and got >= 0
            z = t / (alpha + T + t)
            with np.errstate(all="ignore"):
                direct = (
                    (a + b + x + k - 1)
                    / (a - 1)
                    * (
                        1
                        - ((alpha + T) / (alpha + T + t)) ** (r + x)
                        * hyp2f1(r + x, b + x + k, a + b + x + k - 1, z)
                    )
                    * model.p_alive(x, t_x, T)[0]
                )
            if np.isfinite(direct) and direct > 1e-12:
                assert got == pytest.approx(direct, rel=1e-6)


def test_conditional_expectation_is_stable_for_heavy_buyers_and_a_near_1():
    bg = BGNBD(0.243, 4.414, 0.793, 2.426)
    x = np.array([50.0, 500, 5000, 50000])
    got = bg.conditional_expected_purchases(52, x, 100, 100)
    assert np.all(np.isfinite(got)) and np.all(np.diff(got) > 0)
    # a heavy buyer who just bought: rate ~ (r + x) / (alpha + T), dropout chance per purchase
    # ~ a / (a + b + x); n purchases survive each other on average (1 - e^-(p n)) / (p n)
    n_future = 52 * (x + 0.243) / (100 + 4.414)
    q = 0.793 / (0.793 + 2.426 + x) * n_future
    np.testing.assert_allclose(got[2:], (n_future * -np.expm1(-q) / q)[2:], rtol=0.05)
    assert np.all(np.isfinite(bg.log_likelihood(x, 100, 100)))
    # the removable singularity at a = 1
    near = [
        BGNBD(0.5, 3.0, a, 2.0).conditional_expected_purchases(20, 3, 8, 10)[0]
        for a in (1 - 1e-7, 1.0, 1 + 1e-7)
    ]
    assert near[0] == pytest.approx(near[1], rel=1e-5)
    assert near[2] == pytest.approx(near[1], rel=1e-5)


def test_gamma_gamma_closed_forms():
    gg = GammaGamma(p=2.0, q=3.0, gamma=4.0)
    # p (gamma + x m) / (p x + q - 1)
    assert gg.conditional_expected_average_value(2, 5)[0] == pytest.approx(28 / 6)
    # x = 0: the population mean p gamma / (q - 1), whatever m says
    assert gg.conditional_expected_average_value(0, np.nan)[0] == pytest.approx(4.0)
    assert gg.population_mean == pytest.approx(4.0)
    # log-density of m: mean of x Gamma(p, nu) values, nu ~ Gamma(q, rate gamma), integrated
    for x, m in ((1, 3.0), (4, 0.7)):

        def integrand(nu, x=x, m=m):
            return stats.gamma.pdf(m, a=2.0 * x, scale=1 / (x * nu)) * stats.gamma.pdf(
                nu, a=3.0, scale=1 / 4.0
            )

        value, _ = integrate.quad(integrand, 0, np.inf)
        assert gg.log_likelihood(x, m)[0] == pytest.approx(np.log(value), rel=1e-7)


# ---------------------------------------------------------------------------- P(alive)
def test_p_alive_properties():
    bg = BGNBD(0.243, 4.414, 0.793, 2.426)
    mbg = MBGNBD(0.525, 6.183, 0.891, 1.614)
    T = np.linspace(0, 80, 81)
    # BG/NBD: one-time buyers are alive for sure, at any age
    assert np.all(bg.p_alive(np.zeros_like(T), 0, T) == 1.0)
    # MBG/NBD: below 1 and decreasing with age
    p0 = mbg.p_alive(np.zeros_like(T), 0, T)
    assert np.all(p0 < 1) and np.all(np.diff(p0) < 0)
    for model in (bg, mbg):
        # decreasing in the time since the last purchase T - t_x (fixed T)
        t_x = np.linspace(0, 40, 41)
        p = model.p_alive(3, t_x, 40)
        assert np.all(np.diff(p) > 0) and p[-1] <= 1
        # decreasing in T for a fixed last purchase
        p = model.p_alive(3, 10, np.linspace(10, 80, 50))
        assert np.all(np.diff(p) < 0)
        # more purchases at the same recency: more alive if recent, less if long ago
        assert np.all(np.diff(model.p_alive(np.arange(1, 10), 39, 40)) > 0)
        assert np.all(np.diff(model.p_alive(np.arange(1, 10), 2, 40)) < 0)
        # bought just now: the only doubt is the dropout right after (MBG) or none (BG)
        x = np.arange(1, 20)
        p_now = model.p_alive(x, 40, 40)
        k = 1 if model is mbg else 0
        np.testing.assert_allclose(p_now, 1 / (1 + model.a / (model.b + x + k - 1)))
        # bounded
        xs, ages = (g.ravel() for g in np.meshgrid(np.arange(0, 400, 7.0), [0.5, 5, 50, 500]))
        grid = model.p_alive(xs, np.where(xs > 0, ages / 3, 0), ages)
        assert np.all(np.isfinite(grid)) and np.all((grid >= 0) & (grid <= 1))


# ---------------------------------------------------------------------------- fitting machinery
@pytest.mark.parametrize("model", [BGNBD, MBGNBD])
def test_analytic_gradient(model):
    sim = simulate_beta_geo(3000, 0.5, 3.0, 1.5, 2.5, T=np.linspace(1, 40, 3000), rng=3)
    w = np.ones(len(sim.frequency))
    f = model._objective(sim.frequency, sim.recency, sim.T, w, penalizer=0.01)
    for point in ([0.1, 0.5, -0.3, 0.8], [-1.0, 1.5, 0.2, -0.5]):
        x0 = np.array(point)
        err = check_grad(lambda p: f(p)[0], lambda p: f(p)[1], x0, epsilon=1e-7)
        assert err < 1e-5 * max(1.0, np.linalg.norm(f(x0)[1]))


def test_gamma_gamma_analytic_gradient():
    x = np.array([1.0, 2, 3, 5, 8, 1, 2])
    m = np.array([10.0, 25, 30, 12, 40, 7.5, 18])
    f = GammaGamma._objective(x, m, np.ones_like(x), penalizer=0.0)
    x0 = np.log([3.0, 2.5, 12.0])
    err = check_grad(lambda p: f(p)[0], lambda p: f(p)[1], x0, epsilon=1e-7)
    assert err < 1e-5


def test_weights_and_compression_are_equivalent():
    rng = np.random.default_rng(0)
    T = rng.integers(1, 60, 4000).astype(float)
    sim = simulate_beta_geo(4000, 0.4, 4.0, 0.9, 2.0, T=T, rng=rng)
    x, t_x, T = sim.frequency, np.floor(sim.recency), sim.T  # day-like grid: many duplicates
    plain = BGNBD.fit(x, t_x, T)
    assert plain.fit_info.n_rows < len(x)  # compressed
    keys, counts = np.unique(np.column_stack([x, t_x, T]), axis=0, return_counts=True)
    weighted = BGNBD.fit(keys[:, 0], keys[:, 1], keys[:, 2], weights=counts)
    for k in ("r", "alpha", "a", "b"):
        assert weighted.params[k] == pytest.approx(plain.params[k], rel=1e-4)
    assert weighted.fit_info.log_likelihood == pytest.approx(plain.fit_info.log_likelihood)


def test_penalizer_shrinks():
    sim = simulate_beta_geo(2000, 0.3, 4.0, 0.8, 2.5, T=30.0, rng=5)
    free = BGNBD.fit(sim.frequency, sim.recency, sim.T)
    shrunk = BGNBD.fit(sim.frequency, sim.recency, sim.T, penalizer=0.1)
    assert sum(v**2 for v in shrunk.params.values()) < sum(v**2 for v in free.params.values())


def test_input_validation():
    bg = BGNBD(1.0, 1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="recency must not exceed T"):
        bg.p_alive(1, 5, 4)
    with pytest.raises(ValueError, match="frequency 0"):
        bg.p_alive(0, 1, 4)
    with pytest.raises(ValueError, match="non-negative integers"):
        bg.p_alive(1.5, 1, 4)
    with pytest.raises(ValueError, match="NaN"):
        bg.p_alive(np.nan, 1, 4)
    with pytest.raises(ValueError, match="must be > 0"):
        BGNBD(0.0, 1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="repeat customers"):
        GammaGamma.fit([0, 0, 1], [0, 0, 5])


# ---------------------------------------------------------------------------- simulation checks
@pytest.mark.parametrize(
    ("model", "params"),
    [(BGNBD, (0.243, 4.414, 0.793, 2.426)), (MBGNBD, (0.525, 6.183, 0.891, 1.614))],
)
def test_expectations_agree_with_simulation(model, params):
    """E[x] = E[X(T)], mean P(alive) = share alive, and E_x[E[Y(t) | x]] = E[X(T+t)] - E[X(T)]."""
    T, t, n = 52.0, 26.0, 200_000
    sim = simulate_beta_geo(n, *params, T=T, rng=11, modified=model is MBGNBD)
    m = model(*params)
    se = sim.frequency.std() / np.sqrt(n)
    assert sim.frequency.mean() == pytest.approx(m.expected_purchases(T)[0], abs=4 * se)
    assert m.p_alive(sim.frequency, sim.recency, sim.T).mean() == pytest.approx(
        sim.alive.mean(), abs=0.005
    )
    cond = m.conditional_expected_purchases(t, sim.frequency, sim.recency, sim.T).mean()
    uncond = m.expected_purchases(T + t)[0] - m.expected_purchases(T)[0]
    assert cond == pytest.approx(uncond, rel=0.02)


def test_parameter_recovery_from_simulation():
    rng = np.random.default_rng(42)
    n = 150_000
    T = rng.integers(1, 78 * 7 + 1, n) / 7.0
    sim = simulate_beta_geo(n, **CDNOW_BG, T=T, rng=rng)
    fitted = BGNBD.fit(sim.frequency, sim.recency, sim.T)
    for key, true in CDNOW_BG.items():
        assert fitted.params[key] == pytest.approx(true, rel=0.06), key
    sim_m = simulate_beta_geo(n, **CDNOW_MBG, T=T, rng=rng, modified=True)
    fitted_m = MBGNBD.fit(sim_m.frequency, sim_m.recency, sim_m.T)
    for key, true in CDNOW_MBG.items():
        assert fitted_m.params[key] == pytest.approx(true, rel=0.06), key
    m = simulate_spend(sim.frequency, **CDNOW_GG, rng=rng)
    gg = GammaGamma.fit(sim.frequency, m)
    for key, true in CDNOW_GG.items():
        assert gg.params[key] == pytest.approx(true, rel=0.06), key


# ---------------------------------------------------------------------------- SQL summary
@pytest.fixture()
def toy_con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(
        """
        CREATE TABLE tx (customer_id VARCHAR, ordered_at TIMESTAMP, amount DECIMAL(14, 2));
        INSERT INTO tx VALUES
            -- A: first day 2024-01-01 (two orders, one day), repeats on 01-08 and 01-15
            ('A', '2024-01-01 09:00', 10.00), ('A', '2024-01-01 18:30', 5.00),
            ('A', '2024-01-08 12:00', 20.00), ('A', '2024-01-15 08:00', 30.00),
            ('A', '2024-01-15 20:00', 12.00),
            -- A again after the calibration end and after the observation end
            ('A', '2024-01-29 10:00', 7.00), ('A', '2024-03-01 10:00', 99.00),
            -- B: one-time buyer on 01-10; C: only after the calibration end
            ('B', '2024-01-10 10:00', 50.00), ('C', '2024-01-25 10:00', 8.00),
            -- D: NULL amount on a repeat day counts as 0; NULL customer ignored
            ('D', '2024-01-02 10:00', 4.00), ('D', '2024-01-03 10:00', NULL),
            (NULL, '2024-01-05 10:00', 1.00)
        """
    )
    return con


def test_rfm_summary_in_sql(toy_con):
    s = rfm_summary(toy_con, "tx", "2024-01-31", time_unit="days")
    assert list(s.customer_id) == ["A", "B", "C", "D"]
    np.testing.assert_array_equal(s.frequency, [3, 0, 0, 1])
    np.testing.assert_allclose(s.recency, [28, 0, 0, 1])
    np.testing.assert_allclose(s.T, [30, 21, 6, 29])
    np.testing.assert_allclose(s.monetary_value, [(20 + 42 + 7) / 3, 0, 0, 0])
    assert s.observation_end == dt.date(2024, 1, 31) and s.time_unit_days == 1.0
    weeks = rfm_summary(toy_con, "tx", dt.datetime(2024, 1, 31, 23, 0), time_unit="weeks")
    np.testing.assert_allclose(weeks.T, np.array([30, 21, 6, 29]) / 7)
    # a query, an Arrow table and a relation give the same thing
    query = "SELECT customer_id AS cid, ordered_at AS ts, amount AS v FROM tx"
    q = rfm_summary(
        toy_con,
        query,
        "2024-01-31",
        customer_col="cid",
        time_col="ts",
        amount_col="v",
        time_unit="days",
    )
    arrow = toy_con.sql("SELECT * FROM tx").to_arrow_table()
    assert isinstance(arrow, pa.Table)
    a = rfm_summary(toy_con, arrow, "2024-01-31", time_unit="days")
    rel = rfm_summary(toy_con, toy_con.sql("SELECT * FROM tx"), "2024-01-31", time_unit="days")
    for other in (q, a, rel):
        np.testing.assert_array_equal(other.frequency, s.frequency)
        np.testing.assert_allclose(other.monetary_value, s.monetary_value)
    assert (
        toy_con.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchone()[0] == 0
    )  # temporary registrations are cleaned up
    table = s.to_arrow()
    assert table.column_names == ["customer_id", "frequency", "recency", "T", "monetary_value"]


def test_rfm_calibration_holdout_in_sql(toy_con):
    ch = rfm_calibration_holdout(toy_con, "tx", "2024-01-20", "2024-01-31", time_unit="days")
    cal = ch.calibration
    assert list(cal.customer_id) == ["A", "B", "D"]  # C first bought in the holdout
    np.testing.assert_array_equal(cal.frequency, [2, 0, 1])
    np.testing.assert_allclose(cal.recency, [14, 0, 1])
    np.testing.assert_allclose(cal.T, [19, 10, 18])
    np.testing.assert_allclose(cal.monetary_value, [(20 + 42) / 2, 0, 0])
    np.testing.assert_array_equal(ch.frequency_holdout, [1, 0, 0])  # 03-01 is after the end
    np.testing.assert_allclose(ch.monetary_value_holdout, [7, 0, 0])
    assert ch.duration_holdout == 11
    assert ch.to_arrow().num_rows == 3
    with pytest.raises(ValueError, match="after calibration_end"):
        rfm_calibration_holdout(toy_con, "tx", "2024-01-31", "2024-01-20")


def test_score_customers_outputs():
    bg = BGNBD(0.243, 4.414, 0.793, 2.426)
    mbg = MBGNBD(0.525, 6.183, 0.891, 1.614)
    gg = GammaGamma(**CDNOW_GG)
    x, t_x, T, m = [0, 1, 5], [0, 10, 30], [20, 20, 30], [0, 40.0, 25.0]
    out = score_customers(x, t_x, T, m, purchase_model=mbg, spend_model=gg, time_unit_days=7)
    assert set(out) == set(SCORE_COLUMNS)
    np.testing.assert_allclose(out["p_alive"], mbg.p_alive(x, t_x, T))
    np.testing.assert_allclose(
        out["expected_purchases_365d"], mbg.conditional_expected_purchases(365 / 7, x, t_x, T)
    )
    assert out["expected_avg_order_value"][0] == pytest.approx(gg.population_mean)
    np.testing.assert_allclose(
        out["clv_12m"], out["expected_purchases_365d"] * out["expected_avg_order_value"]
    )
    # the same horizons in days give the same numbers
    days = score_customers(
        x,
        np.multiply(t_x, 7),
        np.multiply(T, 7),
        m,
        purchase_model=MBGNBD(0.525, 6.183 * 7, 0.891, 1.614),
        spend_model=gg,
        time_unit_days=1,
    )
    for col in SCORE_COLUMNS:
        np.testing.assert_allclose(days[col], out[col], rtol=1e-10)
    # BG/NBD as the purchase model: one-time buyers would be certainly alive
    assert (
        score_customers(x, t_x, T, m, purchase_model=bg, spend_model=gg, time_unit_days=7)[
            "p_alive"
        ][0]
        == 1.0
    )


# --- the optimiser: L-BFGS-B, and Nelder-Mead only when it failed away from the optimum ---


def _noisy_bowl(scale: float, calls: list[int], gradient_sign: float = 1.0):
    """A smooth minimum at (1, 1, 1) whose values carry rounding-level noise, as a mean
    log-likelihood summed over ~10^6 customers does."""

    def objective(p):
        calls.append(1)
        noise = scale * np.sin(1e7 * float(np.sum(p * np.array([1.0, 3.1, 7.3]))))
        value = float(np.sum(np.cosh(p - 1.0))) + 6.8 + noise
        return value, gradient_sign * np.sinh(p - 1.0)

    return objective


def test_a_line_search_stalled_at_the_optimum_is_converged_without_nelder_mead():
    """The 1 M-contact Gamma-Gamma fit: L-BFGS-B reached the optimum (|gradient| 5e-8) and
    ended on its line search; the Nelder-Mead fallback then ran 20,000 iterations (310 s)."""
    from dagster_project.lib.clv import _fit

    calls: list[int] = []
    x, _, converged, message, _ = _fit.minimise(
        _noisy_bowl(1e-9, calls), np.array([3.0, -2.0, 0.5])
    )
    assert converged and "line search" in message
    np.testing.assert_allclose(x, 1.0, atol=1e-5)
    assert len(calls) < 200  # Nelder-Mead would evaluate thousands of times


def test_a_real_failure_still_falls_back_to_nelder_mead():
    """A wrong gradient stops L-BFGS-B far from the optimum: Nelder-Mead (bounded) finds it."""
    from dagster_project.lib.clv import _fit

    calls: list[int] = []
    x, iterations, _, _, _ = _fit.minimise(
        _noisy_bowl(0.0, calls, gradient_sign=-1.0), np.array([3.0, -2.0, 0.5])
    )
    np.testing.assert_allclose(x, 1.0, atol=1e-3)
    assert iterations <= 2000 + _fit.NELDER_MEAD_ITERATIONS_PER_PARAMETER * 3
    assert len(calls) > 50
