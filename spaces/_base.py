"""What a search space is: named dimensions with ranges, and a pure build function.

A space is a table of dimensions (each with its range, scale and the reason for it) plus a
function that asks for them, in any order and only when they matter (momentum only for SGD,
fine-tuning only for pretrained backbones), and returns a `TrainConfig`. The trial is duck-typed:
anything with Optuna's `suggest_float/suggest_int/suggest_categorical` works, so a space is
sampled by an Optuna trial in a study, or by `RandomTrial` with no Optuna at all.

Ranges can be narrowed, never widened, from plain data (a YAML file), without code.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol, Sequence, Union

from trainers.config import TrainConfig


class SpaceError(ValueError):
    """A space name, or a narrowing of its ranges, is wrong."""


class TrialLike(Protocol):
    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float: ...

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False) -> int: ...

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any: ...


@dataclass(frozen=True)
class _Range:
    """A numeric range; Float and Int differ only in their kind."""

    low: float
    high: float
    log: bool = False
    why: str = ""
    kind = float

    def __post_init__(self) -> None:
        if not self.low <= self.high:
            raise SpaceError(f"a range needs low <= high, got low={self.low}, high={self.high}")
        if self.log and self.low <= 0:
            raise SpaceError(f"a log-scale range needs low > 0, got low={self.low}")

    def suggest(self, trial: TrialLike, name: str):
        suggest = trial.suggest_int if self.kind is int else trial.suggest_float
        return self.kind(suggest(name, self.low, self.high, log=self.log))

    def _span(self, low=None, high=None) -> str:
        return f"{self.low if low is None else low:g} .. {self.high if high is None else high:g}"

    def describe(self) -> tuple[str, str]:
        return self._span(), "log" if self.log else "linear"

    def narrowed(self, name: str, spec: Any):
        low, high = _bounds(name, spec, self.kind)
        if low < self.low or high > self.high:
            raise SpaceError(f"{name} can only be narrowed within {self._span()}, got {self._span(low, high)}")
        return dataclasses.replace(self, low=low, high=high)


@dataclass(frozen=True)
class Float(_Range):
    kind = float


@dataclass(frozen=True)
class Int(_Range):
    low: int
    high: int
    kind = int


@dataclass(frozen=True)
class Categorical:
    choices: tuple
    why: str = ""

    def suggest(self, trial: TrialLike, name: str) -> Any:
        return trial.suggest_categorical(name, list(self.choices))

    def describe(self) -> tuple[str, str]:
        return " | ".join(str(c) for c in self.choices), "categorical"

    def narrowed(self, name: str, spec: Any) -> "Categorical":
        wanted = list(spec) if isinstance(spec, (list, tuple)) else [spec]
        unknown = [c for c in wanted if c not in self.choices]
        if unknown or not wanted:
            raise SpaceError(
                f"{name} can only be narrowed to a subset of: {', '.join(map(str, self.choices))}; got {wanted}"
            )
        return dataclasses.replace(self, choices=tuple(wanted))


Dimension = Union[Float, Int, Categorical]


def _bounds(name: str, spec: Any, kind: type) -> tuple[Any, Any]:
    if isinstance(spec, Mapping):
        extra = set(spec) - {"low", "high"}
        if extra:
            raise SpaceError(f"{name}: a range takes only low and high, got {sorted(extra)}")
        low, high = spec.get("low"), spec.get("high")
    elif isinstance(spec, (list, tuple)) and len(spec) == 2:
        low, high = spec
    else:
        low = high = spec  # one value fixes the dimension
    for value in (low, high):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
            raise SpaceError(f"{name}: range bounds must be {kind.__name__}s, got {value!r}")
    if low > high:
        raise SpaceError(f"{name}: low ({low}) is above high ({high})")
    return kind(low), kind(high)


class Picker:
    """What a space's build function calls: `pick("learning_rate")` samples that dimension."""

    def __init__(self, trial: TrialLike, dimensions: Mapping[str, Dimension]):
        self.trial = trial
        self.dimensions = dimensions

    def __call__(self, name: str) -> Any:
        return self.dimensions[name].suggest(self.trial, name)


@dataclass(frozen=True)
class Space:
    name: str
    description: str
    dimensions: Mapping[str, Dimension]
    build: Callable[[Picker, TrainConfig], TrainConfig]

    def suggest(self, trial: TrialLike, base: TrainConfig | None = None) -> TrainConfig:
        """Sample a configuration; fields the space does not sample come from `base`."""
        return self.build(Picker(trial, self.dimensions), base or TrainConfig())

    def narrow(self, ranges: Mapping[str, Any] | None) -> "Space":
        """A space whose ranges are narrowed by plain data: {name: {low, high} | [choices] | value}."""
        if not ranges:
            return self
        if not isinstance(ranges, Mapping):
            raise SpaceError("a narrowing is a mapping of dimension names to ranges or choices")
        dims = dict(self.dimensions)
        for name, spec in ranges.items():
            if name not in dims:
                hint = difflib.get_close_matches(str(name), dims, n=1)
                suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
                raise SpaceError(f"space {self.name!r} has no dimension {name!r}{suggestion}; it has: {', '.join(dims)}")
            dims[name] = dims[name].narrowed(name, spec)
        return dataclasses.replace(self, dimensions=dims)

    def table(self) -> list[tuple[str, str, str, str]]:
        """(name, range or choices, scale, why) per dimension."""
        return [(name, *dim.describe(), dim.why) for name, dim in self.dimensions.items()]
