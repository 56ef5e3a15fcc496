"""Coarse to fine: the space of a follow-up study, narrowed around a finished study's best trials.

The seeds' method: sample at random over a wide space, zoom in where the best values are, repeat.
Each numeric dimension shrinks to the range the top trials span, widened on each side by `slack`
times the previous range's width, measured in the dimension's own scale (log dimensions in log
space), and never beyond the previous range; each categorical keeps the choices the top trials
used. A dimension none of the top trials sampled (conditional: SGD's momentum when all used
Adam) keeps its previous range. Pure: dimensions and parameter values in, a narrowing out.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from spaces import Categorical, Float, Int

DEFAULT_TOP = 5
DEFAULT_SLACK = 0.1


class ZoomError(ValueError):
    """A zoom that cannot be made (bad --top/--slack, a narrowing wider than the previous space)."""


def _scale(dim) -> tuple:
    if dim.log:
        return math.log, math.exp
    return (lambda x: float(x)), (lambda x: x)


def zoom_narrowing(dimensions: Mapping[str, Any], top_params: Sequence[Mapping[str, Any]], slack: float) -> dict[str, Any]:
    """A narrowing (plain data, as `--narrow` takes) of `dimensions` around the top trials' parameters."""
    if not top_params:
        raise ZoomError("there are no top trials to zoom around")
    if not 0.0 <= slack <= 1.0:
        raise ZoomError(f"--slack is a share of each range's width, in [0, 1]; got {slack:g}")
    out: dict[str, Any] = {}
    for name, dim in dimensions.items():
        values = [p[name] for p in top_params if name in p]
        if not values:
            continue  # not sampled by any top trial: keep the previous range
        if isinstance(dim, Categorical):
            used = [c for c in dim.choices if any(v == c and type(v) is type(c) for v in values)]
            out[name] = used or list(dim.choices)
            continue
        forward, back = _scale(dim)
        low, high = forward(dim.low), forward(dim.high)
        pad = slack * (high - low)
        lo = back(max(low, forward(min(values)) - pad))
        hi = back(min(high, forward(max(values)) + pad))
        if isinstance(dim, Int):
            lo, hi = max(dim.low, math.floor(lo + 1e-9)), min(dim.high, math.ceil(hi - 1e-9))
            out[name] = {"low": int(lo), "high": int(hi)}
        else:
            lo, hi = max(dim.low, lo), min(dim.high, hi)  # exp(log(x)) may land a hair outside
            out[name] = {"low": float(lo), "high": float(hi)}
    return out


def check_inside(previous: Mapping[str, Any], narrowed: Mapping[str, Any]) -> None:
    """Refuse a space (from a `--narrow` file) that reaches beyond the previous study's ranges."""
    for name, dim in narrowed.items():
        old = previous.get(name)
        if old is None:
            continue
        if isinstance(dim, Categorical):
            extra = [c for c in dim.choices if c not in old.choices]
            if extra:
                raise ZoomError(f"a zoom never widens: {name} adds choices {extra} that the previous study did not have")
        elif dim.low < old.low or dim.high > old.high:
            raise ZoomError(f"a zoom never widens: {name} {dim.low:g} .. {dim.high:g} reaches beyond the previous "
                            f"study's {old.low:g} .. {old.high:g}")


def distribution(dim):
    """The Optuna distribution a space's suggest call makes for this dimension (for warm-start trials)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(dim, Categorical):
        return CategoricalDistribution(list(dim.choices))
    if isinstance(dim, Float):
        return FloatDistribution(dim.low, dim.high, log=dim.log)
    return IntDistribution(dim.low, dim.high, log=dim.log)


def inside(dimensions: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
    """Whether a trial's parameters all lie in these dimensions (parameters the space lacks: no)."""
    for name, value in params.items():
        dim = dimensions.get(name)
        if dim is None:
            return False
        if isinstance(dim, Categorical):
            if not any(value == c and type(value) is type(c) for c in dim.choices):
                return False
        elif not dim.low <= value <= dim.high:
            return False
    return True


def describe_lineage(zoomed: Mapping[str, Any], warm: int) -> str:
    """One line for `status`, `report` and the study note: where a zoomed study came from."""
    narrowing = ", ".join(f"{k} {v['low']:.3g}..{v['high']:.3g}" if isinstance(v, dict) else f"{k} {v}"
                          for k, v in (zoomed.get("narrowing") or {}).items())
    how = (f"its top {zoomed['top']} trials, slack {zoomed['slack']:g}" if zoomed.get("source") == "top"
           else f"the narrowing in {zoomed.get('source')}")
    return (f"zoomed from {zoomed['study']!r} around {how}: {warm} of its finished trials warm-start the sampler "
            f"(not counted), {len(zoomed.get('queued', []))} of its best configurations queued first; "
            f"narrowed to {narrowing or 'the same ranges'}")
