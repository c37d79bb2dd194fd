"""Gamma-Gamma model of the value of a transaction (Fader, Hardie & Lee 2005, "RFM and CLV").

Each transaction of a customer is worth ``z ~ Gamma(p, nu)``; ``nu ~ Gamma(q, gamma)`` across
customers. Given ``x`` repeat transactions of mean value ``m``, the likelihood of ``m`` is

    f(m | x) = Γ(px+q) / (Γ(px) Γ(q)) · γ^q · m^(px-1) · x^(px) / (γ + m x)^(px+q)

(Fader & Hardie 2013, "The Gamma-Gamma model of monetary value"), and the conditional
expectation of a customer's mean transaction value is the weighted average

    E[Z | m, x] = (q - 1)/(px + q - 1) · pγ/(q - 1) + px/(px + q - 1) · m.

The model is fitted on repeat customers only (``x > 0`` and ``m > 0``); it assumes that the
value of transactions does not depend on their frequency (see ``frequency_value_correlation``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, Self

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import digamma, gammaln

from dagster_project.lib.clv._fit import FitInfo, FloatArray, as_float, dot, minimise


def _check_xm(frequency: ArrayLike, monetary_value: ArrayLike) -> tuple[FloatArray, FloatArray]:
    x, m = np.broadcast_arrays(
        as_float(frequency, "frequency"), as_float(monetary_value, "monetary_value")
    )
    if np.any(x < 0) or np.any(x != np.floor(x)):
        raise ValueError("frequency must hold non-negative integers")
    return np.ascontiguousarray(x), np.ascontiguousarray(m)


def frequency_value_correlation(frequency: ArrayLike, monetary_value: ArrayLike) -> float:
    """Pearson correlation of x and m over repeat customers; Gamma-Gamma assumes it is ~0."""
    x, m = _check_xm(frequency, monetary_value)
    keep = (x > 0) & (m > 0)
    if keep.sum() < 3 or np.std(x[keep]) == 0 or np.std(m[keep]) == 0:
        return float("nan")
    return float(np.corrcoef(x[keep], m[keep])[0, 1])


@dataclass(frozen=True)
class GammaGamma:
    p: float
    q: float
    gamma: float
    fit_info: FitInfo | None = field(default=None, compare=False, repr=False)

    name: ClassVar[str] = "Gamma-Gamma"

    def __post_init__(self) -> None:
        for key, value in self.params.items():
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"{self.name}: parameter {key} must be > 0, got {value}")

    @property
    def params(self) -> dict[str, float]:
        return {"p": self.p, "q": self.q, "gamma": self.gamma}

    @property
    def population_mean(self) -> float:
        """Mean transaction value of a random customer, ``p γ / (q - 1)`` (inf if q <= 1)."""
        return self.p * self.gamma / (self.q - 1.0) if self.q > 1.0 else float("inf")

    def log_likelihood(self, frequency: ArrayLike, monetary_value: ArrayLike) -> FloatArray:
        """Log-density of each repeat customer's mean value m given x (x > 0, m > 0)."""
        x, m = _check_xm(frequency, monetary_value)
        if np.any(x <= 0) or np.any(m <= 0):
            raise ValueError("the Gamma-Gamma likelihood needs x > 0 and m > 0")
        p, q, g = self.p, self.q, self.gamma
        px = p * x
        return (
            gammaln(px + q)
            - gammaln(px)
            - gammaln(q)
            + q * np.log(g)
            + (px - 1.0) * np.log(m)
            + px * np.log(x)
            - (px + q) * np.log(g + x * m)
        )

    @classmethod
    def _objective(
        cls, x: FloatArray, m: FloatArray, w: FloatArray, penalizer: float
    ) -> Callable[[FloatArray], tuple[float, FloatArray]]:
        """Mean negative log-likelihood (+ penalty) of log-parameters, and its gradient."""
        w_total = float(w.sum())
        x_u, inv = np.unique(x, return_inverse=True)
        w_u = np.bincount(inv, weights=w, minlength=len(x_u))
        wx = w * x
        # parameter-free sums, computed once
        s_wx_logm = dot(wx, np.log(m))
        s_w_logm = dot(w, np.log(m))
        s_wx_logx = dot(wx, np.log(x))
        xm = x * m
        wxu = w_u * x_u

        def objective(log_params: FloatArray) -> tuple[float, FloatArray]:
            p, q, g = np.exp(log_params)
            pxq_u = p * x_u + q
            log_gxm = np.log(g + xm)
            ll = (
                dot(w_u, gammaln(pxq_u) - gammaln(p * x_u))
                - w_total * gammaln(q)
                + w_total * q * np.log(g)
                + p * s_wx_logm
                - s_w_logm
                + p * s_wx_logx
                - dot(w * (p * x + q), log_gxm)
            )
            psi_pxq_u = digamma(pxq_u)
            g_p = dot(wxu, psi_pxq_u - digamma(p * x_u)) + s_wx_logm + s_wx_logx - dot(wx, log_gxm)
            g_q = dot(w_u, psi_pxq_u) - w_total * digamma(q) + w_total * np.log(g) - dot(w, log_gxm)
            g_g = w_total * q / g - dot(w * (p * x + q), 1.0 / (g + xm))
            params = np.array([p, q, g])
            value = -ll / w_total + penalizer * float(np.sum(params**2))
            grad = -np.array([g_p, g_q, g_g]) * params / w_total + 2 * penalizer * params**2
            if not np.isfinite(value):
                return 1e300, np.zeros(3)
            return value, grad

        return objective

    @classmethod
    def fit(
        cls,
        frequency: ArrayLike,
        monetary_value: ArrayLike,
        weights: ArrayLike | None = None,
        *,
        penalizer: float = 0.0,
        init: dict[str, float] | None = None,
    ) -> Self:
        """Maximum-likelihood fit on the customers with ``x > 0`` and ``m > 0`` (others ignored)."""
        x, m = _check_xm(frequency, monetary_value)
        w = (
            np.ones_like(x)
            if weights is None
            else np.broadcast_to(as_float(weights, "weights"), x.shape)
        )
        keep = (x > 0) & (m > 0) & (w > 0)
        x, m, w = x[keep], m[keep], np.asarray(w[keep], dtype=np.float64)
        if len(x) < 2:
            raise ValueError("Gamma-Gamma needs at least two repeat customers with m > 0")
        objective = cls._objective(x, m, w, penalizer)
        w_total = float(w.sum())

        if init is None:
            # method-of-moments-ish start: p ~ 1, q ~ 2, gamma so that p*gamma/(q-1) = mean
            mean_m = float(np.average(m, weights=w))
            x0 = np.log([1.0, 2.0, max(mean_m, 1e-6)])
        else:
            x0 = np.log([init["p"], init["q"], init["gamma"]])
        log_params, iterations, converged, message, seconds = minimise(objective, x0)
        p, q, g = np.exp(log_params)
        fitted = cls(float(p), float(q), float(g))
        info = FitInfo(
            log_likelihood=dot(w, fitted.log_likelihood(x, m)),
            n_customers=int(round(w_total)),
            n_rows=len(x),
            iterations=iterations,
            converged=converged,
            message=message,
            seconds=seconds,
        )
        return cls(fitted.p, fitted.q, fitted.gamma, fit_info=info)

    def conditional_expected_average_value(
        self, frequency: ArrayLike, monetary_value: ArrayLike
    ) -> FloatArray:
        """E[mean transaction value | x, m]; the population mean for ``x = 0``.

        ``m`` is ignored where ``x = 0`` (it may be 0 or NaN there). NaN where the expectation
        does not exist (``p x + q <= 1``).
        """
        x = as_float(frequency, "frequency")
        m = np.asarray(monetary_value, dtype=np.float64)
        x, m = np.broadcast_arrays(x, m)
        m = np.where(x > 0, m, 0.0)
        p, q, g = self.p, self.q, self.gamma
        denom = p * x + q - 1.0
        with np.errstate(divide="ignore", invalid="ignore"):
            out = p * (g + x * m) / denom
        return np.where(denom > 0, out, np.nan)

    def summary(self) -> dict[str, object]:
        out: dict[str, object] = {
            "model": self.name,
            **{k: float(v) for k, v in self.params.items()},
        }
        out["population_mean"] = self.population_mean
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
