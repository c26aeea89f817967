"""Report figures as PNG files: ROC curves (optionally with bootstrap bands), score histograms, image grids,
ROC-AUC against perturbation severity."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

from data_modules.io import atomic_write_bytes  # noqa: E402
from src.evaluation.intervals import BootstrapSettings, RocBand, enough_per_class, roc_band  # noqa: E402
from src.evaluation.robustness import RobustnessPoint  # noqa: E402
from src.evaluation.videos import ScoredVideo  # noqa: E402


def _save(fig: plt.Figure, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def plot_roc(path: Path, title: str, labels: dict[str, np.ndarray], scores: dict[str, np.ndarray],
             bands: dict[str, RocBand] | None = None) -> None:
    """ROC curve of every scorer that has both classes, shaded with its bootstrap band where one is given."""
    bands = bands or {}
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, s in scores.items():
        if len(set(labels[name].tolist())) == 2:
            fpr, tpr, _ = roc_curve(labels[name], s)
            (line,) = ax.plot(fpr, tpr, label=name)
            if name in bands:
                band = bands[name]
                ax.fill_between(band.fpr, band.lo, band.hi, color=line.get_color(), alpha=0.2, lw=0)
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(xlabel="false-positive rate", ylabel="true-positive rate", title=title)
    confidence = {b.confidence for b in bands.values()}
    legend_title = (f"shaded: {confidence.pop():.0%} bootstrap band of {', '.join(bands)}"
                    if len(confidence) == 1 else None)
    ax.legend(fontsize=7, loc="lower right", title=legend_title, title_fontsize=7)
    _save(fig, path)


def plot_histograms(path: Path, title: str, labels: dict[str, np.ndarray], scores: dict[str, np.ndarray]) -> None:
    """Per scorer, video-score histograms of reals and fakes."""
    names = list(scores)
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 2.8), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        s, y = scores[name], labels[name]
        bins = np.histogram_bin_edges(s, bins=20) if len(s) else 10
        ax.hist(s[y == 0], bins=bins, alpha=0.6, label="real")
        ax.hist(s[y == 1], bins=bins, alpha=0.6, label="fake")
        ax.set_title(name, fontsize=8)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    _save(fig, path)


def plot_image_grid(path: Path, images: list[np.ndarray], captions: list[str], title: str, columns: int = 4) -> None:
    """RGB uint8 images in a grid (a contact sheet), each with its caption."""
    rows = max(1, -(-len(images) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.4 * rows + 0.3), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, caption in zip(axes.flat, images, captions, strict=False):
        ax.imshow(image)
        ax.set_title(caption, fontsize=7)
    fig.suptitle(title, fontsize=8)
    _save(fig, path)


def roc_bands(labels: dict[str, np.ndarray], scores: dict[str, np.ndarray],
              bootstrap: BootstrapSettings) -> dict[str, RocBand]:
    """The bootstrap ROC band of every scorer with at least MIN_PER_CLASS videos of each class."""
    return {s: roc_band(labels[s], scores[s], bootstrap.seed, bootstrap.resamples, bootstrap.confidence)
            for s in scores if enough_per_class(labels[s])}


def dataset_plots(run_dir: Path, videos: list[ScoredVideo], scorers: list[str],
                  bootstrap: BootstrapSettings | None = None, banded: list[str] | None = None) -> list[Path]:
    """roc_<dataset>.png and hist_<dataset>.png per dataset, over the videos each scorer could score; with
    `bootstrap`, the ROC shades the bands of the `banded` scorers (default all: more than a few overlap)."""
    paths = []
    for dataset in sorted({v.dataset for v in videos}):
        chosen = [v for v in videos if v.dataset == dataset]
        labels = {s: np.asarray([v.label for v in chosen if v.scores.get(s) is not None]) for s in scorers}
        scores = {s: np.asarray([v.scores[s] for v in chosen if v.scores.get(s) is not None], dtype=np.float64)
                  for s in scorers}
        roc, hist = run_dir / f"roc_{dataset}.png", run_dir / f"hist_{dataset}.png"
        shaded = [s for s in scorers if banded is None or s in banded]
        bands = (roc_bands({s: labels[s] for s in shaded}, {s: scores[s] for s in shaded}, bootstrap)
                 if bootstrap is not None else None)
        plot_roc(roc, f"{dataset}: video-level ROC", labels, scores, bands)
        plot_histograms(hist, f"{dataset}: video scores", labels, scores)
        paths += [roc, hist]
    return paths


def plot_robustness(path: Path, dataset: str, points: list[RobustnessPoint], scorers: list[str]) -> None:
    """One panel per perturbation kind: each scorer's video-level ROC-AUC against severity (0: clean)."""
    kinds = list(dict.fromkeys(p.kind for p in points if p.dataset == dataset))
    columns = min(3, len(kinds))
    rows = -(-len(kinds) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.4 * columns, 2.8 * rows), squeeze=False, sharey=True)
    for ax in axes.flat[len(kinds):]:
        ax.axis("off")
    for ax, kind in zip(axes.flat, kinds, strict=False):
        chosen = [p for p in points if p.dataset == dataset and p.kind == kind]
        for scorer in scorers:
            xy = [(p.severity, p.auc[scorer]) for p in chosen if p.auc[scorer] is not None]
            if xy:
                ax.plot(*zip(*xy, strict=True), marker="o", ms=3, label=scorer)
        ax.axhline(0.5, color="k", ls=":", lw=0.8)
        ax.set(title=kind, xlabel="severity", xticks=[p.severity for p in chosen], ylim=(0.0, 1.02))
        ax.title.set_fontsize(9)
    for ax in axes[:, 0]:
        ax.set_ylabel("video ROC-AUC")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="lower center", ncol=min(len(labels), 4) or 1,
               bbox_to_anchor=(0.5, -0.02))
    fig.suptitle(f"{dataset}: ROC-AUC under test-time perturbations (severity 0: clean)", fontsize=9)
    fig.tight_layout(rect=(0, 0.06 * (1 + (len(labels) > 4)), 1, 1))
    _save(fig, path)
