"""The built-in spaces: `default` (every backbone) and `small` (the small CNN only, for CPUs).

Ranges follow common practice: the learning rate spans four decades and is searched on a log
scale; SGD momentum is searched through r with beta = 1 - 10**r, so that values between 0.99
and 0.999 (where small changes matter most) get as much attention as 0.9 .. 0.99. The head's
hidden layer is a choice (none, as in a plain softmax classifier, or a dense layer) and, when
chosen, its units on a log scale: the seeds rank hidden units second only to the learning rate.
"""

from __future__ import annotations

from trainers.config import AUGMENT_POLICIES, BACKBONES, LR_DECAYS, TrainConfig

from spaces._base import Categorical, Float, Int, Picker, Space


def momentum_from_r(r: float) -> float:
    """beta = 1 - 10**r: r uniform in [-3, -1] samples beta in [0.9, 0.999], densely near 1."""
    return 1.0 - 10.0**r


COMMON = {
    "learning_rate": Float(1e-5, 1e-1, log=True, why="the most important knob; effects are multiplicative"),
    "optimizer": Categorical(("sgd", "adam"), why="SGD with momentum, or Adam (beta1 0.9, beta2 0.999, eps 1e-8)"),
    "momentum_r": Float(-3.0, -1.0, why="SGD only: beta = 1 - 10**r, dense near 1"),
    "lr_decay": Categorical(LR_DECAYS, why="schedule over the run"),
    "batch_size": Categorical((16, 32, 64, 128), why="powers of two; smaller adds gradient noise"),
    "dropout": Float(0.0, 0.5, why="regularisation before the classifier"),
    "hidden_layer": Categorical((False, True), why="a dense layer before the softmax, or none"),
    "head_units": Int(32, 1024, log=True, why="its units: after the learning rate, the knob that matters most"),
    "batch_norm": Categorical(("none", "before", "after"), why="BN before or after each activation, or none"),
    "augment_policy": Categorical(AUGMENT_POLICIES, why="training-only augmentation, in the model"),
    "augment_magnitude": Float(0.05, 0.5, why="strength of the chosen policy"),
}

SMALL_CNN = {
    "depth": Int(1, 4, why="conv blocks (two convolutions each)"),
    "width": Int(16, 128, log=True, why="filters of the first block; doubled per block"),
}

TRANSFER = {
    "frozen_epochs": Float(0.1, 0.7, why="share of epochs training the head with the backbone frozen"),
    "fine_tune_fraction": Float(0.0, 0.5, why="top share of backbone layers fine-tuned in phase two"),
    "fine_tune_lr_ratio": Float(0.01, 0.5, log=True, why="phase-two learning rate relative to phase one"),
}


def build(pick: Picker, base: TrainConfig) -> TrainConfig:
    backbone = pick("backbone")
    model = {"backbone": backbone, "batch_norm": pick("batch_norm"), "dropout": pick("dropout")}
    model["head_units"] = pick("head_units") if pick("hidden_layer") else 0
    if backbone == "small_cnn":
        model.update(depth=pick("depth"), width=pick("width"))
    policy = pick("augment_policy")
    augment = {"policy": policy}
    if policy != "none":
        augment["magnitude"] = pick("augment_magnitude")
    name = pick("optimizer")
    optimizer = {"name": name, "learning_rate": pick("learning_rate"), "lr_decay": pick("lr_decay")}
    if name == "sgd":
        optimizer["momentum"] = momentum_from_r(pick("momentum_r"))
    sections = {"model": model, "augment": augment, "optimizer": optimizer, "training": {"batch_size": pick("batch_size")}}
    if backbone != "small_cnn":
        sections["transfer"] = {
            "frozen_epochs": pick("frozen_epochs"),
            "fine_tune_fraction": pick("fine_tune_fraction"),
            "fine_tune_lr_ratio": pick("fine_tune_lr_ratio"),
        }
    return base.replace(**sections)


DEFAULT = Space(
    name="default",
    description="every backbone: the small CNN from scratch or an ImageNet network, frozen then fine-tuned",
    dimensions={
        "backbone": Categorical(BACKBONES, why="small CNN from scratch, or transfer from ImageNet"),
        **SMALL_CNN,
        **TRANSFER,
        **COMMON,
    },
    build=build,
)

SMALL = Space(
    name="small",
    description="the small CNN only: fast on a CPU (the demo's space)",
    dimensions={"backbone": Categorical(("small_cnn",), why="trained from scratch"), **SMALL_CNN, **COMMON},
    build=build,
)
