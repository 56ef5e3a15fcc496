"""Real data for the data tests: a slice of Fashion-MNIST (Debian's dataset-fashion-mnist, which
`make test` installs), and a folder of JPEG/PNG/GIF files made from it at varying sizes and formats."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

FASHION = "/usr/share/datasets/fashion-mnist"
CLASSES = ("pullover", "trouser", "tshirt")  # Fashion-MNIST labels 2, 1, 0 (folders sort by name)
PER_CLASS = 14


def fashion_slice(count: int):
    from trainers.data import read_idx

    path = os.path.join(FASHION, "t10k-images-idx3-ubyte.gz")
    if not os.path.exists(path):
        pytest.fail("Fashion-MNIST not found: `make test` installs it (apt-get install dataset-fashion-mnist)")
    images = read_idx(path)
    labels = read_idx(os.path.join(FASHION, "t10k-labels-idx1-ubyte.gz"))
    return images[:count], labels[:count]


def _save(grey: np.ndarray, path, kind: int, rng) -> None:
    """One Fashion-MNIST image upscaled to a random, non-square size, in one of seven formats."""
    w, h = (int(v) for v in rng.integers(40, 100, 2))
    img = Image.fromarray(grey).resize((w, h), Image.BILINEAR)
    rgb = Image.merge("RGB", (img, img.point(lambda v: v // 2), img))
    if kind == 0:
        img.save(f"{path}.jpg", quality=90)  # grey JPEG
    elif kind == 1:
        rgb.save(f"{path}.png")
    elif kind == 2:
        rgba = rgb.copy()
        rgba.putalpha(200)
        rgba.save(f"{path}.png")
    elif kind == 3:
        rgb.convert("P", palette=Image.ADAPTIVE).save(f"{path}.gif")
    elif kind == 4:
        rgb.convert("CMYK").save(f"{path}.jpeg")
    elif kind == 5:
        exif = Image.Exif()
        exif[0x0112] = 6  # orientation: the viewer rotates 90 degrees clockwise
        rgb.transpose(Image.Transpose.ROTATE_90).save(f"{path}.JPG", exif=exif)  # upper-case suffix
    else:
        img.save(f"{path}.PNG")


@pytest.fixture(scope="session")
def fashion_folder(tmp_path_factory):
    """dir: dataset of 3 classes x 14 images (7 formats), plus a corrupt file and a text file."""
    root = tmp_path_factory.mktemp("fashion-folder")
    images, labels = fashion_slice(400)
    rng = np.random.default_rng(0)
    for name, label in zip(CLASSES, (2, 1, 0)):
        (root / name).mkdir()
        for i, grey in enumerate(images[labels == label][:PER_CLASS]):
            _save(grey, root / name / f"{i:03d}", i % 7, rng)
    (root / "tshirt" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated, not a JPEG")
    (root / "trouser" / "README.txt").write_text("not an image")
    return root


def grey_folder(root, per_class: int = 8, size=(30, 20)):
    images, labels = fashion_slice(200)
    for label in (0, 1):
        (root / f"c{label}").mkdir(parents=True)
        for i, grey in enumerate(images[labels == label][:per_class]):
            Image.fromarray(grey).resize(size).save(root / f"c{label}" / f"{i}.png")
    return root
