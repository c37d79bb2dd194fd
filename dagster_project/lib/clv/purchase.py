"""Purchase-count models of the buy-till-you-die family: BG/NBD and MBG/NBD.

Both models share one structure. While alive a customer buys as a Poisson process of rate
``lambda ~ Gamma(r, alpha)``; after each purchase he drops out with probability
``p ~ Beta(a, b)``. They differ in one point:

* **BG/NBD** (Fader, Hardie & Lee 2005, "Counting your customers the easy way"): dropout
  happens only after a *repeat* purchase, so a customer without repeat purchase (``x = 0``)
  is alive with probability 1, whatever his age.
* **MBG/NBD** (Batislam, Denizel & Filiztekin 2007): dropout may also happen right after
  the first purchase, so ``P(alive)`` of one-time buyers decays with their age. That is the
  model reveil uses for ``P(alive)`` and for expected purchases.

With ``n = x + k`` (``k = 0`` for BG/NBD, ``k = 1`` for MBG/NBD) the individual likelihood is

    L = Γ(r+x) α^r / Γ(r) · B(a, b+n)/B(a, b) · [ (α+T)^-(r+x) + δ · a/(b+n-1) · (α+t_x)^-(r+x) ]

with ``δ = 1{x > 0}`` for BG/NBD and ``δ = 1`` for MBG/NBD. Everything is evaluated in log
space (``gammaln``, ``betaln``, ``log1p``/``expit`` of the log-ratio of both terms), and the
gradient is analytic, so fitting a million customers takes seconds.

Conditional expectations use Euler's transformation of the Gauss hypergeometric function,

    ((α+T)/(α+T+t))^(r+x) · 2F1(r+x, b+n; a+b+n-1; z)
        = (1-z)^(a-1) · 2F1(a+b+k-1-r, a-1; a+b+n-1; z),     z = t / (α+T+t),

whose parameters no longer grow with ``x``: the original series diverges like
``(1-z)^-(r+x)`` for heavy buyers, the transformed one is tame.

Time is in the unit of the inputs (days or weeks): ``alpha`` and every ``t`` share it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, Self

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1, log_expit

from dagster_project.lib.clv._fit import (
    FitInfo,
    FloatArray,
    as_float,
    check_rft,
    compress,
    dot,
    minimise,
)


def _softplus(d: FloatArray) -> FloatArray:
    """log(1 + e^d), exact for d = -inf."""
    return -log_expit(-d)


@dataclass(frozen=True)
class _BetaGeoModel:
    r: float
    alpha: float
    a: float
    b: float
    fit_info: FitInfo | None = field(default=None, compare=False, repr=False)

    name: ClassVar[str] = ""
    # k = 0: dropout only after repeat purchases (BG/NBD); k = 1: also after the first (MBG/NBD)
    _k: ClassVar[int] = 0

    # ------------------------------------------------------------------ parameters
    def __post_init__(self) -> None:
        for key, value in self.params.items():
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"{self.name}: parameter {key} must be > 0, got {value}")

    @property
    def params(self) -> dict[str, float]:
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b}

    # ------------------------------------------------------------------ likelihood
    def _log_ratio(self, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
        """D = log of (second term / first term) of the likelihood bracket.

        ``P(alive) = 1 / (1 + e^D)``; ``D = -inf`` when the second term is absent.
        """
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        with np.errstate(divide="ignore", invalid="ignore"):
            d = (
                np.log(a)
                - np.log(b + x + self._k - 1)
                + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
            )
        if self._k == 0:
            d = np.where(x > 0, d, -np.inf)
        return d

    def log_likelihood(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """Log-likelihood of each customer's (x, t_x, T)."""
        x, t_x, age = check_rft(frequency, recency, T)
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        n = x + self._k
        head = (
            gammaln(r + x)
            - gammaln(r)
            + r * np.log(alpha)
            + betaln(a, b + n)
            - betaln(a, b)
            - (r + x) * np.log(alpha + age)
        )
        return head + _softplus(self._log_ratio(x, t_x, age))

    def total_log_likelihood(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> float:
        return float(np.sum(self.log_likelihood(frequency, recency, T)))

    # ------------------------------------------------------------------ fitting
    @classmethod
    def _objective(
        cls, x: FloatArray, t_x: FloatArray, age: FloatArray, w: FloatArray, penalizer: float
    ) -> Callable[[FloatArray], tuple[float, FloatArray]]:
        """Mean negative log-likelihood (+ penalty) of log-parameters, and its gradient."""
        k = cls._k
        w_total = float(w.sum())
        x_u, inv = np.unique(x, return_inverse=True)
        w_u = np.bincount(inv, weights=w, minlength=len(x_u))
        wx = w * x
        has_second = np.ones_like(x, dtype=bool) if k == 1 else x > 0

        def objective(log_params: FloatArray) -> tuple[float, FloatArray]:
            r, alpha, a, b = np.exp(log_params)
            n_u = x_u + k
            la_T = np.log(alpha + age)
            la_tx = np.log(alpha + t_x)
            with np.errstate(divide="ignore", invalid="ignore"):
                d = np.log(a) - np.log(b + n_u - 1)[inv] + (r + x) * (la_T - la_tx)
            d = np.where(has_second, d, -np.inf)
            # per-x terms, on distinct x values only
            head_u = gammaln(r + x_u) - gammaln(r) + betaln(a, b + n_u) - betaln(a, b)
            ll = (
                dot(w_u, head_u)
                + w_total * r * np.log(alpha)
                - dot(w, (r + x) * la_T)
                + dot(w, _softplus(d))
            )
            w_b = w * expit(d)  # weight of the second term, times the customer weight
            w_b_u = np.bincount(inv, weights=w_b, minlength=len(x_u))
            g_r = (
                dot(w_u, digamma(r + x_u) - digamma(r))
                + w_total * np.log(alpha)
                - dot(w, la_T)
                + dot(w_b, la_T - la_tx)
            )
            inv_T = 1.0 / (alpha + age)
            inv_tx = 1.0 / (alpha + t_x)
            g_alpha = w_total * r / alpha - float(
                dot(w * r + wx, inv_T) + dot(w_b * (r + x), inv_tx - inv_T)
            )
            psi_ab = digamma(a + b)
            psi_abn = digamma(a + b + n_u)
            g_a = dot(w_u, psi_ab - psi_abn) + float(w_b_u.sum()) / a
            with np.errstate(divide="ignore"):
                inv_bn1 = np.where(w_b_u > 0, 1.0 / (b + n_u - 1), 0.0)
            g_b = dot(w_u, digamma(b + n_u) - psi_abn - digamma(b) + psi_ab) - float(
                dot(w_b_u, inv_bn1)
            )
            params = np.array([r, alpha, a, b])
            grad = np.array([g_r, g_alpha, g_a, g_b]) * params  # chain rule: d/dlog(p)
            value = -ll / w_total + penalizer * float(np.sum(params**2))
            grad = -grad / w_total + 2.0 * penalizer * params**2
            if not np.isfinite(value):
                return 1e300, np.zeros(4)
            return value, grad

        return objective

    @classmethod
    def fit(
        cls,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        weights: ArrayLike | None = None,
        *,
        penalizer: float = 0.0,
        init: dict[str, float] | None = None,
    ) -> Self:
        """Maximum-likelihood fit.

        ``weights`` counts identical customers (default 1 each); identical rows are also
        merged automatically. ``penalizer`` adds ``penalizer * sum(params**2)`` to the mean
        negative log-likelihood (as lifetimes does), to tame tiny or degenerate data sets.
        The optimiser runs L-BFGS-B on the log-parameters with the analytic gradient.
        """
        x, t_x, age = check_rft(frequency, recency, T)
        if len(x) == 0:
            raise ValueError("cannot fit on zero customers")
        w = None if weights is None else as_float(weights, "weights")
        if w is not None and (len(w) != len(x) or np.any(w < 0)):
            raise ValueError("weights must be non-negative, one per customer")
        (x, t_x, age), w = compress((x, t_x, age), w)
        w_total = float(w.sum())
        objective = cls._objective(x, t_x, age, w, penalizer)

        x0 = np.log(
            [1.0, 1.0, 1.0, 1.0]
            if init is None
            else [init["r"], init["alpha"], init["a"], init["b"]]
        )
        # alpha is a time scale: start it at a tenth of the mean age, whatever the time unit
        if init is None:
            x0[1] = np.log(max(float(np.average(age, weights=w)) / 10.0, 1e-3))
        log_params, iterations, converged, message, seconds = minimise(objective, x0)
        r, alpha, a, b = np.exp(log_params)
        fitted = cls(float(r), float(alpha), float(a), float(b))
        ll_total = dot(w, fitted.log_likelihood(x, t_x, age))
        info = FitInfo(
            log_likelihood=ll_total,
            n_customers=int(round(w_total)),
            n_rows=len(x),
            iterations=iterations,
            converged=converged,
            message=message,
            seconds=seconds,
        )
        return cls(fitted.r, fitted.alpha, fitted.a, fitted.b, fit_info=info)

    # ------------------------------------------------------------------ predictions
    def p_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """P(customer still alive at T | x, t_x, T)."""
        x, t_x, age = check_rft(frequency, recency, T)
        return expit(-self._log_ratio(x, t_x, age))

    def conditional_expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """E[number of purchases in (T, T+t] | x, t_x, T]."""
        x, t_x, age = check_rft(frequency, recency, T)
        horizon = as_float(t, "t")
        if np.any(horizon < 0):
            raise ValueError("t must be non-negative")
        x, t_x, age, horizon = np.broadcast_arrays(x, t_x, age, horizon)
        r, alpha, a, b, k = self.r, self.alpha, self.a, self.b, self._k
        am1 = a - 1.0
        if abs(am1) < 1e-9:  # removable singularity at a = 1
            am1 = 1e-9 if am1 >= 0 else -1e-9
            a = 1.0 + am1
        n = x + k
        z = horizon / (alpha + age + horizon)
        c = a + b + n - 1.0
        f = hyp2f1(a + b + k - 1.0 - r, am1, c, z)
        log_pow = am1 * np.log1p(-z)
        with np.errstate(divide="ignore", invalid="ignore"):
            # 1 - G through expm1 keeps its precision when G is close to 1 (a near 1, small t);
            # F can be <= 0 only when c < 0 (BG/NBD with a + b < 1 and x = 0)
            one_minus_g = np.where(f > 0, -np.expm1(log_pow + np.log(f)), 1.0 - np.exp(log_pow) * f)
        return c / am1 * one_minus_g * expit(-self._log_ratio(x, t_x, age))

    def expected_purchases(self, t: ArrayLike) -> FloatArray:
        """E[X(t)]: repeat purchases in the first t periods after a first purchase."""
        horizon = as_float(t, "t")
        zeros = np.zeros_like(horizon)
        return self.conditional_expected_purchases(horizon, zeros, zeros, zeros)

    def summary(self) -> dict[str, object]:
        """Parameters and fit statistics, JSON-friendly (for Dagster metadata)."""
        out: dict[str, object] = {
            "model": self.name,
            **{k: float(v) for k, v in self.params.items()},
        }
        if self.fit_info is not None:
            fi = self.fit_info
            out.update(
                log_likelihood=fi.log_likelihood,
                n_customers=fi.n_customers,
                converged=fi.converged,
                iterations=fi.iterations,
                fit_seconds=round(fi.seconds, 3),
            )
        return out


@dataclass(frozen=True)
class BGNBD(_BetaGeoModel):
    """BG/NBD (Fader, Hardie & Lee 2005). ``P(alive) = 1`` for customers with ``x = 0``."""

    name: ClassVar[str] = "BG/NBD"
    _k: ClassVar[int] = 0


@dataclass(frozen=True)
class MBGNBD(_BetaGeoModel):
    """MBG/NBD (Batislam, Denizel & Filiztekin 2007): dropout possible after the first purchase."""

    name: ClassVar[str] = "MBG/NBD"
    _k: ClassVar[int] = 1
