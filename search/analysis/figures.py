"""The study's figures in optuna-dashboard, refreshed after each trial by whichever worker finished it.

Each figure has a stable id, so a rewrite overwrites it; writers are serialised by a lock (the
caller's: a PostgreSQL advisory lock, or a file lock beside the embedded storage) because
optuna-dashboard stores a figure as numbered chunks, and two writers interleaving chunks would
leave broken JSON. The figures are rebuilt from the storage inside the lock, so the last
writer always writes the newest data. A failure is logged and never fails a worker.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Callable, ContextManager

import optuna

from search.analysis import report
from search.analysis.advice import LIMIT_NAMES
from search.analysis.mistakes import pair_rows
from search.analysis.report import StudyAnalysis
from search.core.spec import StudySpec

log = logging.getLogger("hpsearch.figures")

TITLES = {
    "hpsearch-decomposition": "Error decomposition of the best trials",
    "hpsearch-bias-variance": "Avoidable bias vs variance, every trial",
    "hpsearch-learning-curves": "Learning curves of the best trials",
    "hpsearch-regularization": "Variance vs regularization hyperparameters",
    "hpsearch-limits": "Objective vs satisficing metrics (feasible region shaded)",
    "hpsearch-confusions": "Most-confused pairs on dev (true → predicted), summed over the best trials",
}
COLORS = {
    "human-level": "#9e9e9e",
    "bias": "#1f77b4",
    "variance": "#ff7f0e",
    "data mismatch": "#d62728",
    "dev overfitting": "#9467bd",
    "none": "#2ca02c",
}
CURVE_TOP = 4
# A small template: plotly's default one is ~10 kB of JSON in every figure, stored in chunks.
TEMPLATE = {
    "layout": {
        "font": {"size": 11},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "xaxis": {"gridcolor": "#eeeeee", "zerolinecolor": "#bbbbbb", "automargin": True},
        "yaxis": {"gridcolor": "#eeeeee", "zerolinecolor": "#bbbbbb", "automargin": True},
        "margin": {"l": 50, "r": 20, "t": 60, "b": 50},
        "legend": {"orientation": "h", "y": -0.2},
    }
}


def _pts(x: float | None) -> float | None:
    return None if x is None else round(x * 100, 3)


def _layout(fig, figure_id: str, **extra) -> None:
    fig.layout.template = TEMPLATE  # assigned, not merged into plotly's default
    fig.update_layout(title={"text": TITLES[figure_id], "x": 0.02, "font": {"size": 15}}, **extra)


# ---- the figures ------------------------------------------------------------------------
def decomposition_bars(a: StudyAnalysis):
    import plotly.graph_objects as go

    fig = go.Figure()
    best = a.best or []
    x = [f"{v.label} {v.decomposition.dominant}" for v in best]
    parts = [
        ("human-level error", "human-level", lambda d: d.human_error),
        ("avoidable bias", "bias", lambda d: d.avoidable_bias),
        ("variance", "variance", lambda d: d.variance),
        ("data mismatch", "data mismatch", lambda d: d.data_mismatch),
        ("dev overfitting", "dev overfitting", lambda d: d.dev_overfitting),
    ]
    for name, color, get in parts:
        y = [_pts(get(v.decomposition)) for v in best]
        if any(value is not None for value in y):
            fig.add_bar(name=name, x=x, y=y, marker_color=COLORS[color], hovertemplate="%{x}: %{y:.1f} points<extra>" + name + "</extra>")
    _layout(fig, "hpsearch-decomposition", barmode="relative", yaxis_title="error (%) = sum of the parts", xaxis_title="best first")
    if not best:
        _empty(fig, "no complete feasible trial yet")
    return fig


def bias_variance_scatter(a: StudyAnalysis):
    import plotly.graph_objects as go

    fig = go.Figure()
    for problem in (*report.PROBLEMS, "none"):
        views = [v for v in a.views if v.decomposition.dominant == problem]
        if not views:
            continue
        fig.add_scatter(
            name=problem,
            mode="markers",
            x=[_pts(v.decomposition.avoidable_bias) for v in views],
            y=[_pts(v.decomposition.variance) for v in views],
            text=[f"trial {v.number} ({v.state}{'' if v.feasible else ', INFEASIBLE'})" for v in views],
            marker={"color": COLORS[problem], "size": 9, "symbol": ["circle" if v.state == "complete" else "circle-open" for v in views]},
            hovertemplate="%{text}<br>avoidable bias %{x:.1f}<br>variance %{y:.1f}<extra>" + problem + "</extra>",
        )
    fig.add_hline(y=0, line_color="#bbbbbb")
    fig.add_vline(x=0, line_color="#bbbbbb")
    _layout(fig, "hpsearch-bias-variance", xaxis_title="avoidable bias (points)", yaxis_title="variance (points)")
    if not a.views:
        _empty(fig, "no measured trial yet")
    return fig


def learning_curves(a: StudyAnalysis):
    import plotly.graph_objects as go

    fig = go.Figure()
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
    splits = (("train_error", "train", "solid"), ("train_dev_error", "train-dev", "dot"), ("dev_error", "dev", "dash"))
    for i, v in enumerate(a.best[:CURVE_TOP]):
        for key, split, dash in splits:
            curve = v.curves.get(key) or []
            if not any(c is not None for c in curve):
                continue
            fig.add_scatter(
                name=f"{v.label} {split}",
                legendgroup=v.label,
                mode="lines+markers",
                x=list(range(1, len(curve) + 1)),
                y=[_pts(c) for c in curve],
                line={"color": palette[i % len(palette)], "dash": dash},
                hovertemplate=f"trial {v.number} {split}: " + "%{y:.1f}% at epoch %{x}<extra></extra>",
            )
    _layout(fig, "hpsearch-learning-curves", xaxis_title="epoch", yaxis_title="error (%), inference mode", xaxis_dtick=1)
    if not a.best:
        _empty(fig, "no complete feasible trial yet")
    return fig


def regularization_panels(a: StudyAnalysis):
    from plotly.subplots import make_subplots

    panels = (
        ("dropout", ("model", "dropout")),
        ("augmentation policy", ("augment", "policy")),
        ("batch-norm placement", ("model", "batch_norm")),
        ("fine-tuned fraction (pretrained)", ("transfer", "fine_tune_fraction")),
    )
    fig = make_subplots(rows=2, cols=2, subplot_titles=[p[0] for p in panels], vertical_spacing=0.2, horizontal_spacing=0.12)
    for k, (name, (section, key)) in enumerate(panels):
        row, col = k // 2 + 1, k % 2 + 1
        views = [v for v in a.views if v.config and key in v.config.get(section, {})]
        if key == "fine_tune_fraction":  # only pretrained backbones fine-tune
            views = [v for v in views if v.config["model"]["backbone"] != "small_cnn"]
        if not views:
            # In paper coordinates: the dashboard's plotly.js predates "x domain" references.
            axis = "" if k == 0 else str(k + 1)
            x0, x1 = fig.layout[f"xaxis{axis}"].domain
            y0, y1 = fig.layout[f"yaxis{axis}"].domain
            fig.add_annotation(text="no trials", showarrow=False, x=(x0 + x1) / 2, y=(y0 + y1) / 2, xref="paper", yref="paper")
            continue
        fig.add_scatter(
            mode="markers",
            x=[v.config[section][key] for v in views],
            y=[_pts(v.decomposition.variance) for v in views],
            text=[f"trial {v.number}: {v.decomposition.dominant}" for v in views],
            marker={"color": [COLORS[v.decomposition.dominant] for v in views], "size": 8, "opacity": 0.8},
            hovertemplate="%{text}<br>" + name + " %{x}<br>variance %{y:.1f} points<extra></extra>",
            showlegend=False,
            row=row,
            col=col,
        )
        if isinstance(views[0].config[section][key], str):
            fig.update_xaxes(type="category", row=row, col=col)
        fig.update_yaxes(title_text="variance (points)" if col == 1 else None, row=row, col=col)
    _layout(fig, "hpsearch-regularization", margin_t=80)
    return fig


def limits_panels(a: StudyAnalysis, spec: StudySpec):
    """The first objective against latency and parameters (and model size when limited), feasible region shaded."""
    from plotly.subplots import make_subplots

    metrics = ["latency_ms", "params"] + [m for m in spec.limits if m not in ("latency_ms", "params")]
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=[LIMIT_NAMES[m] for m in metrics], horizontal_spacing=0.1)
    objective = spec.objective
    complete = [v for v in a.views if v.state == "complete" and v.values]
    for col, metric in enumerate(metrics, start=1):
        limit = spec.limits.get(metric)
        for feasible in (True, False):
            views = [v for v in complete if v.feasible == feasible and v.attrs.get(metric) is not None]
            if not views:
                continue
            fig.add_scatter(
                name="feasible" if feasible else "infeasible",
                legendgroup="feasible" if feasible else "infeasible",
                showlegend=col == 1,
                mode="markers",
                x=[v.attrs[metric] for v in views],
                y=[v.values[0] for v in views],
                text=[f"trial {v.number}" for v in views],
                marker={"color": COLORS["none"] if feasible else COLORS["data mismatch"], "size": 9,
                        "symbol": "circle" if feasible else "x"},
                hovertemplate="%{text}<br>" + metric + " %{x:.4g}<br>" + objective + " %{y:.4f}<extra></extra>",
                row=1,
                col=col,
            )
        if limit is not None:
            fig.add_vrect(x0=0, x1=limit, fillcolor=COLORS["none"], opacity=0.08, line_width=0, row=1, col=col)
            fig.add_vline(x=limit, line_dash="dash", line_color=COLORS["data mismatch"], row=1, col=col)
        fig.update_xaxes(title_text=metric + (f" (limit {limit:g})" if limit is not None else ""), row=1, col=col)
    fig.update_yaxes(title_text=objective, row=1, col=1)
    _layout(fig, "hpsearch-limits", margin_t=80)
    return fig


def confused_pairs(a: StudyAnalysis, top: int = 10):
    """The most-confused pairs on dev summed over the best trials (horizontal bars), or None before any."""
    totals: dict[tuple[str, str], int] = {}
    for v in a.best:
        if v.attrs.get("mistakes"):
            for true, predicted, count, _ in pair_rows(v.attrs["mistakes"]):
                totals[(true, predicted)] = totals.get((true, predicted), 0) + count
    if not totals:
        return None
    import plotly.graph_objects as go

    ranked = sorted(totals.items(), key=lambda kv: -kv[1])[:top][::-1]
    fig = go.Figure(go.Bar(x=[n for _, n in ranked], y=[f"{t} → {p}" for (t, p), _ in ranked], orientation="h",
                           marker={"color": COLORS["variance"]},
                           hovertemplate="%{y}: %{x} dev images<extra></extra>"))
    fig.update_xaxes(title_text=f"dev images, over the best {len(a.best)} trials")
    _layout(fig, "hpsearch-confusions", height=160 + 28 * len(ranked))
    return fig


def _empty(fig, text: str) -> None:
    fig.add_annotation(text=text, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font={"size": 14, "color": "#888888"})


def build(a: StudyAnalysis, spec: StudySpec) -> dict[str, Any]:
    """Every figure of the study page, by its stable id."""
    figures = {
        "hpsearch-decomposition": decomposition_bars(a),
        "hpsearch-bias-variance": bias_variance_scatter(a),
        "hpsearch-learning-curves": learning_curves(a),
        "hpsearch-regularization": regularization_panels(a),
    }
    if spec.limits:
        figures["hpsearch-limits"] = limits_panels(a, spec)
    confusions = confused_pairs(a)
    if confusions is not None:
        figures["hpsearch-confusions"] = confusions
    return figures


# ---- writing them ---------------------------------------------------------------------
def refresh(
    study: optuna.Study,
    spec: StudySpec,
    *,
    lock: Callable[[], ContextManager[Any]] | None = None,
) -> bool:
    """Rewrite the study's figures and its note from the storage; False (and a warning) on any failure."""
    try:
        from optuna_dashboard import get_note, save_note, save_plotly_graph_object

        with (lock() if lock else contextlib.nullcontext()):
            analysis = report.analyse(study, spec)
            for figure_id, fig in build(analysis, spec).items():
                save_plotly_graph_object(study, fig, graph_object_id=figure_id)
            save_note(study, report.with_user_notes(report.study_note(analysis), get_note(study)))
        return True
    except Exception as exc:  # a figure must never fail a worker
        log.warning("[study=%s] dashboard figures not refreshed: %s: %s", study.study_name, type(exc).__name__, exc)
        return False
