"""The figures the commands and benchmarks write: PNG files, drawn off screen, the same bytes for the same input.

Each function takes plain results (what a command computed or a benchmark saved as JSON) and a path, draws one
titled figure with labelled axes on matplotlib's Agg canvas (no display, no pyplot state) and returns the path.
The device SDK never imports this module; it lives with the command line, which may use every package.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter
from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix

from ensemble.forecasting.rolling import SERVED, RollingForecasts
from shopmesh.errors import CommandError

__all__ = [
    "CascadePoint",
    "cascade_tradeoff",
    "confusion_matrix_plot",
    "forecast_bands",
    "latency_histograms",
    "png_path",
    "pricing_regret",
    "round_accuracy",
]

logger = logging.getLogger(__name__)

DPI = 100
# No software version or date in the file: the same figure gives the same bytes.
_METADATA: dict[str, str | None] = {"Software": None}


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def png_path(given: Path | None, default: Path) -> Path:
    """The PNG file a command will write: ``given`` (``--plot``) or ``default``, checked before any work is
    done, with its folder created."""
    out = given if given is not None else default
    _check_png(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CommandError(f"cannot create the folder of the plot file {out}: {err}; choose another path") from err
    return out


def _check_png(out: Path) -> None:
    if out.suffix.lower() != ".png":
        raise CommandError(f"plot file {out} must end in .png; give a path such as {out.with_suffix('.png')}")
    if out.is_dir():
        raise CommandError(f"plot file {out} is a folder; give a file name ending in .png")


def _save(figure: Figure, out: Path) -> Path:
    _check_png(out)
    if not out.parent.is_dir():
        raise CommandError(f"the folder of the plot file {out} does not exist; create it or choose another path")
    figure.tight_layout()
    figure.savefig(out, format="png", dpi=DPI, metadata=_METADATA)
    logger.info("wrote %s", out)
    return out


def round_accuracy(accuracy: Mapping[int, float], out: Path, *, title: str = "Federated rounds") -> Path:
    """Validation accuracy the nodes reported after each server round (FedAvg-weighted), one point per round."""
    if not accuracy:
        raise CommandError("no round reported an accuracy, so there is nothing to plot; check the run's output")
    rounds = sorted(accuracy)
    figure = _figure(6, 4)
    axis = figure.add_subplot()
    axis.plot(rounds, [accuracy[r] for r in rounds], marker="o")
    axis.set_xticks(rounds)
    axis.set_ylim(0.0, 1.0)
    axis.set_xlabel("server round")
    axis.set_ylabel("validation accuracy (weighted over nodes)")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    return _save(figure, out)


def pricing_regret(
    weekly_profit: Mapping[str, Sequence[float] | np.ndarray] | Sequence[Mapping[str, Sequence[float] | np.ndarray]],
    out: Path,
    *,
    title: str = "Pricing policies on Dominick's odd stores\n(simulator fitted on even stores)",
) -> Path:
    """Cumulative regret of each pricing policy against the oracle's profit, week by week; given one mapping per
    seed, each seed is a thin line and the mean over seeds a bold one."""
    runs = [weekly_profit] if isinstance(weekly_profit, Mapping) else list(weekly_profit)
    if not runs:
        raise CommandError("the pricing evaluation returned no runs, so there is nothing to plot")
    for run in runs:
        if "oracle" not in run:
            raise CommandError(f"the pricing run has no oracle profit to measure regret against; got {list(run)}")
    figure = _figure(7, 4)
    axis = figure.add_subplot()
    colours = {}
    for name in (n for n in runs[0] if n != "oracle"):
        regrets = np.stack(
            [
                np.cumsum(np.asarray(run["oracle"], dtype=np.float64)) - np.cumsum(np.asarray(run[name], np.float64))
                for run in runs
            ]
        )  # (seeds, weeks)
        weeks = np.arange(1, regrets.shape[1] + 1)
        (line,) = axis.plot(weeks, regrets.mean(axis=0), linewidth=2, label=name)
        colours[name] = line.get_color()
        if len(runs) > 1:
            for row in regrets:
                axis.plot(weeks, row, color=colours[name], alpha=0.25, linewidth=0.8)
    axis.set_xlabel("simulated week")
    axis.set_ylabel("cumulative regret vs oracle (profit units)")
    axis.set_title(title if len(runs) == 1 else f"{title}, {len(runs)} seeds (thin) and their mean (bold)")
    axis.legend()
    return _save(figure, out)


def _separate_windows(result: RollingForecasts) -> list[int]:
    """Indices of test windows that do not overlap, latest first, so their bands can share one axis."""
    chosen: list[int] = []
    start = result.panel.length + 1
    for index in range(len(result.windows) - 1, -1, -1):
        window = result.windows[index]
        if window.cutoff + result.config.horizon <= start:
            chosen.append(index)
            start = window.cutoff
    return chosen


def forecast_bands(result: RollingForecasts, out: Path, *, series: int = 4, history: int = 26) -> Path:
    """The served forecaster on the test windows of the ``series`` largest series: actual values (with
    ``history`` steps before the first window drawn), the P50 forecast and the conformal P10-P90 band."""
    panel = result.panel
    if not result.windows:
        raise CommandError("the evaluation has no test window to plot; use more data or fewer --test-windows")
    largest = np.argsort(-panel.values.sum(axis=1), kind="stable")[:series]
    windows = _separate_windows(result)
    first = min(result.windows[w].cutoff for w in windows)
    shown = slice(max(0, first - history), panel.length)
    figure = _figure(7, 2.6 * len(largest))
    for row, i in enumerate(largest):
        axis = figure.add_subplot(len(largest), 1, row + 1)
        axis.plot(panel.dates[shown], panel.values[i, shown], color="black", linewidth=1.2, label="actual")
        for n, w in enumerate(windows):
            window = result.windows[w]
            band = window.conformal[SERVED]
            dates = panel.dates[window.cutoff : window.cutoff + result.config.horizon]
            first_window = n == 0
            axis.fill_between(
                dates,
                band.lower[i],
                band.upper[i],
                color="tab:blue",
                alpha=0.25,
                label="P10-P90 (conformal)" if first_window else None,
            )
            axis.plot(dates, band.point[i], color="tab:blue", label="P50 forecast" if first_window else None)
        axis.set_title(f"series {panel.keys[i]}")
        axis.tick_params(axis="x", labelrotation=30, labelsize=8)
        axis.set_xlabel("week")
        axis.set_ylabel("units")
        axis.legend(fontsize=8, loc="upper left")
    figure.suptitle("Served forecaster vs actual on held-out windows")
    return _save(figure, out)


def confusion_matrix_plot(
    labels: Sequence[str], predicted: Sequence[str], out: Path, *, title: str = "Intent confusion matrix"
) -> Path:
    """Row-normalised confusion matrix of true against predicted labels (every label seen on either side)."""
    if len(labels) != len(predicted) or not labels:
        raise CommandError(f"need as many predictions as labels, at least one; got {len(predicted)} and {len(labels)}")
    classes = sorted(set(labels) | set(predicted))
    with warnings.catch_warnings():
        # scikit-learn warns about a 1 x 1 matrix even when, as here, every label is passed in ``labels``.
        warnings.filterwarnings("ignore", message="A single label was found", category=UserWarning)
        matrix = confusion_matrix(list(labels), list(predicted), labels=classes, normalize="true")
    size = max(5.0, 0.32 * len(classes) + 3)
    figure = _figure(size, size)
    axis = figure.add_subplot()
    display = ConfusionMatrixDisplay(matrix, display_labels=classes)
    display.plot(ax=axis, include_values=len(classes) <= 12, cmap="Blues", colorbar=True, xticks_rotation="vertical")
    axis.set_xlabel("predicted intent")
    axis.set_ylabel("true intent (rows sum to 1)")
    axis.set_title(title)
    return _save(figure, out)


def _log_bins(values: Sequence[float], count: int = 40) -> list[float]:
    low, high = max(min(values), 0.1), max(max(values), 0.2)
    if high <= low:
        high = low * 2
    return [low * (high / low) ** (i / count) for i in range(count + 1)]


def latency_histograms(cells: Sequence[Mapping[str, Any]], out: Path) -> Path:
    """One panel per concurrency level, a step histogram per system, from cells holding ``system``,
    ``concurrency`` and ``latencies_ms`` (the request latencies in milliseconds)."""
    missing = [cell.get("system", "?") for cell in cells if "latencies_ms" not in cell]
    if missing or not cells:
        raise CommandError(
            f"the results hold no request latencies for {missing or 'any cell'}; rerun the benchmark, whose "
            "results JSON keeps them"
        )
    levels = sorted({int(cell["concurrency"]) for cell in cells})
    figure = _figure(6 * len(levels), 4)
    for n, level in enumerate(levels):
        axis: Axes = figure.add_subplot(1, len(levels), n + 1)
        here = [cell for cell in cells if int(cell["concurrency"]) == level and cell["latencies_ms"]]
        values = [float(v) for cell in here for v in cell["latencies_ms"]]
        if values:
            bins = _log_bins(values)
            for cell in here:
                axis.hist(cell["latencies_ms"], bins=bins, histtype="step", linewidth=1.5, label=cell["system"])
            axis.set_xscale("log")
            axis.xaxis.set_minor_formatter(NullFormatter())  # decade labels only: minor labels overlap
            axis.legend(fontsize=8)
        axis.set_xlabel("latency (ms, log scale)")
        axis.set_ylabel("requests")
        axis.set_title(f"{level} concurrent client(s)")
    figure.suptitle("Request latency by system")
    return _save(figure, out)


@dataclass(frozen=True)
class CascadePoint:
    """At one confidence threshold: the share answered on the device, the accuracy of those answers, and the
    accuracy of all answers when the rest come from the cluster."""

    threshold: float
    device_share: float
    device_accuracy: float | None
    overall_accuracy: float

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> CascadePoint:
        try:
            accuracy = row["device_accuracy"]
            return cls(
                float(row["threshold"]),
                float(row["device_share"]),
                None if accuracy is None else float(accuracy),
                float(row["overall_accuracy"]),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise CommandError(
                f"a cascade point {dict(row)} lacks threshold, device_share, device_accuracy or overall_accuracy "
                f"({err}); rerun the benchmark to write its results again"
            ) from err


def cascade_tradeoff(points: Sequence[CascadePoint], out: Path, *, threshold: float | None = None) -> Path:
    """Accuracy against the share of messages answered on the device, one point per confidence threshold;
    ``threshold`` marks the bundle's own setting."""
    if not points:
        raise CommandError("no cascade points to plot; the benchmark's results have none")
    ordered = sorted(points, key=lambda p: p.device_share)
    share = [p.device_share for p in ordered]
    figure = _figure(6.5, 4.5)
    axis = figure.add_subplot()
    axis.plot(share, [p.overall_accuracy for p in ordered], marker=".", label="all answers (rest from the cluster)")
    answered = [(p.device_share, p.device_accuracy) for p in ordered if p.device_accuracy is not None]
    axis.plot(
        [x for x, _ in answered],
        [y for _, y in answered],
        marker=".",
        linestyle="--",
        label="answers given on the device",
    )
    if threshold is not None:
        nearest = min(ordered, key=lambda p: abs(p.threshold - threshold))
        axis.scatter([nearest.device_share], [nearest.overall_accuracy], color="red", zorder=3)
        axis.annotate(
            f"threshold {nearest.threshold:.2f}",
            (nearest.device_share, nearest.overall_accuracy),
            textcoords="offset points",
            xytext=(-90, 8),
        )
    axis.set_xlim(0.0, 1.0)
    axis.set_xlabel("share of messages answered on the device")
    axis.set_ylabel("accuracy")
    axis.set_title("Edge cascade: share on device vs accuracy")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="lower left")
    return _save(figure, out)
