"""Fit diagnostics: parameters, log-likelihood and a calibration/holdout comparison.

The comparison is the classic one of Fader, Hardie & Lee (2005): models fitted on the
calibration period predict each customer's repeat purchases over the holdout period; the
predictions are compared with what happened, in total and averaged per calibration
frequency (0, 1, ..., 6, 7+). Everything returned is JSON-friendly (floats, ints, strings,
lists, dicts) and ``markdown`` renders as a Dagster ``MetadataValue.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from dagster_project.lib.clv.purchase import _BetaGeoModel
from dagster_project.lib.clv.spend import GammaGamma, frequency_value_correlation
from dagster_project.lib.clv.summary import CalibrationHoldout


def _fmt(value: float, digits: int = 3) -> str:
    if value is None or not np.isfinite(value):
        return "n/a"
    return f"{value:,.{digits}f}"


def _models_by_name(
    models: _BetaGeoModel | Sequence[_BetaGeoModel] | Mapping[str, _BetaGeoModel],
) -> dict[str, _BetaGeoModel]:
    if isinstance(models, _BetaGeoModel):
        return {models.name: models}
    if isinstance(models, Mapping):
        return dict(models)
    return {m.name: m for m in models}


def calibration_holdout_diagnostics(
    models: _BetaGeoModel | Sequence[_BetaGeoModel] | Mapping[str, _BetaGeoModel],
    data: CalibrationHoldout,
    *,
    spend_model: GammaGamma | None = None,
    max_frequency: int = 7,
) -> dict[str, object]:
    """Compare each purchase model's holdout predictions with the actual repeat purchases.

    ``models`` were fitted on ``data.calibration``. Returns a dict with ``models`` (parameters,
    log-likelihood on the calibration data, predicted and actual holdout totals),
    ``holdout_bins`` (per calibration frequency 0..max_frequency-1 and ``max_frequency+``:
    customers, actual and predicted mean holdout purchases), optionally ``spend`` (Gamma-Gamma
    parameters and predicted vs actual mean holdout order value), and ``markdown``.
    """
    named = _models_by_name(models)
    cal = data.calibration
    x = cal.frequency.astype(np.float64)
    actual = data.frequency_holdout.astype(np.float64)
    n = len(x)
    predictions = {
        name: model.conditional_expected_purchases(data.duration_holdout, x, cal.recency, cal.T)
        if n
        else np.zeros(0)
        for name, model in named.items()
    }

    model_stats: dict[str, dict[str, object]] = {}
    for name, model in named.items():
        ll = (
            model.fit_info.log_likelihood
            if model.fit_info is not None
            else model.total_log_likelihood(x, cal.recency, cal.T)
        )
        predicted_total = float(predictions[name].sum())
        actual_total = float(actual.sum())
        model_stats[name] = {
            "params": {k: float(v) for k, v in model.params.items()},
            "log_likelihood": float(ll),
            "holdout_predicted_total": predicted_total,
            "holdout_actual_total": actual_total,
            "holdout_error_pct": (
                100.0 * (predicted_total - actual_total) / actual_total if actual_total else None
            ),
            "mean_p_alive": float(model.p_alive(x, cal.recency, cal.T).mean()) if n else None,
        }

    bins: list[dict[str, object]] = []
    bin_index = np.minimum(x, max_frequency).astype(np.int64)
    for k in range(max_frequency + 1):
        mask = bin_index == k
        count = int(mask.sum())
        row: dict[str, object] = {
            "frequency_cal": f"{k}+" if k == max_frequency else str(k),
            "customers": count,
            "actual_mean": float(actual[mask].mean()) if count else None,
        }
        for name in named:
            predicted = float(predictions[name][mask].mean()) if count else None
            row[f"predicted_mean[{name}]"] = predicted
        bins.append(row)

    out: dict[str, object] = {
        "n_customers": n,
        "calibration_end": data.calibration_end.isoformat(),
        "observation_end": data.observation_end.isoformat(),
        "duration_holdout": float(data.duration_holdout),
        "time_unit_days": float(cal.time_unit_days),
        "models": model_stats,
        "holdout_bins": bins,
    }

    if spend_model is not None:
        buyers = data.frequency_holdout > 0
        predicted_value = spend_model.conditional_expected_average_value(x, cal.monetary_value)
        out["spend"] = {
            "params": {k: float(v) for k, v in spend_model.params.items()},
            "log_likelihood": (
                spend_model.fit_info.log_likelihood if spend_model.fit_info is not None else None
            ),
            "population_mean": float(spend_model.population_mean),
            "frequency_value_correlation": frequency_value_correlation(x, cal.monetary_value),
            "holdout_buyers": int(buyers.sum()),
            "holdout_actual_mean_value": (
                float(data.monetary_value_holdout[buyers].mean()) if buyers.any() else None
            ),
            "holdout_predicted_mean_value": (
                float(predicted_value[buyers].mean()) if buyers.any() else None
            ),
        }

    out["markdown"] = _markdown(out, list(named))
    return out


def _markdown(diag: dict, names: list[str]) -> str:
    lines = [
        f"**Calibration** to {diag['calibration_end']}, **holdout** to "
        f"{diag['observation_end']} ({_fmt(diag['duration_holdout'], 2)} time units of "
        f"{_fmt(diag['time_unit_days'], 0)} day(s)); {diag['n_customers']:,} customers.",
        "",
        "| model | parameters | log-likelihood | holdout predicted | holdout actual | error % |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name in names:
        s = diag["models"][name]
        params = ", ".join(f"{k}={_fmt(v, 4)}" for k, v in s["params"].items())
        err = s["holdout_error_pct"]
        lines.append(
            f"| {name} | {params} | {_fmt(s['log_likelihood'], 1)} | "
            f"{_fmt(s['holdout_predicted_total'], 1)} | {_fmt(s['holdout_actual_total'], 0)} | "
            f"{_fmt(err, 1) if err is not None else 'n/a'} |"
        )
    lines += [
        "",
        "Mean repeat purchases in the holdout, by calibration frequency:",
        "",
        "| frequency (cal.) | customers | actual | "
        + " | ".join(f"{n} predicted" for n in names)
        + " |",
        "|---|---:|---:|" + "---:|" * len(names),
    ]
    for row in diag["holdout_bins"]:
        preds = " | ".join(_fmt(row[f"predicted_mean[{n}]"]) for n in names)
        actual = row["actual_mean"]
        lines.append(
            f"| {row['frequency_cal']} | {row['customers']:,} | "
            f"{_fmt(actual) if actual is not None else 'n/a'} | {preds} |"
        )
    spend = diag.get("spend")
    if spend:
        params = ", ".join(f"{k}={_fmt(v, 4)}" for k, v in spend["params"].items())
        lines += [
            "",
            f"**Gamma-Gamma**: {params}; log-likelihood {_fmt(spend['log_likelihood'], 1)}; "
            f"population mean value {_fmt(spend['population_mean'], 2)}; "
            f"corr(frequency, value) = {_fmt(spend['frequency_value_correlation'], 3)}; "
            f"holdout buyers: predicted mean value "
            f"{_fmt(spend['holdout_predicted_mean_value'], 2)}, "
            f"actual {_fmt(spend['holdout_actual_mean_value'], 2)}.",
        ]
    return "\n".join(lines)
