"""Figures logged with every run: ROC curves, business cost against threshold, feature importance,
reliability diagram."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import roc_auc_score, roc_curve

from credit_scoring.cost import THRESHOLD_GRID, expected_calibration_error, reliability_table

# Figures are built without pyplot: no global state, no GUI backend, safe in any thread or server.


def roc_figure(y_true: np.ndarray, scores_by_model: Mapping[str, np.ndarray], title: str) -> Figure:
    """One ROC curve per model on the same labels, AUC in the legend."""
    figure = Figure(figsize=(6, 5), layout="constrained")
    axes = figure.subplots()
    for label, scores in scores_by_model.items():
        false_rate, true_rate, _ = roc_curve(y_true, scores)
        axes.plot(false_rate, true_rate, label=f"{label} (AUC {roc_auc_score(y_true, scores):.3f})")
    axes.plot([0, 1], [0, 1], linestyle=":", color="grey", label="chance")
    axes.set(
        xlabel="False positive rate (good clients refused)", ylabel="True positive rate (defaults caught)"
    )
    axes.set_title(title)
    axes.legend(loc="lower right")
    return figure


def cost_figure(
    costs_by_model: Mapping[str, np.ndarray], thresholds: Mapping[str, float], title: str
) -> Figure:
    """Business cost per application against the threshold, each model's chosen threshold marked."""
    figure = Figure(figsize=(6, 5), layout="constrained")
    axes = figure.subplots()
    for label, costs in costs_by_model.items():
        chosen = thresholds[label]
        cost_at_chosen = costs[int(np.argmin(np.abs(THRESHOLD_GRID - chosen)))]
        (line,) = axes.plot(THRESHOLD_GRID, costs, label=f"{label}: {cost_at_chosen:.3f} at {chosen:.3f}")
        axes.plot([chosen], [cost_at_chosen], marker="o", color=line.get_color())
    axes.set(xlabel="Threshold (refuse when probability >= threshold)", ylabel="Cost per application")
    axes.set_title(title)
    axes.legend(loc="upper right")
    return figure


def importance_figure(names: Sequence[str], importances: np.ndarray, top: int = 25) -> Figure:
    """The ``top`` features by total split gain, largest at the top."""
    order = np.argsort(importances)[::-1][:top][::-1]
    figure = Figure(figsize=(7, 0.28 * len(order) + 1.2), layout="constrained")
    axes = figure.subplots()
    axes.barh([names[i] for i in order], importances[order])
    axes.set(xlabel="Total gain", title=f"LightGBM feature importance (top {len(order)})")
    return figure


def reliability_figure(y_true: np.ndarray, scores_by_model: Mapping[str, np.ndarray], title: str) -> Figure:
    """Observed default rate against mean predicted probability per equal-size group, ECE in the legend;
    a calibrated model lies on the diagonal."""
    figure = Figure(figsize=(6, 5), layout="constrained")
    axes = figure.subplots()
    highest = 0.0
    for label, scores in scores_by_model.items():
        predicted, observed, _ = reliability_table(y_true, scores)
        ece = expected_calibration_error(y_true, scores)
        axes.plot(predicted, observed, marker="o", label=f"{label} (ECE {ece:.3f})")
        highest = max(highest, float(predicted.max()), float(observed.max()))
    axes.plot([0, highest], [0, highest], linestyle=":", color="grey", label="perfectly calibrated")
    axes.set(xlabel="Mean predicted probability of default", ylabel="Observed default rate")
    axes.set_title(title)
    axes.legend(loc="upper left")
    return figure
