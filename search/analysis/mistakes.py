"""A trial's mistakes on dev for people: the confusion-matrix image, the gallery of worst mistakes,
and the most-confused pairs as a table (note, terminal; `figures.confused_pairs` sums them over
the best trials).

The numbers come from `trainers.mistakes` (measured in the trial process); the images are drawn
there too, with matplotlib's object API (no pyplot, no display), and kept as the trial's artifacts.
"""

from __future__ import annotations

import json
import os
from typing import Any, Mapping, Sequence

import numpy as np

CONFUSION_PNG = "confusion.png"
GALLERY_PNG = "mistakes.png"
# The gallery's list (dev index, true and predicted class, confidence of each of the worst mistakes):
# kept beside the gallery in the artifact store, not in the trial's attributes, which every page of
# the dashboard and every status read carries for every trial (issue 27: 1.1 KB of a trial's 4.5 KB).
WORST_JSON = "mistakes-worst.json"
NOTE_PAIRS = 5  # most-confused pairs shown in a trial's note


def _name(classes: Sequence[str], k: int) -> str:
    return str(classes[k]) if 0 <= k < len(classes) else str(k)


def confusion_figure(mistakes: Mapping[str, Any]):
    """The confusion matrix as a matplotlib Figure: counts per (true, predicted), darker is more."""
    from matplotlib.figure import Figure

    matrix = np.asarray(mistakes["confusion"])
    classes = mistakes["classes"]
    n = len(matrix)
    side = min(14.0, 2.5 + 0.55 * n)
    fig = Figure(figsize=(side, side * 0.9), dpi=100)
    ax = fig.add_subplot()
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(n), [_name(classes, k) for k in range(n)], rotation=45, ha="right")
    ax.set_yticks(range(n), [_name(classes, k) for k in range(n)])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 20:  # counts stay readable up to about 20 classes
        top = matrix.max() or 1
        for t in range(n):
            for p in range(n):
                if matrix[t, p]:
                    ax.text(p, t, str(matrix[t, p]), ha="center", va="center", fontsize=8,
                            color="white" if matrix[t, p] > top / 2 else "black")
    ax.set_title(f"dev: {mistakes['errors']} errors in {mistakes['examples']} images")
    fig.tight_layout()
    return fig


def gallery_figure(mistakes: Mapping[str, Any], images: np.ndarray):
    """The most confident wrong predictions, each titled 'true -> predicted (confidence)'."""
    from matplotlib.figure import Figure

    worst = mistakes["worst"][: len(images)]
    cols = min(4, max(1, len(worst)))
    rows = max(1, -(-len(worst) // cols))
    fig = Figure(figsize=(3.0 * cols, 3.2 * rows), dpi=100)
    for k, (entry, pixels) in enumerate(zip(worst, images)):
        ax = fig.add_subplot(rows, cols, k + 1)
        ax.imshow(pixels.squeeze(-1) if pixels.shape[-1] == 1 else pixels, cmap="gray" if pixels.shape[-1] == 1 else None,
                  vmin=0, vmax=255)
        ax.set_title(f"{_name(mistakes['classes'], entry['true'])} → {_name(mistakes['classes'], entry['predicted'])}"
                     f" ({100 * entry['confidence']:.0f}%)", fontsize=9)
        ax.axis("off")
    fig.suptitle("most confident mistakes on dev (true → predicted)")
    fig.tight_layout()
    return fig


def write_files(mistakes: Mapping[str, Any], images: np.ndarray | None, folder: str) -> list[str]:
    """Draw the confusion matrix (and the gallery and its list, when there are mistakes) into `folder`; their paths."""
    paths = [os.path.join(folder, CONFUSION_PNG)]
    confusion_figure(mistakes).savefig(paths[0])
    if images is not None and len(images):
        paths.append(os.path.join(folder, GALLERY_PNG))
        gallery_figure(mistakes, images).savefig(paths[-1])
    if mistakes.get("worst"):
        paths.append(os.path.join(folder, WORST_JSON))
        with open(paths[-1], "w") as f:
            json.dump({"worst": mistakes["worst"]}, f)
    return paths


def pair_rows(mistakes: Mapping[str, Any], top: int | None = None) -> list[tuple[str, str, int, str]]:
    """(true, predicted, count, share of all dev errors) for the most-confused pairs."""
    classes = mistakes["classes"]
    return [(_name(classes, p["true"]), _name(classes, p["predicted"]), int(p["count"]), f"{100 * p['share']:.1f}%")
            for p in mistakes["pairs"][:top]]


def note_section(mistakes: Mapping[str, Any], urls: Mapping[str, str]) -> str:
    """Markdown for the trial's note: the pairs, and the images (artifact URLs by file name)."""
    lines = ["### Mistakes on dev", "",
             f"{mistakes['errors']} of {mistakes['examples']} dev images are wrong. Most-confused pairs:", "",
             "| true | predicted | count | share of errors |", "|---|---|---:|---:|"]
    lines += [f"| {t} | {p} | {n} | {s} |" for t, p, n, s in pair_rows(mistakes, NOTE_PAIRS)]
    if not mistakes["pairs"]:
        lines.append("| — | — | 0 | — |")
    for name, alt in ((CONFUSION_PNG, "confusion matrix"), (GALLERY_PNG, "most confident mistakes")):
        if name in urls:
            lines += ["", f"![{alt}]({urls[name]})"]
    return "\n".join(lines)
