"""Test-time augmentation: a model's probabilities averaged over a few fixed views of each image.

The views are a horizontal flip and shifts of one or two pixels (the seeds' "multi-crop at test
time", at the scale of small images). Each is exact and built from stock Keras layers, so a model
that averages over them still loads with `keras.models.load_model` alone:

- a shift pads one side with zeros (`ZeroPadding2D`) and crops the other (`Cropping2D`);
- a flip multiplies the width axis by a fixed anti-diagonal 0/1 matrix (`Permute`, a frozen
  `Dense` without bias, `Permute` back): Keras has no deterministic flip layer.

The same layers compute the views' predictions that choose a policy and run in the exported model,
so what was measured is what is shipped. Whether any policy is kept is decided on held-out dev
examples (search.analysis.tta); a view that changes what the image shows (a flipped digit) loses there.
"""

from __future__ import annotations

import numpy as np


def _shifts(step: int) -> dict[str, tuple[bool, int, int]]:
    return {f"shift {dy:+d},{dx:+d}": (False, dy, dx) for dy, dx in ((0, step), (0, -step), (step, 0), (-step, 0))}


# view -> (flip, shift down, shift right), shifts in pixels
VIEWS: dict[str, tuple[bool, int, int]] = {"identity": (False, 0, 0), "flip": (True, 0, 0), **_shifts(1), **_shifts(2)}

# policy -> the views it averages over; in the order tried (an earlier one wins a tie)
POLICIES: dict[str, tuple[str, ...]] = {
    "flip": ("identity", "flip"),
    "shift 1 px": ("identity", *_shifts(1)),
    "shift 2 px": ("identity", *_shifts(2)),
    "flip and shift 1 px": ("identity", "flip", *_shifts(1)),
}


def _tag(view: str) -> str:
    """`view` as Keras accepts in a layer's name: "shift +0,-1" -> "shift_p0_m1"."""
    return view.replace(" ", "_").replace(",", "_").replace("+", "p").replace("-", "m")


def view_layers(view: str, shape: tuple[int, int, int]):
    """The stock layers that turn an image batch of `shape` into `view` of it (none for the identity)."""
    import keras

    flip, dy, dx = VIEWS[view]
    height, width, _ = shape
    tag = _tag(view)
    layers = []
    if flip:
        mirror = keras.layers.Dense(width, use_bias=False, trainable=False, name=f"tta_{tag}_mirror")
        mirror.build((None, None, None, width))
        mirror.set_weights([np.eye(width, dtype="float32")[::-1]])
        layers += [keras.layers.Permute((1, 3, 2), name=f"tta_{tag}_width_last"), mirror,
                   keras.layers.Permute((1, 3, 2), name=f"tta_{tag}_width_back")]
    if dy or dx:
        if abs(dy) >= height or abs(dx) >= width:
            raise ValueError(f"a shift of ({dy}, {dx}) pixels leaves nothing of a {height}x{width} image")
        pad = ((max(dy, 0), max(-dy, 0)), (max(dx, 0), max(-dx, 0)))
        crop = ((pad[0][1], pad[0][0]), (pad[1][1], pad[1][0]))
        layers += [keras.layers.ZeroPadding2D(pad, name=f"tta_{tag}_pad"),
                   keras.layers.Cropping2D(crop, name=f"tta_{tag}_crop")]
    return layers


def _seen_as(x, view: str, shape: tuple[int, int, int]):
    """`x` (a symbolic image batch of `shape`) through the layers of `view`."""
    for layer in view_layers(view, shape):
        x = layer(x)
    return x


def viewed(model, view: str):
    """`model` applied to `view` of its input: one model, for predicting on that view."""
    import keras

    shape = tuple(model.inputs[0].shape[1:])
    image = keras.Input(shape=shape, name="image")
    return keras.Model(image, model(_seen_as(image, view, shape)), name=f"{model.name}_{_tag(view)}")


def averaged(model, policy: str):
    """One model returning `model`'s probabilities averaged over the views of `policy`."""
    import keras

    shape = tuple(model.inputs[0].shape[1:])
    image = keras.Input(shape=shape, name="image")
    outputs = [model(_seen_as(image, view, shape)) for view in POLICIES[policy]]
    return keras.Model(image, keras.layers.Average(name="tta_average")(outputs), name=f"{model.name}_tta")
