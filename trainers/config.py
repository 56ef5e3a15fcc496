"""The training configuration: plain, frozen data that fully describes one training run.

A `TrainConfig` is what a trainer consumes, what a search space produces, and what
`hpsearch export` writes. It round-trips through YAML/JSON with nothing but this module,
so an exported configuration is rebuilt anywhere, with no Optuna and no database.

Every field carries its allowed range or choices in its metadata; `from_dict` rejects unknown
keys (with a suggestion) and out-of-range values with a message that names the field.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import yaml

#: Bump when a field changes meaning; a config from a newer version is refused, not guessed at.
CONFIG_VERSION = 1


class ConfigError(ValueError):
    """A configuration value is unknown, of the wrong type or out of range."""


def _range(default, low, high, doc, *, low_open=False):
    return field(default=default, metadata={"range": (low, high), "low_open": low_open, "doc": doc})


def _choice(default, choices, doc):
    return field(default=default, metadata={"choices": tuple(choices), "doc": doc})


def _free(default, doc):
    return field(default=default, metadata={"doc": doc})


def _optional_size(doc):
    return field(default=None, metadata={"doc": doc, "optional_int": True})


BACKBONES = (
    "small_cnn",
    "mobilenet_v2",
    "resnet50",
    "efficientnet_b0",
    "vgg16",
    "densenet121",
    "inception_v3",
    "xception",
)
BATCH_NORM_PLACEMENTS = ("none", "before", "after")
AUGMENT_POLICIES = (
    "none",
    "flip_crop",
    "geometric",
    "color",
    "occlusion",
    "blur",
    "randaugment",
    "mixup",
    "cutmix",
)
OPTIMIZERS = ("sgd", "adam")
LR_DECAYS = ("none", "cosine", "exponential", "inverse_time")
WARMUP_DECAYS = ("none", "cosine")  # the schedules Keras's CosineDecay warms up (alpha 1 holds the rate)
SWITCHES = ("auto", "on", "off")
RESIZE_MODES = ("stretch", "crop", "pad")


@dataclass(frozen=True)
class DataConfig:
    dataset: str = _free("digits", "digits | mnist | fashion_mnist | cifar10 | cifar100 | tfds:NAME | dir:PATH")
    target_dir: str | None = _free(
        None, "with dir:PATH, a folder of the target distribution for dev and test (data mismatch)"
    )
    image_size: int | None = _optional_size(
        "resize images to this square size (None: keep the dataset's size; folders and TFDS: 128)"
    )
    resize: str = _choice(
        "stretch", RESIZE_MODES, "to a square: stretch, crop (centre, keep the aspect ratio) or pad (letterbox)"
    )
    train_dev_fraction: float = _range(0.1, 0.0, 0.5, "share of the training distribution held out as train-dev")
    dev_fraction: float = _range(0.15, 0.01, 0.5, "share of the target distribution held out as dev")
    test_fraction: float = _range(0.15, 0.01, 0.5, "share of the target distribution held out as test")
    max_train_examples: int | None = _optional_size("keep at most this many training images (None: all)")
    seed: int = _range(0, 0, 2**31 - 1, "seed of the split")
    memory_budget_mb: int = _range(
        512, 0, 1_000_000, "decoded uint8 splits kept in RAM up to this size in all; larger ones stream from disk"
    )


@dataclass(frozen=True)
class ModelConfig:
    backbone: str = _choice("small_cnn", BACKBONES, "the network under the classification head")
    weights: str = _free(
        "imagenet", "pretrained backbones: imagenet | none | a weights file (the small CNN always starts at random)"
    )
    depth: int = _range(2, 1, 6, "conv blocks of the small CNN")
    width: int = _range(32, 4, 512, "filters of the first small-CNN block (doubled each block)")
    batch_norm: str = _choice("after", BATCH_NORM_PLACEMENTS, "BatchNormalization before or after each activation")
    dropout: float = _range(0.2, 0.0, 0.9, "dropout rate before the classifier")
    head_units: int = _range(0, 0, 4096, "units of a hidden dense layer in the head (0: none)")
    input_size: int | None = _optional_size("input side the backbone sees (None: the image size, raised to its minimum)")


@dataclass(frozen=True)
class AugmentConfig:
    policy: str = _choice("none", AUGMENT_POLICIES, "augmentation applied in training only")
    magnitude: float = _range(0.1, 0.0, 1.0, "strength of the policy (rotation, zoom, colour, erasing, alpha)")
    random_erasing: float = _range(
        0.0, 0.0, 1.0, "probability that a training image also has a random rectangle (2-33%) erased, "
        "whatever the policy (Zhong et al. 2017; 0: off)"
    )


@dataclass(frozen=True)
class OptimizerConfig:
    name: str = _choice("adam", OPTIMIZERS, "sgd (with momentum) or adam")
    learning_rate: float = _range(1e-3, 0.0, 10.0, "initial learning rate", low_open=True)
    momentum: float = _range(0.9, 0.0, 0.9999, "SGD momentum beta (= 1 - 10**r in the default space)")
    beta_1: float = _range(0.9, 0.0, 0.9999, "Adam beta 1")
    beta_2: float = _range(0.999, 0.0, 0.99999, "Adam beta 2")
    epsilon: float = _range(1e-8, 0.0, 1.0, "Adam epsilon", low_open=True)
    weight_decay: float = _range(0.0, 0.0, 0.1, "decoupled weight decay (0: none)")
    lr_decay: str = _choice("none", LR_DECAYS, "learning-rate schedule over the run")
    decay_rate: float = _range(0.5, 0.0, 10.0, "exponential: factor per run; inverse_time: rate per epoch")
    warmup_fraction: float = _range(
        0.0, 0.0, 0.5, "share of each phase's steps over which the learning rate rises linearly from 0 "
        "(Goyal et al. 2017); with lr_decay cosine: warm-up then cosine, the one-cycle shape (0: off)"
    )
    ema_momentum: float = _range(
        0.0, 0.0, 0.9999, "average the weights with this momentum (Keras use_ema; 0.99 is Keras's default; "
        "0: off): every epoch is measured on the average, and the run keeps it"
    )


@dataclass(frozen=True)
class TransferConfig:
    frozen_epochs: float = _range(
        0.5, 0.0, 1.0, "share of the epochs that train only the head, backbone frozen (pretrained only)"
    )
    fine_tune_fraction: float = _range(0.2, 0.0, 1.0, "top share of backbone layers unfrozen in phase two")
    fine_tune_lr_ratio: float = _range(0.1, 0.0, 1.0, "phase-two learning rate / phase-one learning rate", low_open=True)


@dataclass(frozen=True)
class TrainingConfig:
    epochs: int = _range(10, 1, 10_000, "epochs to train")
    batch_size: int = _range(64, 1, 65_536, "mini-batch size")
    label_smoothing: float = _range(
        0.0, 0.0, 0.5, "share of each label's probability spread evenly over all classes (Szegedy et al. 2016; 0: off)"
    )
    early_check: float = _range(
        0.0, 0.0, 0.95, "share of the first epoch after which the run reports a dev estimate to its pruner "
        "(trainers.early_check; 0: off)"
    )
    early_check_examples: int = _range(1000, 50, 1_000_000, "dev images the early check measures: a fixed stratified sample")
    early_stopping_patience: int = _range(0, 0, 1000, "stop after this many epochs without dev improvement (0: off)")
    train_eval_examples: int = _range(2048, 32, 1_000_000, "training images re-scored each epoch in inference mode")
    mixed_precision: str = _choice("auto", SWITCHES, "float16 compute (auto: on when a GPU is present)")
    xla: str = _choice("auto", SWITCHES, "XLA compilation (auto: on when a GPU is present)")
    seed: int = _range(0, 0, 2**31 - 1, "seed of weights, shuffling and augmentation")


@dataclass(frozen=True)
class TrainConfig:
    version: int = _range(CONFIG_VERSION, 1, CONFIG_VERSION, "configuration format version")
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    transfer: TransferConfig = field(default_factory=TransferConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)

    def __post_init__(self) -> None:
        total = self.data.dev_fraction + self.data.test_fraction
        if self.data.target_dir is None and total + self.data.train_dev_fraction >= 0.9:
            raise ConfigError(
                "data.train_dev_fraction + dev_fraction + test_fraction must leave at least 10% for train"
            )
        if self.optimizer.warmup_fraction and self.optimizer.lr_decay not in WARMUP_DECAYS:
            raise ConfigError(
                f"optimizer.warmup_fraction goes with lr_decay {' or '.join(WARMUP_DECAYS)}, "
                f"not {self.optimizer.lr_decay!r}"
            )

    # ---- plain data -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrainConfig":
        if not isinstance(data, Mapping):
            raise ConfigError(f"a configuration is a mapping of sections, got {type(data).__name__}")
        version = data.get("version", CONFIG_VERSION)
        if isinstance(version, int) and not isinstance(version, bool) and version > CONFIG_VERSION:
            raise ConfigError(
                f"configuration version {version} is newer than this hpsearch understands "
                f"({CONFIG_VERSION}); upgrade hpsearch"
            )
        return _build(cls, data, "")

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_yaml(cls, text: str) -> "TrainConfig":
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"not valid YAML: {str(exc).splitlines()[0]}") from None
        if isinstance(data, Mapping) and "config" in data and isinstance(data["config"], Mapping):
            data = data["config"]  # an `hpsearch export` file: config beside metrics and provenance
        return cls.from_dict(data or {})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "TrainConfig":
        return cls.from_dict(json.loads(text))

    def replace(self, **sections: Mapping[str, Any]) -> "TrainConfig":
        """A copy with some fields of some sections changed, validated like any config."""
        data = self.to_dict()
        for name, changes in sections.items():
            if name not in data or not isinstance(data[name], dict):
                raise ConfigError(f"unknown section {name!r}")
            data[name].update(changes)
        return TrainConfig.from_dict(data)

    @property
    def pretrained(self) -> bool:
        return self.model.backbone != "small_cnn"


def load_config(path: str) -> TrainConfig:
    """Read a YAML (or JSON) configuration file, or an `hpsearch export` file."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    return TrainConfig.from_yaml(text)


def _build(cls, data: Mapping[str, Any], prefix: str):
    if not isinstance(data, Mapping):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'} must be a mapping, got {type(data).__name__}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in known:
            hint = difflib.get_close_matches(str(key), known, n=1)
            suggestion = f"; did you mean {prefix + hint[0]!r}?" if hint else f"; known: {', '.join(known)}"
            raise ConfigError(f"unknown key {prefix + str(key)!r}{suggestion}")
    values = {}
    for name, f in known.items():
        if name not in data:
            continue
        value = data[name]
        if dataclasses.is_dataclass(f.default_factory if f.default_factory is not dataclasses.MISSING else None):
            values[name] = _build(f.default_factory, value, f"{prefix}{name}.")
        else:
            values[name] = _check_value(f, value, f"{prefix}{name}")
    return cls(**values)


def _check_value(f: dataclasses.Field, value: Any, where: str) -> Any:
    default = f.default
    meta = f.metadata
    if value is None:
        if default is None:
            return None
        raise ConfigError(f"{where} may not be empty")
    if isinstance(value, bool):
        kind = {int: "an integer", float: "a number", str: "a string"}.get(type(default), "a value")
        raise ConfigError(f"{where} must be {kind}, got {value!r}")
    if isinstance(default, float):
        if not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{where} must be finite, got {value!r}")
    elif isinstance(default, int) or meta.get("optional_int"):
        if not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        if default is None and value < 1:
            raise ConfigError(f"{where} must be at least 1, got {value}")
    elif isinstance(default, str) or default is None:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
    if "range" in meta:
        low, high = meta["range"]
        too_low = value <= low if meta.get("low_open") else value < low
        if too_low or value > high:
            bracket = "(" if meta.get("low_open") else "["
            raise ConfigError(f"{where} must be in {bracket}{low}, {high}], got {value}")
    if "choices" in meta and value not in meta["choices"]:
        hint = difflib.get_close_matches(value, meta["choices"], n=1)
        suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise ConfigError(f"{where} is {value!r}{suggestion}; choose one of: {', '.join(meta['choices'])}")
    return value


def describe_fields(cls=TrainConfig, prefix: str = "") -> list[tuple[str, str, str]]:
    """(dotted name, allowed values, doc) for every leaf field: the reference table in docs/CLI."""
    rows = []
    for f in dataclasses.fields(cls):
        if f.default_factory is not dataclasses.MISSING and dataclasses.is_dataclass(f.default_factory):
            rows += describe_fields(f.default_factory, f"{prefix}{f.name}.")
            continue
        meta = f.metadata
        if "range" in meta:
            allowed = f"{meta['range'][0]} .. {meta['range'][1]}"
        elif "choices" in meta:
            allowed = " | ".join(meta["choices"])
        else:
            allowed = "any"
        rows.append((f"{prefix}{f.name}", allowed, meta.get("doc", "")))
    return rows
