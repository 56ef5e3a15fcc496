"""Image files: index a class-folder dataset without decoding it, and decode one file as every trial sees it.

Indexing only lists and stats files, so every trial can afford it: the (path, size, mtime) list is
what keys the decoded cache (`trainers.data.cache`), and a changed folder gives a new key.
Decoding is PIL's: it honours EXIF orientation, reads grey, RGBA, palette and CMYK images, and
lets a JPEG decode at a reduced scale (`draft`) when it is much larger than the target side.
No TensorFlow here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from trainers.config import ConfigError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
RESIZE_MODES = ("stretch", "crop", "pad")
# PIL modes whose pixels are one grey level: a folder of only these keeps one channel (3x less memory).
GREY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}


# Why a file under a class folder is not an image of the study (folder_index.ignored's keys).
NOT_AN_IMAGE = "without an image suffix"
HIDDEN = "hidden, named .*"
LOOP = "symlinked folders seen already, not followed again"


@dataclass
class FolderIndex:
    """The image files of a class-folder dataset, sorted, with their labels and stats."""

    root: str
    classes: list[str]
    paths: list[str]  # absolute
    labels: np.ndarray  # (n,) int32, index into classes
    stats: list[tuple[int, int]]  # (size in bytes, mtime in ns) per path
    ignored: dict[str, list[str]] = field(default_factory=dict)  # why -> the paths left out for it

    def fingerprint(self) -> list[tuple[str, int, int]]:
        """What the decoded cache is keyed on: relative path, size and mtime of every file."""
        return [(os.path.relpath(p, self.root), s, m) for p, (s, m) in zip(self.paths, self.stats)]

    def counts(self) -> dict[str, int]:
        return {c: int(np.sum(self.labels == k)) for k, c in enumerate(self.classes)}

    def describe(self) -> str:
        """One line for people: images per class, and what was left out and why."""
        counts = self.counts()
        shown = ", ".join(f"{c} {n}" for c, n in list(counts.items())[:12])
        more = f", and {len(counts) - 12} more classes" if len(counts) > 12 else ""
        line = f"{self.root}: {len(self.paths)} images in {len(counts)} classes ({shown}{more})"
        left = [f"{len(paths)} {why} (e.g. {os.path.relpath(paths[0], self.root)})"
                for why, paths in self.ignored.items() if paths]
        return line + ("; left out: " + "; ".join(left) if left else "")


def class_folders(path: str) -> list[str]:
    if not os.path.isdir(path):
        raise ConfigError(f"dataset folder {path!r} does not exist")
    classes = sorted(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d)) and not d.startswith("."))
    if not classes:
        raise ConfigError(f"dataset folder {path!r} has no class subfolders")
    return classes


def index_folder(path: str) -> FolderIndex:
    """List (do not decode) the images of each `path`/CLASS folder, at any depth; upper-case suffixes count too.

    As Keras's `image_dataset_from_directory`, an image in a subfolder of a class folder belongs to
    that class. Symlinked folders are followed, each real folder once (a link back up is no loop);
    hidden files and folders (`.git`, macOS's `._name.jpg`) are left out, and said so.
    """
    path = os.path.abspath(path)
    classes = class_folders(path)
    paths, labels, stats = [], [], []
    ignored: dict[str, list[str]] = {NOT_AN_IMAGE: [], HIDDEN: [], LOOP: []}
    for label, cls in enumerate(classes):
        for entry in _class_files(os.path.join(path, cls), ignored):
            if not entry.name.lower().endswith(IMAGE_SUFFIXES):
                ignored[NOT_AN_IMAGE].append(entry.path)
                continue
            st = entry.stat()
            paths.append(entry.path)
            labels.append(label)
            stats.append((st.st_size, st.st_mtime_ns))
    return FolderIndex(path, classes, paths, np.array(labels, dtype="int32"), stats, ignored)


def _class_files(folder: str, ignored: dict[str, list[str]]) -> list[os.DirEntry]:
    """Every file below `folder`, depth first in name order (a stable order keys the cache and the splits)."""
    seen: set[str] = set()
    files: list[os.DirEntry] = []

    def visit(directory: str) -> None:
        real = os.path.realpath(directory)
        if real in seen:
            ignored[LOOP].append(directory)
            return
        seen.add(real)
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            if entry.name.startswith("."):
                ignored[HIDDEN].append(entry.path)
            elif entry.is_dir():  # follows a symlink: `visit` stops at a folder seen already
                visit(entry.path)
            elif entry.is_file():
                files.append(entry)

    visit(folder)
    return files


def folder_channels(paths: list[str]) -> int:
    """1 when every readable image is grey, else 3 (reads headers only)."""
    from PIL import Image

    for p in paths:
        try:
            with Image.open(p) as img:
                if img.mode not in GREY_MODES:
                    return 3
        except Exception:  # a corrupt file is counted when it is decoded, not here
            continue
    return 1


def decode(path: str, size: int, mode: str, channels: int) -> np.ndarray:
    """One file as a (size, size, channels) uint8 array; raises on a corrupt file.

    Args:
        mode: stretch (ignore the aspect ratio), crop (centre crop to a square, then resize)
            or pad (letterbox: resize the longer side, pad the rest with black).
    """
    from PIL import Image, ImageOps

    with Image.open(path) as img:
        if img.format == "JPEG":
            img.draft(None, (size, size))  # decode at 1/2, 1/4 or 1/8 scale when that still covers size
        img = ImageOps.exif_transpose(img)
        img = _convert(img, channels)
        box = (size, size)
        if mode == "crop":
            img = ImageOps.fit(img, box, Image.BILINEAR)
        elif mode == "pad":
            img = ImageOps.pad(img, box, Image.BILINEAR, color=0)
        else:
            img = img.resize(box, Image.BILINEAR)
        pixels = np.asarray(img, dtype=np.uint8)
    return pixels[..., None] if channels == 1 else pixels


def _convert(img, channels: int):
    """Grey or RGB; transparent pixels (RGBA, LA, palette with transparency) become black."""
    from PIL import Image

    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba)
    if channels == 1:
        return img.convert("L")
    return img.convert("RGB")  # also CMYK, YCbCr, palette, 16-bit grey
