"""What to try next, in this project's terms: pure functions from a decomposition (and a config) to text.

The rules follow the error analysis in search/analysis/diagnostics.py: avoidable bias calls for a bigger
network, longer training, a better optimizer or learning rate, less regularisation; variance
for more data, more regularisation (dropout, augmentation, weight decay), fine-tuning fewer
backbone layers; data mismatch for error analysis and training data closer to the target;
dev overfitting for a bigger dev set. Each step names the trial's own values when it has a
config (`TrainConfig.to_dict()`), and stays generic when it does not (`hpsearch diagnose`).
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from search.analysis.diagnostics import DEFAULT_TOLERANCE, Decomposition

# The small CNN's largest network in the built-in spaces (spaces/default.py).
MAX_DEPTH, MAX_WIDTH = 4, 128
LIGHT_BACKBONES = ("mobilenet_v2", "efficientnet_b0")
STRONG_BACKBONES = ("efficientnet_b0", "resnet50", "densenet121", "xception")
GAP_NAMES = {"bias": "avoidable bias", "variance": "variance", "data mismatch": "data mismatch", "dev overfitting": "dev overfitting"}
LIMIT_NAMES = {"latency_ms": "latency (ms, batch 1)", "params": "parameters", "model_mb": "model size (MiB)"}


def pct(rate: float | None) -> str:
    """An error rate as a percentage: 0.061 -> '6.1%'."""
    return "-" if rate is None else f"{rate * 100:.1f}%"


def points(gap: float | None) -> str:
    """A gap between two error rates in percentage points: 0.061 -> '6.1 points'."""
    return "-" if gap is None else f"{gap * 100:.1f} points"


def signed_points(gap: float | None) -> str:
    return "-" if gap is None else f"{gap * 100:+.1f}"


def _get(config: Mapping[str, Any] | None, path: str, default: Any = None) -> Any:
    node: Any = config or {}
    for key in path.split("."):
        if not isinstance(node, Mapping) or key not in node:
            return default
        node = node[key]
    return node


def _pretrained(config: Mapping[str, Any] | None) -> bool:
    backbone = _get(config, "model.backbone")
    return backbone is not None and backbone != "small_cnn"


# ---- the decomposition as text --------------------------------------------------------------
def decomposition_rows(d: Decomposition) -> list[tuple[str, str, str, str]]:
    """(split, error, gap name, gap) rows: the same table in notes, reports and `diagnose`."""
    rows = [("human-level", pct(d.human_error), "", ""), ("train", pct(d.train_error), "avoidable bias", signed_points(d.avoidable_bias))]
    if d.train_dev_error is not None:
        rows.append(("train-dev", pct(d.train_dev_error), "variance", signed_points(d.variance)))
        rows.append(("dev", pct(d.dev_error), "data mismatch", signed_points(d.data_mismatch)))
    else:
        rows.append(("dev", pct(d.dev_error), "variance (no train-dev: dev - train)", signed_points(d.variance)))
    if d.test_error is not None:
        rows.append(("test", pct(d.test_error), "dev overfitting", signed_points(d.dev_overfitting)))
    return rows


def markdown_table(d: Decomposition) -> str:
    lines = ["| split | error | gap | points |", "|---|---:|---|---:|"]
    lines += [f"| {a} | {b} | {c} | {e} |" for a, b, c, e in decomposition_rows(d)]
    return "\n".join(lines)


def verdict(d: Decomposition, tolerance: float = DEFAULT_TOLERANCE) -> str:
    """One sentence: the dominant problem, what else is above tolerance, and a negative bias said plainly."""
    gaps = d.gaps()
    if d.dominant == "none":
        text = f"No dominant problem: every gap is within {points(tolerance)} (noise on a typical dev set)."
    else:
        text = f"Dominant problem: {d.dominant} ({points(gaps[d.dominant])})."
        others = [f"{GAP_NAMES[p]} {points(g)}" for p, g in gaps.items() if p != d.dominant and g is not None and g > tolerance]
        if others:
            text += f" Also above tolerance: {', '.join(others)}."
    if d.below_human:
        text += (
            f" Train error {pct(d.train_error)} is below human-level error {pct(d.human_error)}"
            f" (avoidable bias {signed_points(d.avoidable_bias)} points): not a problem, but the human-level"
            " estimate may be too high, so avoidable bias can no longer guide the search."
        )
    return text


# ---- next steps -------------------------------------------------------------------------
def next_steps(
    d: Decomposition,
    config: Mapping[str, Any] | None = None,
    *,
    curves: Mapping[str, Sequence[float | None]] | None = None,
) -> list[str]:
    """Concrete next steps for the dominant problem, naming the trial's own values when known."""
    rules = {"bias": _bias, "variance": _variance, "data mismatch": _mismatch, "dev overfitting": _dev_overfitting}
    if d.dominant in rules:
        return rules[d.dominant](d, config, curves or {})
    return _none(d, config)


def _bias(d: Decomposition, config, curves) -> list[str]:
    gap = points(d.avoidable_bias)
    steps = []
    if config is None:
        return [
            f"avoidable bias is {gap}: a bigger network or a stronger backbone",
            "train longer, or with a better optimizer / learning rate (Adam, a learning-rate schedule)",
            "less regularization: lower dropout, weaker augmentation, less weight decay",
        ]
    backbone = _get(config, "model.backbone")
    if _pretrained(config):
        ff = _get(config, "transfer.fine_tune_fraction", 0.0)
        stronger = [b for b in STRONG_BACKBONES if b != backbone][:2]
        steps.append(
            f"the backbone is {backbone}, fine-tuning {ff:.0%} of its layers, and avoidable bias is {gap}: "
            f"fine-tune more of it (fine_tune_fraction ≥ {min(0.5, max(0.2, ff * 2)):.2f}) or try a stronger backbone "
            f"({' or '.join(stronger)})"
        )
    else:
        depth, width = _get(config, "model.depth", 2), _get(config, "model.width", 32)
        if depth < MAX_DEPTH or width < MAX_WIDTH:
            steps.append(
                f"the small CNN has depth {depth} and width {width} and avoidable bias is {gap}: try a bigger network "
                f"(depth {min(depth + 1, MAX_DEPTH)}+, width {min(width * 2, MAX_WIDTH)}+)"
            )
        else:
            steps.append(
                f"the small CNN is already the space's largest (depth {depth}, width {width}): try a pretrained "
                "backbone (--space default, --weights imagenet)"
            )
    epochs = _get(config, "training.epochs")
    train_curve = [v for v in (curves.get("train_error") or []) if v is not None]
    if len(train_curve) >= 2 and train_curve[-1] < train_curve[-2] - 0.002:
        steps.append(
            f"train error was still falling at the last epoch ({pct(train_curve[-2])} → {pct(train_curve[-1])}): "
            f"train longer (--epochs {2 * (epochs or len(train_curve))})"
        )
    elif epochs:
        steps.append(f"train longer than {epochs} epochs (--epochs {2 * epochs}), with a schedule (lr_decay is {_get(config, 'optimizer.lr_decay', 'none')})")
    name, lr = _get(config, "optimizer.name", "adam"), _get(config, "optimizer.learning_rate")
    if lr is not None:
        if name == "adam" and lr < 3e-4:
            steps.append(f"Adam's learning rate is {lr:.1e}, small for {epochs or 'this many'} epochs: try 3e-4 .. 3e-3")
        elif name == "adam" and lr > 1e-2:
            steps.append(f"Adam's learning rate is {lr:.1e}, high enough to stall training: try 3e-4 .. 3e-3")
        elif name == "sgd" and lr < 1e-2:
            momentum = _get(config, "optimizer.momentum", 0.9)
            steps.append(f"SGD's learning rate is {lr:.1e} (momentum β {momentum:.3f}): try 1e-2 .. 1e-1, or Adam")
        else:
            other = "sgd with momentum β 0.9 .. 0.99" if name == "adam" else "adam"
            steps.append(f"the learning rate {lr:.1e} with {name} is in the usual range: try {other}, or lr_decay cosine")
    heavy = []
    dropout = _get(config, "model.dropout", 0.0)
    if dropout > 0.1:
        heavy.append(f"dropout is {dropout:.2f} (try ≤ 0.1)")
    policy = _get(config, "augment.policy", "none")
    if policy != "none":
        heavy.append(f"augmentation is {policy} at magnitude {_get(config, 'augment.magnitude', 0.0):.2f} (try weaker, or none)")
    decay = _get(config, "optimizer.weight_decay", 0.0)
    if decay:
        heavy.append(f"weight decay is {decay:g} (try less)")
    if heavy:
        steps.append("less regularization: " + "; ".join(heavy))
    return steps


def _variance(d: Decomposition, config, curves) -> list[str]:
    gap = points(d.variance)
    against = "train-dev" if d.train_dev_error is not None else "dev"
    if config is None:
        return [
            f"variance is {gap} ({against} {pct(d.train_dev_error if d.train_dev_error is not None else d.dev_error)} "
            f"vs train {pct(d.train_error)}): more training data",
            "more regularization: dropout, data augmentation, weight decay",
            "with a pretrained backbone, fine-tune fewer of its layers",
        ]
    steps = []
    max_train = _get(config, "data.max_train_examples")
    steps.append(
        f"more training data: train {pct(d.train_error)} vs {against} {pct(d.train_dev_error if d.train_dev_error is not None else d.dev_error)}"
        + (f"; max_train_examples caps it at {max_train}" if max_train else "")
    )
    dropout = _get(config, "model.dropout", 0.0)
    policy, magnitude = _get(config, "augment.policy", "none"), _get(config, "augment.magnitude", 0.0)
    if policy == "none":
        augment = "the occlusion policy"
    else:
        augment = f"a stronger {policy} (magnitude {magnitude:.2f} → {min(0.5, max(magnitude * 2, 0.2)):.2f})"
    if dropout < 0.3:
        steps.append(f"dropout is {dropout:.2f} and variance is {gap}: try dropout ≥ 0.3 or {augment}")
    else:
        steps.append(f"dropout is already {dropout:.2f}: add {augment}")
    decay = _get(config, "optimizer.weight_decay", 0.0)
    if not decay:
        steps.append("weight decay is 0: add some (optimizer.weight_decay 1e-4 .. 1e-3)")
    if _get(config, "model.batch_norm") == "none":
        steps.append("batch norm is off: try it after each activation (batch_norm: after)")
    if _pretrained(config):
        ff = _get(config, "transfer.fine_tune_fraction", 0.0)
        if ff > 0:
            steps.append(f"fine_tune_fraction is {ff:.2f}: fine-tune fewer backbone layers (≤ {ff / 2:.2f}), or freeze longer")
    else:
        width = _get(config, "model.width", 32)
        if width > 32:
            steps.append(f"or a smaller small CNN (width {width} → {max(16, width // 2)}) if the bias allows it")
    return steps


def _mismatch(d: Decomposition, config, curves) -> list[str]:
    gap = points(d.data_mismatch)
    policy = _get(config, "augment.policy")
    return [
        f"dev error exceeds train-dev error by {gap}: do error analysis on the dev mistakes (which classes, "
        "which conditions: blur, lighting, framing, resolution)",
        "make the training data closer to the target: add target-like images to train (dir:PATH, with "
        "--target-dir keeping dev and test on the target)",
        "synthesize the target's conditions"
        + (f" (augmentation is {policy}: try color or blur if the target differs in lighting or sharpness)" if policy else
           " with augmentation (color, blur) or synthetic data"),
    ]


def _dev_overfitting(d: Decomposition, config, curves) -> list[str]:
    gap = points(d.dev_overfitting)
    frac = _get(config, "data.dev_fraction")
    size = f" (data.dev_fraction is {frac:.2f}: try {min(0.5, frac * 2):.2f})" if frac else ""
    return [
        f"test error exceeds dev error by {gap}: the search has tuned itself to the dev set; use a bigger dev set{size}",
        "compare the best few trials on the bigger dev set before picking one",
    ]


def _none(d: Decomposition, config) -> list[str]:
    if d.below_human:
        return [
            "training error is already below the human-level estimate: re-check --human-error (a better proxy for "
            "Bayes error), then judge variance and data mismatch against it",
        ]
    return [
        f"dev error {pct(d.dev_error)} is within noise of human-level error {pct(d.human_error)}: to go further, "
        "re-check the human-level estimate, clean label errors, or get more data",
    ]


# ---- satisficing limits ----------------------------------------------------------------
def infeasible_lines(constraints: Mapping[str, float | None], limits: Mapping[str, float], config=None) -> list[str]:
    """Each broken satisficing limit, with the measured value and a lighter-model hint."""
    lines = []
    for name, excess in constraints.items():
        if excess is not None and excess <= 0:
            continue
        limit = limits.get(name)
        label = LIMIT_NAMES.get(name, name)
        if excess is None or not math.isfinite(excess) or limit is None:
            lines.append(f"{label}: not measured, so the limit cannot be checked")
            continue
        lines.append(f"{label} is {_num(limit + excess)}, above the limit {_num(limit)} (by {_num(excess)})")
    if lines and config is not None:
        if _pretrained(config):
            lighter = [b for b in LIGHT_BACKBONES if b != _get(config, "model.backbone")]
            lines.append(f"a lighter backbone ({' or '.join(lighter)}) would fit the limits sooner")
        else:
            width, depth = _get(config, "model.width", 32), _get(config, "model.depth", 2)
            lines.append(f"a narrower or shallower small CNN (width {width}, depth {depth} now) would fit the limits sooner")
    return lines


def _num(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


# ---- the trial note -------------------------------------------------------------------
def trial_note(
    number: int,
    state: str,
    *,
    decomposition: Decomposition | None,
    config: Mapping[str, Any] | None = None,
    curves: Mapping[str, Sequence[float | None]] | None = None,
    constraints: Mapping[str, float | None] | None = None,
    limits: Mapping[str, float] | None = None,
    reason: str = "",
    epochs_run: int = 0,
) -> str:
    """The markdown note the dashboard shows on a trial: decomposition, dominant problem, next steps."""
    infeasible = infeasible_lines(constraints or {}, limits or {}, config)
    title = f"## Trial {number}: " + (decomposition.dominant if decomposition else state)
    parts = [title + (" — INFEASIBLE" if infeasible else "")]
    if infeasible:
        parts.append(
            "**INFEASIBLE**: it breaks a satisficing limit, so it is never exported as best.\n\n"
            + "\n".join(f"- {line}" for line in infeasible)
        )
    if state == "pruned":
        parts.append(f"Pruned ({reason or 'by the pruner'}): the numbers below are from epoch {epochs_run}, where it stopped; no test error.")
    elif state not in ("complete", "pruned"):
        parts.append(f"Ended as **{state}**: {reason or 'no reason recorded'}.")
    if decomposition is None:
        if state in ("complete", "pruned"):
            parts.append("No errors were measured, so there is no decomposition.")
        return "\n\n".join(parts) + "\n"
    parts.append(markdown_table(decomposition))
    parts.append(f"**{verdict(decomposition)}**")
    steps = next_steps(decomposition, config, curves=curves)
    parts.append("### Next steps\n\n" + "\n".join(f"- {s}" for s in steps))
    parts.append(f"_Errors measured in inference mode (no dropout, no augmentation) after {epochs_run} epochs._")
    return "\n\n".join(parts) + "\n"
