"""Search spaces: pure functions from a trial to a `TrainConfig`.

Spaces are chosen by name: the built-in ones (`default`, `small`), or a Python module of the
user's (`--space mypkg.myspace`) that defines `SPACE`, a `spaces.Space`. No Keras, no storage.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any, Mapping

import yaml

from spaces._base import Categorical, Dimension, Float, Int, Picker, Space, SpaceError
from spaces._random import RandomTrial
from spaces.default import DEFAULT, SMALL, momentum_from_r

BUILTIN: dict[str, Space] = {DEFAULT.name: DEFAULT, SMALL.name: SMALL}


def get_space(name: str, narrowing: Mapping[str, Any] | None = None) -> Space:
    """The space called `name` (built-in, or `module.path` defining SPACE), narrowed if asked."""
    if name in BUILTIN:
        space = BUILTIN[name]
    elif "." in name:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise SpaceError(f"cannot import space module {name!r}: {exc}") from None
        space = getattr(module, "SPACE", None)
        if not isinstance(space, Space):
            raise SpaceError(f"space module {name!r} must define SPACE = spaces.Space(...)")
    else:
        hint = difflib.get_close_matches(name, BUILTIN, n=1)
        suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise SpaceError(
            f"unknown space {name!r}{suggestion}; choose one of: {', '.join(BUILTIN)}, or a module path like mypkg.myspace"
        )
    return space.narrow(narrowing)


def load_narrowing(path: str) -> dict[str, Any]:
    """Read a YAML file of narrowed ranges: {dimension: {low, high} | [choices] | value}."""
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except OSError as exc:
        raise SpaceError(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise SpaceError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise SpaceError(f"{path} must map dimension names to ranges or choices")
    return dict(data)


__all__ = [
    "BUILTIN",
    "Categorical",
    "Dimension",
    "Float",
    "Int",
    "Picker",
    "RandomTrial",
    "Space",
    "SpaceError",
    "get_space",
    "load_narrowing",
    "momentum_from_r",
]
