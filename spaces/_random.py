"""A trial that samples at random with no Optuna: `hpsearch spaces --sample` and tests use it."""

from __future__ import annotations

import math
import random
from typing import Any, Sequence


class RandomTrial:
    """Duck-typed like optuna.Trial for what spaces call; remembers what it sampled."""

    def __init__(self, seed: int | None = None):
        self._rng = random.Random(seed)
        self.params: dict[str, Any] = {}

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float:
        if log:
            value = math.exp(self._rng.uniform(math.log(low), math.log(high)))
        else:
            value = self._rng.uniform(low, high)
        self.params[name] = value
        return value

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False) -> int:
        if log:
            # As Optuna does: log-uniform over [low - 0.5, high + 0.5], then rounded, so that each
            # integer gets the share of the log scale its rounding interval covers.
            value = int(round(math.exp(self._rng.uniform(math.log(low - 0.5), math.log(high + 0.5)))))
            value = min(max(value, low), high)
        else:
            value = self._rng.randint(low, high)
        self.params[name] = value
        return value

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        value = self._rng.choice(list(choices))
        self.params[name] = value
        return value
