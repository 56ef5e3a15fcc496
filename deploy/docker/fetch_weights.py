"""Download ImageNet weights into $KERAS_HOME at image build time (the Dockerfile's PRETRAINED).

    python fetch_weights.py MobileNetV2 ResNet50     # keras.applications names
    python fetch_weights.py mobilenet_v2,resnet50     # hpsearch backbone names work too

Names are matched ignoring case, '_' and '-', separated by spaces or commas. It fetches the
headless ("no top") weights that hpsearch's pretrained backbones load; for MobileNet and
MobileNetV2, whose weight files depend on the input side, every side Keras has weights for.
Without names it does nothing (and imports nothing heavy).
"""

from __future__ import annotations

import os
import sys

# MobileNet / MobileNetV2 weights are per input side; any other side loads the 224 file.
PER_SIDE = {"MobileNet": (128, 160, 192, 224), "MobileNetV2": (96, 128, 160, 192, 224)}


def normalize(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def split_names(args: list[str]) -> list[str]:
    return [n for arg in args for n in arg.replace(",", " ").split()]


def application_names() -> list[str]:
    import keras

    return sorted(n for n in dir(keras.applications) if n[:1].isupper() and callable(getattr(keras.applications, n)))


def resolve(names: list[str], available: list[str]) -> list[str]:
    """keras.applications constructor names for `names`; SystemExit naming any unknown one."""
    index = {normalize(a): a for a in available}
    unknown = [n for n in names if normalize(n) not in index]
    if unknown:
        raise SystemExit(f"PRETRAINED: unknown network(s) {', '.join(unknown)}; keras.applications has: {', '.join(available)}")
    out: list[str] = []
    for n in names:
        if index[normalize(n)] not in out:
            out.append(index[normalize(n)])
    return out


def fetch(constructor: str) -> None:
    import keras

    build = getattr(keras.applications, constructor)
    for side in PER_SIDE.get(constructor, (None,)):
        shape = (side, side, 3) if side else None
        print(f"fetching ImageNet weights of {constructor}" + (f" ({side}x{side})" if side else ""), flush=True)
        build(include_top=False, weights="imagenet", input_shape=shape)
        keras.backend.clear_session()


def main(argv: list[str]) -> int:
    names = split_names(argv)
    if not names:
        print("PRETRAINED is empty: no ImageNet weights baked into the image")
        return 0
    home = os.environ.get("KERAS_HOME")
    if not home or not os.access(home, os.W_OK):
        # Keras would silently fall back to /tmp/.keras, which the image does not keep.
        raise SystemExit(f"KERAS_HOME ({home!r}) must be set and writable")
    for constructor in resolve(names, application_names()):
        fetch(constructor)
    models = os.path.join(home, "models")
    for f in sorted(os.listdir(models)):
        print(f"  {models}/{f}  {os.path.getsize(os.path.join(models, f)) / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
