"""Vectorised simulation from BG/NBD / MBG/NBD and Gamma-Gamma, for tests and benchmarks.

Per customer: ``lambda ~ Gamma(r, rate=alpha)``, ``p ~ Beta(a, b)``. The number of repeat
purchases made before dropping out is ``J ~ Geometric(p)`` on {1, 2, ...} (BG/NBD) or on
{0, 1, ...} (MBG/NBD); the Poisson process puts ``N ~ Poisson(lambda T)`` purchases in
(0, T]. Then ``x = min(J, N)`` and, given N, the x-th purchase time is the x-th order
statistic of N uniforms on (0, T): ``t_x = T * Beta(x, N - x + 1)``. No per-customer loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dagster_project.lib.clv._fit import FloatArray


@dataclass(frozen=True)
class SimulatedCustomers:
    frequency: FloatArray
    recency: FloatArray
    T: FloatArray
    alive: np.ndarray  # bool: still alive at T
    transaction_rate: FloatArray
    dropout_probability: FloatArray


def simulate_beta_geo(
    n: int,
    r: float,
    alpha: float,
    a: float,
    b: float,
    T: float | FloatArray,
    *,
    modified: bool = False,
    rng: np.random.Generator | int | None = None,
) -> SimulatedCustomers:
    """Simulate ``n`` customers of age ``T`` (scalar or array) from BG/NBD (or MBG/NBD)."""
    rng = np.random.default_rng(rng)
    age = np.broadcast_to(np.asarray(T, dtype=np.float64), (n,)).copy()
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = np.clip(rng.beta(a, b, n), 1e-12, 1.0)
    dropout_after = rng.geometric(p)  # purchases (first excluded) until dropout, >= 1
    if modified:
        dropout_after = dropout_after - 1
    arrivals = rng.poisson(lam * age)
    x = np.minimum(dropout_after, arrivals)
    t_x = np.zeros(n)
    pos = x > 0
    t_x[pos] = age[pos] * rng.beta(x[pos], arrivals[pos] - x[pos] + 1)
    return SimulatedCustomers(
        frequency=x.astype(np.float64),
        recency=t_x,
        T=age,
        alive=dropout_after > arrivals,
        transaction_rate=lam,
        dropout_probability=p,
    )


def simulate_spend(
    frequency: FloatArray,
    p: float,
    q: float,
    gamma: float,
    *,
    rng: np.random.Generator | int | None = None,
) -> FloatArray:
    """Mean value of each customer's ``frequency`` repeat transactions under Gamma-Gamma.

    0 where ``frequency == 0``. The mean of x Gamma(p, nu) draws is Gamma(p x, x nu).
    """
    rng = np.random.default_rng(rng)
    x = np.asarray(frequency, dtype=np.float64)
    nu = rng.gamma(q, 1.0 / gamma, len(x))
    out = np.zeros(len(x))
    pos = x > 0
    out[pos] = rng.gamma(p * x[pos], 1.0 / (x[pos] * nu[pos]))
    return out


def simulate_transactions(
    customers: SimulatedCustomers,
    first_purchase_day: np.ndarray,
    *,
    time_unit_days: float,
    p: float,
    q: float,
    gamma: float,
    rng: np.random.Generator | int | None = None,
) -> dict[str, np.ndarray]:
    """Expand simulated customers into transactions: customer index, day offset, amount.

    Purchase times: the first at 0, the last repeat one at ``t_x`` and the x - 1 others
    uniform on (0, t_x) (the Poisson process given its x-th arrival). Times are converted to
    whole days after ``first_purchase_day``; amounts follow Gamma-Gamma.
    """
    rng = np.random.default_rng(rng)
    x = customers.frequency.astype(np.int64)
    n = len(x)
    counts = x + 1
    cust = np.repeat(np.arange(n), counts)
    # position of each transaction inside its customer: 0 = first purchase, 1 = last repeat
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    rank = np.arange(len(cust)) - starts
    t_x = customers.recency[cust]
    times = np.where(rank == 0, 0.0, np.where(rank == 1, t_x, rng.uniform(0, 1, len(cust)) * t_x))
    day = first_purchase_day[cust] + np.floor(times * time_unit_days).astype(np.int64)
    nu = rng.gamma(q, 1.0 / gamma, n)
    amount = rng.gamma(p, 1.0 / nu[cust])
    return {"customer": cust, "day": day, "amount": amount}
