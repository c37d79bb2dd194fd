"""Shared plumbing of the maximum-likelihood fits: input checks, compression, optimiser."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize

FloatArray = NDArray[np.float64]

# Bounds of the log-parameters: e^-18 .. e^18 keeps every special function finite.
LOG_BOUND = 18.0


@dataclass(frozen=True)
class FitInfo:
    """How a maximum-likelihood fit went.

    ``log_likelihood`` is the total (weighted) log-likelihood at the optimum, without the
    penalty; ``n_rows`` is the number of distinct rows the optimiser saw after compression.
    """

    log_likelihood: float
    n_customers: int
    n_rows: int
    iterations: int
    converged: bool
    message: str
    seconds: float


def dot(u: FloatArray, v: FloatArray) -> float:
    """Inner product of two vectors with numpy's own loop rather than BLAS.

    Keeps the likelihood single-threaded: OpenBLAS's helper threads bring nothing to a
    one-pass reduction and only compete with the main thread on a busy 2-core machine.
    """
    return float(np.einsum("i,i->", u, v))


def as_float(values: ArrayLike, name: str) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def check_rft(
    frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, *, tol: float = 1e-9
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Validate (x, t_x, T) and broadcast them to float64 arrays of one length."""
    x, t_x, age = np.broadcast_arrays(
        as_float(frequency, "frequency"), as_float(recency, "recency"), as_float(T, "T")
    )
    x, t_x, age = (np.ascontiguousarray(v, dtype=np.float64) for v in (x, t_x, age))
    if np.any(x < 0) or np.any(x != np.floor(x)):
        raise ValueError("frequency must hold non-negative integers")
    if np.any(t_x < 0):
        raise ValueError("recency must be non-negative")
    if np.any(t_x > age + tol * np.maximum(1.0, age)):
        raise ValueError("recency must not exceed T")
    if np.any((x == 0) & (t_x > tol)):
        raise ValueError("recency must be 0 for customers with frequency 0")
    return x, np.minimum(t_x, age), age


def compress(
    columns: tuple[FloatArray, ...], weights: FloatArray | None
) -> tuple[tuple[FloatArray, ...], FloatArray]:
    """Collapse identical rows into one row with a summed weight.

    Day-granular data has few distinct (x, t_x, T) triples, so the likelihood is evaluated on
    far fewer rows. Continuous data gains nothing, and then the input is returned unchanged.
    """
    n = len(columns[0])
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    if n < 2:
        return columns, w
    order = np.lexsort(columns[::-1])
    sorted_cols = tuple(c[order] for c in columns)
    new_group = np.ones(n, dtype=bool)
    new_group[1:] = np.any([c[1:] != c[:-1] for c in sorted_cols], axis=0)
    n_groups = int(new_group.sum())
    if n_groups > 0.8 * n:
        return columns, w
    starts = np.flatnonzero(new_group)
    group_w = np.add.reduceat(w[order], starts)
    return tuple(c[starts] for c in sorted_cols), group_w


# L-BFGS-B stopped by its line search (ABNORMAL_TERMINATION_IN_LNSRCH) with a gradient this
# small has reached the optimum: the objectives are mean log-likelihoods per customer (O(1)),
# and with ftol 1e-14 the line search ends on the floating-point noise of a sum over ~10^6
# customers. Measured on a 1 M-contact load: |gradient| 5e-8 at the stop, where the
# Nelder-Mead fallback then ran its 20,000 iterations for 310 s to land on the same point.
STALLED_GRADIENT_TOL = 1e-5
# Nelder-Mead iterations per parameter when L-BFGS-B really failed (each iteration is one
# pass over the customers: ~15 ms at 600 k rows)
NELDER_MEAD_ITERATIONS_PER_PARAMETER = 500


def minimise(
    objective: Callable[[FloatArray], tuple[float, FloatArray]],
    x0: FloatArray,
) -> tuple[FloatArray, int, bool, str, float]:
    """L-BFGS-B on log-parameters with an analytic gradient; falls back to Nelder-Mead when
    it fails away from a stationary point."""
    start = time.perf_counter()
    bounds = [(-LOG_BOUND, LOG_BOUND)] * len(x0)
    res = minimize(
        objective,
        x0,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-9, "maxcor": 20},
    )
    iterations = int(res.nit)
    finite = bool(np.all(np.isfinite(res.x)) and np.isfinite(res.fun))
    success, message = bool(res.success), str(res.message)
    if not success and finite and _stalled_at_optimum(res):
        success = True
        message = (
            f"stopped by the line search at |gradient| {float(np.max(np.abs(res.jac))):.1e} "
            f"(below {STALLED_GRADIENT_TOL:g}: the optimum, to rounding): {message}"
        )
    elif not success:
        res_nm = minimize(
            lambda p: objective(p)[0],
            res.x if np.all(np.isfinite(res.x)) else x0,
            method="Nelder-Mead",
            bounds=bounds,
            options={
                "maxiter": NELDER_MEAD_ITERATIONS_PER_PARAMETER * len(x0),
                "xatol": 1e-10,
                "fatol": 1e-14,
            },
        )
        iterations += int(res_nm.nit)
        if np.isfinite(res_nm.fun) and (not np.isfinite(res.fun) or res_nm.fun <= res.fun):
            res = res_nm
            success, message = bool(res.success), str(res.message)
    return (
        np.asarray(res.x, dtype=np.float64),
        iterations,
        success,
        message,
        time.perf_counter() - start,
    )


def _stalled_at_optimum(res: Any) -> bool:
    """L-BFGS-B ended by its line search (not by iterations) where the gradient vanishes."""
    jac = getattr(res, "jac", None)
    return (
        "ABNORMAL" in str(res.message).upper()
        and jac is not None
        and bool(np.all(np.isfinite(jac)))
        and float(np.max(np.abs(jac))) <= STALLED_GRADIENT_TOL
    )
