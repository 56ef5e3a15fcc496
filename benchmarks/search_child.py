"""One run of benchmark 1 or of its pilot, in a process of its own: `python -m benchmarks.search_child`.

The parent (`benchmarks.search_efficiency` or `benchmarks.pilot`) starts it through
`search_efficiency.run_one` with the contender's spec, and `benchmarks.harness.parallel` gives it its
share of the cores; it writes the run's raw trace as JSON. It sits above both parents, so neither
imports the other's runs: search_efficiency knows nothing of the pilot, and the pilot imports
search_efficiency only.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from benchmarks.harness import fashion_subset
from benchmarks import search_efficiency as se


def run(name: str, spec: dict[str, Any], seed: int, budget: int, max_epochs: int, train_images: int,
        narrowing: dict, trainer: str | None = None) -> dict[str, Any]:
    """The run of contender `name` (its `spec`) on seed `seed`, a budget of `budget` epochs."""
    se.configure_run(max_epochs, trainer)
    data = fashion_subset.load(train_images)
    if spec["kind"] == "hpsearch":
        return se.run_hpsearch(spec["sampler"], spec["pruner"], seed, budget, data, narrowing)
    if spec["kind"] == "optuna":
        return se.run_raw_optuna(seed, budget, data, narrowing)
    if spec["kind"] == "pilot":
        from benchmarks import pilot

        return pilot.run_variant(spec, seed, budget, data, narrowing)
    return se.run_kerastuner(spec["tuner"], seed, budget, data, narrowing)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--spec", required=True, help="the contender's spec, JSON")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--budget", type=int, required=True)
    parser.add_argument("--max-epochs", type=int, required=True)
    parser.add_argument("--train-images", type=int, required=True)
    parser.add_argument("--narrowing", default="{}")
    parser.add_argument("--trainer")
    parser.add_argument("--out", required=True, help="where to write the run's raw trace")
    args = parser.parse_args(argv)
    result = run(args.name, json.loads(args.spec), args.seed, args.budget, args.max_epochs, args.train_images,
                 json.loads(args.narrowing), args.trainer)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
