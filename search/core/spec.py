"""A study's whole specification, stored in the study itself.

Any worker anywhere runs a study from its spec alone: the space and its narrowing, the data,
the study-wide budget, the pruner and sampler, the objective, the human-level error and the
satisficing limits. It is plain data (a study user attr), so `optuna` and the dashboard show it.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from typing import Any, Mapping

import optuna

from search.core.early_check import EarlyCheckPruner
from search.core.sampling import WholeStudyHyperband, startup_trials
from trainers.config import ConfigError, TrainConfig

SPEC_ATTR = "hpsearch_spec"
HALTED_ATTR = "hpsearch_halted"

PRUNERS = ("median", "sha", "hyperband", "none")
SAMPLERS = ("tpe", "random", "gp")
# Per-epoch metrics a trainer reports, and whether bigger is better.
OBJECTIVES = {"dev_accuracy": "maximize", "dev_error": "minimize"}
# Final metrics that may be a second objective (multi-objective studies).
SECONDARY_OBJECTIVES = {"latency_ms": "minimize", "params": "minimize", "model_mb": "minimize"}
DEFAULT_TRAINER = "trainers.train:train"


# Config fields another launch option sets; `--set` refuses them and names the option.
OWNED_FIELDS = {
    "data.dataset": "--dataset", "data.target_dir": "--target-dir", "data.image_size": "--image-size",
    "data.resize": "--resize", "data.memory_budget_mb": "--memory-budget-mb", "model.weights": "--weights",
    "training.epochs": "--epochs", "training.seed": "--seed", "training.early_check": "--early-check",
}


class SpecError(ValueError):
    """A study specification is invalid."""


class _AtEnds:
    """A trial whose every draw is its dimension's low end (or its high end, or its first or last choice)."""

    def __init__(self, high: bool):
        self.high = high

    def suggest_float(self, name: str, low, high, *, log: bool = False):
        return high if self.high else low

    suggest_int = suggest_float

    def suggest_categorical(self, name: str, choices):
        return choices[-1] if self.high else choices[0]


@dataclass(frozen=True)
class StudySpec:
    space: str = "default"
    narrowing: dict = field(default_factory=dict)
    dataset: str = "digits"
    target_dir: str | None = None
    image_size: int | None = None
    resize: str = "stretch"
    memory_budget_mb: int = 512
    weights: str = "imagenet"
    trials: int = 50
    time_budget: float | None = None  # seconds from the first trial's claim; then no trial starts
    # Seconds past the budget's end a running trial may be projected to go before it is stopped
    # (None: search.core.budget.allowed_overrun's default, a quarter of the budget, 10 min at least).
    max_overrun: float | None = None
    epochs: int = 10
    # Chosen by benchmark 1c (BENCHMARKS.md): on Fashion-MNIST, Hyperband beat the median pruner in 3
    # of 5 seeds and lost in none, at the same budget of epochs.
    pruner: str = "hyperband"
    # Share of the first epoch after which each trial's pruner first judges it (search.core.early_check;
    # 0: off, the first verdict comes after epoch 1).
    early_check: float = 0.0
    sampler: str = "tpe"
    # A new study first runs its space's proven recipes (spaces.portfolio), counted in `trials`.
    portfolio: bool = True
    objectives: tuple[str, ...] = ("dev_accuracy",)
    human_error: float = 0.0
    max_latency_ms: float | None = None
    max_params: float | None = None
    max_model_mb: float | None = None
    seed: int = 0
    trainer: str = DEFAULT_TRAINER
    trial_timeout: float | None = None
    max_failures: int = 5
    # Where the study's files go (see search.core.artifacts); launch fills in the default.
    artifacts: str | None = None
    keep_models: int = 10  # trained models kept: the best K completed trials' (0: none); enough for an ensemble
    # A zoomed study (`launch --zoom PREV`): where it came from, and how many of PREV's finished
    # trials it holds to warm-start its sampler. Those are not its own: they never count against --trials.
    zoomed_from: dict | None = None
    warm_trials: int = 0
    # Confirmation runs queued by `hpsearch confirm`: a budget apart from --trials.
    confirm_trials: int = 0
    # Training-config fields every trial gets (`launch --set training.label_smoothing=0.1`): dotted
    # name -> value, for what the space does not search.
    fixed: dict = field(default_factory=dict)

    # ---- checks ----------------------------------------------------------------------
    def validate(self) -> "StudySpec":
        """Raise SpecError naming the first bad value; load nothing heavy."""
        from spaces import SpaceError, get_space
        from trainers.data import check_dataset_name, check_folder

        _choice("pruner", self.pruner, PRUNERS)
        _choice("sampler", self.sampler, SAMPLERS)
        if not self.objectives:
            raise SpecError("at least one objective is needed")
        _choice("objective", self.objectives[0], tuple(OBJECTIVES))
        for extra in self.objectives[1:]:
            _choice("second objective", extra, tuple(SECONDARY_OBJECTIVES))
        if len(self.objectives) > 1 and self.pruner != "none":
            raise SpecError("pruning needs a single objective: use --pruner none with several objectives")
        if not 0.0 <= self.early_check < 1.0:
            raise SpecError(f"--early-check is a share of the first epoch, from 0 (off) to below 1; "
                            f"got {self.early_check:g}")
        if self.early_check and self.pruner == "none":
            raise SpecError("--early-check gives the pruner an earlier verdict: it needs a pruner, not --pruner none")
        if self.trials < 1:
            raise SpecError(f"--trials must be at least 1, got {self.trials}")
        if self.time_budget is not None and not self.time_budget > 0:
            raise SpecError(f"--time-budget must be positive, got {self.time_budget:g} s")
        if self.max_overrun is not None:
            if self.time_budget is None:
                raise SpecError("--max-overrun goes with --time-budget")
            if self.max_overrun < 0:
                raise SpecError(f"--max-overrun must be 0 or more, got {self.max_overrun:g} s")
        if self.epochs < 1:
            raise SpecError(f"--epochs must be at least 1, got {self.epochs}")
        check_error_rate("--human-error", self.human_error)
        for name in ("max_latency_ms", "max_params", "max_model_mb"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise SpecError(f"--{name.replace('_', '-')} must be positive, got {value}")
        if self.trial_timeout is not None and self.trial_timeout <= 0:
            raise SpecError(f"--trial-timeout must be positive, got {self.trial_timeout}")
        if self.max_failures < 1:
            raise SpecError(f"--max-failures must be at least 1, got {self.max_failures}")
        if self.keep_models < 0:
            raise SpecError(f"--keep-models must be 0 or more, got {self.keep_models}")
        if self.artifacts is not None:
            from search.core.artifacts import ArtifactError, normalize_location

            try:
                normalize_location(self.artifacts)
            except ArtifactError as exc:
                raise SpecError(str(exc)) from None
        if self.sampler == "gp":
            make_sampler(self)  # fails now, with the install hint, rather than in every worker
        if ":" not in self.trainer:
            raise SpecError(f"trainer must be 'module:function', got {self.trainer!r}")
        try:
            get_space(self.space, self.narrowing)
            check_dataset_name(self.dataset)
            if self.target_dir is not None:
                if not self.dataset.startswith("dir:"):
                    raise SpecError("--target-dir needs a dir:PATH dataset as the training distribution")
                check_folder(self.target_dir)
            self._check_fixed()
        except (SpaceError, ConfigError) as exc:
            raise SpecError(str(exc)) from None
        return self

    # ---- derived ---------------------------------------------------------------------
    @property
    def directions(self) -> list[str]:
        return [OBJECTIVES.get(o) or SECONDARY_OBJECTIVES[o] for o in self.objectives]

    @property
    def trial_limit(self) -> int:
        """Finished + running + queued trials the study may hold: its budget, warm-start and confirmation trials."""
        return self.trials + self.warm_trials + self.confirm_trials

    def portfolio_trials(self) -> list:
        """The proven recipes a new study of this spec queues first: [(spaces.portfolio.Recipe, params)],
        at most `trials` of them; none with --no-portfolio or for a zoomed study (it queues its predecessor's best)."""
        if not self.portfolio or self.zoomed_from is not None:
            return []
        from spaces import get_space
        from spaces.portfolio import portfolio

        return portfolio(get_space(self.space, self.narrowing))[: self.trials]

    @property
    def objective(self) -> str:
        return self.objectives[0]

    @property
    def limits(self) -> dict[str, float]:
        """Satisficing limits by final-metric name: a trial above any is infeasible."""
        named = {"latency_ms": self.max_latency_ms, "params": self.max_params, "model_mb": self.max_model_mb}
        return {k: v for k, v in named.items() if v is not None}

    def base_config(self, trial_number: int = 0) -> TrainConfig:
        """What the space does not sample: the data, the epochs, the weights, the seed, the --set fields."""
        sections: dict[str, dict[str, Any]] = {}
        for key, value in self.fixed.items():
            section, _, name = key.partition(".")
            sections.setdefault(section, {})[name] = value
        sections.setdefault("data", {}).update(
            dataset=self.dataset, target_dir=self.target_dir, image_size=self.image_size, resize=self.resize,
            memory_budget_mb=self.memory_budget_mb)
        sections.setdefault("training", {}).update(epochs=self.epochs, seed=(self.seed + trial_number) % (2**31),
                                                   early_check=self.early_check)
        sections.setdefault("model", {}).update(weights=self.weights)
        return TrainConfig().replace(**sections)

    def _check_fixed(self) -> None:
        """Each --set names a config field no other option owns and the space does not search."""
        for key in self.fixed:
            section, dot, name = key.partition(".")
            if not dot or not name or "." in name:
                raise SpecError(f"--set {key}: name a training-config field as SECTION.FIELD, "
                                f"like training.label_smoothing")
            if key in OWNED_FIELDS:
                raise SpecError(f"--set {key}: use {OWNED_FIELDS[key]} instead")
        base = self.base_config()
        if not self.fixed:
            return
        from spaces import get_space

        space = get_space(self.space, self.narrowing)
        wanted = base.to_dict()
        # Two draws, every dimension at its low end and then its high end: a field the space sets
        # differs from the base in at least one of them.
        for high in (False, True):
            try:
                drawn = space.suggest(_AtEnds(high), base).to_dict()
            except ConfigError as exc:
                raise SpecError(f"--set: space {self.space} can draw a configuration these fields do not go with "
                                f"({exc}); narrow it with --narrow") from None
            for key in self.fixed:
                section, _, name = key.partition(".")
                if drawn[section][name] != wanted[section][name]:
                    raise SpecError(f"--set {key}: space {self.space} searches it; "
                                    f"fix it with --narrow instead")

    # ---- plain data ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["objectives"] = list(self.objectives)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "StudySpec":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise SpecError(f"study spec has unknown keys {sorted(unknown)}; it was made by a newer hpsearch")
        values = dict(data)
        if "objectives" in values:
            values["objectives"] = tuple(values["objectives"])
        return cls(**values)


def check_pretrained_weights(spec: StudySpec) -> None:
    """Refuse, in one line, a study whose space holds pretrained backbones this host cannot load.

    With `--weights imagenet`, the weights must be in the Keras cache or downloadable here (checked
    on the launching host, which is usually where, or like where, the workers run); with
    `--weights FILE`, the file must load into every pretrained backbone the space can draw.
    """
    if spec.weights == "none":
        return
    if spec.weights != "imagenet":
        _check_weights_file(spec)
        return
    from spaces import get_space
    from trainers.weights import keras_models_dirs, missing_weights, weights_reachable

    dimension = get_space(spec.space, spec.narrowing).dimensions.get("backbone")
    missing = missing_weights(getattr(dimension, "choices", ()))
    if missing and not weights_reachable():
        names = ", ".join(missing)
        raise SpecError(
            f"ImageNet weights of {names} are not in the Keras cache ({keras_models_dirs()[0]}) and cannot be "
            f"downloaded from this host: use --weights none, a space without them (--space small, or --narrow "
            f"with backbone: [small_cnn]), or worker images built with PRETRAINED naming them"
        )


def _check_weights_file(spec: StudySpec) -> None:
    import os

    from spaces import get_space
    from trainers.config import ConfigError

    if not os.path.isfile(spec.weights):
        raise SpecError(f"--weights {spec.weights}: no such file (imagenet, none, or a .weights.h5 file of a backbone, "
                        "e.g. from `hpsearch export NAME --backbone-weights FILE`)")
    from trainers.model.backbones import APPLICATIONS, check_weights_file  # TensorFlow: only for a weights file

    dimension = get_space(spec.space, spec.narrowing).dimensions.get("backbone")
    pretrained = [b for b in getattr(dimension, "choices", ()) if b in APPLICATIONS]
    misfits: dict[str, str] = {}
    for backbone in pretrained:
        try:
            check_weights_file(backbone, spec.weights)
        except ConfigError as exc:
            misfits[backbone] = str(exc)
    if misfits and len(misfits) == len(pretrained):
        raise SpecError(next(iter(misfits.values())) if len(misfits) == 1 else
                        f"--weights {spec.weights} fits none of the space's backbones ({', '.join(misfits)})")
    if misfits:
        fits = [b for b in pretrained if b not in misfits]
        raise SpecError(f"--weights {spec.weights} fits {', '.join(fits)} but not {', '.join(misfits)}, which the space "
                        f"can draw: narrow it (--narrow with backbone: [small_cnn, {', '.join(fits)}])")


def check_error_rate(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        hint = f" (it looks like a percentage: use {value / 100:g})" if 1.0 < value <= 100.0 else ""
        raise SpecError(f"{name} is an error rate in [0, 1], got {value:g}{hint}")


def _choice(what: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        hint = difflib.get_close_matches(value, choices, n=1)
        suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise SpecError(f"unknown {what} {value!r}{suggestion}; choose one of: {', '.join(choices)}")


def read_spec(study: optuna.Study | Any) -> StudySpec | None:
    """The spec of a live or frozen study; None for a study hpsearch did not launch."""
    data = study.user_attrs.get(SPEC_ATTR)
    return StudySpec.from_dict(data) if data else None


def make_pruner(spec: StudySpec) -> optuna.pruners.BasePruner:
    pruner = _epoch_pruner(spec)
    if spec.early_check and spec.pruner != "none":
        return EarlyCheckPruner(pruner, reduction_factor=3)
    return pruner


def _epoch_pruner(spec: StudySpec) -> optuna.pruners.BasePruner:
    if spec.pruner == "median":
        # Epochs are numbered from 1 and Optuna prunes from step == n_warmup_steps: 2 means the
        # first epoch, when most configurations are still near chance, is never judged.
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2)
    if spec.pruner == "sha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    if spec.pruner == "hyperband":
        # Optuna's Hyperband verdicts; the sampler learns from every bracket (search.core.sampling).
        return WholeStudyHyperband(min_resource=1, max_resource=spec.epochs, reduction_factor=3)
    return optuna.pruners.NopPruner()


def make_sampler(spec: StudySpec, seed: int | None = None) -> optuna.samplers.BaseSampler:
    if spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if spec.sampler == "gp":
        try:
            import scipy  # noqa: F401  (GPSampler imports these lazily, at its first trial)
            import torch  # noqa: F401

            return optuna.samplers.GPSampler(seed=seed)
        except ImportError as exc:
            raise SpecError(f"the gp sampler needs PyTorch and SciPy ({exc}): pip install 'hpsearch[gp]'") from None
    # Optuna 5's TPE: multivariate, with a constant liar so that parallel workers spread out, and a
    # random start-up sized to the study's budget (search.core.sampling.startup_trials).
    return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True,
                                      n_startup_trials=startup_trials(spec.trials))
