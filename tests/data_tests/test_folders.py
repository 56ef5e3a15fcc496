"""Folder datasets: indexed, split, decoded once per host into a uint8 cache, streamed beyond a budget."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest
from PIL import Image

from testing.cli import run_cli
from tests.data_tests.conftest import CLASSES, PER_CLASS, fashion_slice, grey_folder
from trainers.config import ConfigError, DataConfig, TrainConfig
from trainers.data import check_folder, load_splits, pipeline
from trainers.data.cache import list_entries
from trainers.data.images import decode
from trainers.data.streamed import folder_splits

SPLIT_NAMES = ("train", "train_dev", "dev", "test")


def _pixels(splits, split):
    """Every image of a split as bytes (in RAM, or read through its pipeline when streamed)."""
    part = getattr(splits, split)
    if part.in_memory:
        return sorted(x.tobytes() for x in part.images)
    batches = pipeline(part, splits.num_classes, 7)
    return sorted(x.tobytes() for batch, _ in batches.as_numpy_iterator() for x in batch)


def test_mixed_formats_are_decoded_into_uint8_splits_and_a_corrupt_file_is_named(fashion_folder, caplog):
    with caplog.at_level(logging.WARNING):
        splits = load_splits(DataConfig(dataset=f"dir:{fashion_folder}", image_size=32))
    assert splits.class_names == sorted(CLASSES)
    assert sum(splits.sizes().values()) == 3 * PER_CLASS  # every format read; only broken.jpg left out
    assert all(n > 0 for n in splits.sizes().values())
    assert splits.image_shape == (32, 32, 3)  # some images are colour: three channels
    assert splits.train.images.dtype == np.uint8
    assert [os.path.basename(p) for p in splits.skipped] == ["broken.jpg"]
    assert "broken.jpg" in caplog.text and "README.txt" in caplog.text


def test_a_later_load_reads_the_cache_and_a_changed_folder_is_decoded_again(tmp_path):
    root = grey_folder(tmp_path / "data")
    config = DataConfig(dataset=f"dir:{root}", image_size=16)
    first, built_first = folder_splits(config)
    again, built_again = folder_splits(config)
    assert (built_first, built_again) == (True, False)
    for split in SPLIT_NAMES:
        assert _pixels(first, split) == _pixels(again, split)
    # A file rewritten in place (new size and mtime) must never be served from the old entry.
    Image.new("L", (30, 20), 255).save(root / "c0" / "0.png")
    os.utime(root / "c0" / "0.png", ns=(1, 1))
    changed, built_changed = folder_splits(config)
    assert built_changed
    white = np.full((16, 16, 1), 255, np.uint8).tobytes()
    assert any(white in _pixels(changed, s) for s in SPLIT_NAMES)
    assert len([e for e in list_entries() if e["dataset"] == str(root)]) == 2


def test_splits_are_disjoint_stratified_and_stable_for_a_seed(fashion_folder):
    a = load_splits(DataConfig(dataset=f"dir:{fashion_folder}", image_size=24, seed=5))
    b = load_splits(DataConfig(dataset=f"dir:{fashion_folder}", image_size=24, seed=5))
    c = load_splits(DataConfig(dataset=f"dir:{fashion_folder}", image_size=24, seed=6))
    parts = [set(_pixels(a, s)) for s in SPLIT_NAMES]
    assert sum(len(p) for p in parts) == len(set().union(*parts))  # disjoint
    for split in ("dev", "test"):
        assert set(getattr(a, split).labels.tolist()) == {0, 1, 2}  # stratified: every class held out
        assert _pixels(a, split) == _pixels(b, split)
    assert _pixels(a, "dev") != _pixels(c, "dev")


def test_grey_folders_keep_one_channel(tmp_path):
    splits = load_splits(DataConfig(dataset=f"dir:{grey_folder(tmp_path / 'data')}", image_size=12))
    assert splits.image_shape == (12, 12, 1)


def test_exif_orientation_is_honoured_and_each_resize_mode_keeps_its_promise(tmp_path):
    # A wide white image with a black left quarter, stored rotated with an EXIF tag that undoes it.
    wide = np.full((50, 100), 255, np.uint8)
    wide[:, :25] = 0
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(wide).transpose(Image.Transpose.ROTATE_90).save(tmp_path / "r.JPG", exif=exif, quality=95)
    stretched = decode(str(tmp_path / "r.JPG"), 40, "stretch", 1)[..., 0]
    assert stretched[:, :5].mean() < 30 and stretched[:, -5:].mean() > 225  # black on the left, as viewed

    white = tmp_path / "w.png"
    Image.new("RGB", (100, 50), (255, 255, 255)).save(white)
    padded = decode(str(white), 40, "pad", 3)
    assert padded[:5].max() == 0 and padded[-5:].max() == 0 and padded[20].min() == 255  # letterboxed
    assert decode(str(white), 40, "crop", 3).min() == 255 and decode(str(white), 40, "stretch", 3).min() == 255
    rgba = tmp_path / "a.png"
    Image.new("RGBA", (10, 10), (255, 255, 255, 0)).save(rgba)
    assert decode(str(rgba), 8, "stretch", 3).max() == 0  # transparent becomes black, not noise


def test_a_class_with_too_few_images_is_refused_naming_it(tmp_path):
    root = grey_folder(tmp_path / "data")
    for extra in sorted((root / "c1").iterdir())[3:]:
        extra.unlink()
    with pytest.raises(ConfigError, match="class 'c1' of dataset folder .* has 3 image files; each class needs at least 6"):
        check_folder(str(root))


@pytest.mark.slow
def test_splits_beyond_the_memory_budget_stream_from_the_cache_and_train(fashion_folder):
    from trainers.train import train

    in_ram = load_splits(DataConfig(dataset=f"dir:{fashion_folder}", image_size=32))
    config = TrainConfig().replace(
        data={"dataset": f"dir:{fashion_folder}", "image_size": 32, "memory_budget_mb": 0},
        model={"depth": 1, "width": 8},
        training={"epochs": 2, "batch_size": 8},
    )
    streamed = load_splits(config.data)
    assert not any(getattr(streamed, s).in_memory for s in SPLIT_NAMES)
    for split in SPLIT_NAMES:
        assert _pixels(streamed, split) == _pixels(in_ram, split)
    result = train(config, streamed, measure_latency=False)
    assert result.epochs_run == 2 and np.isfinite(result.metrics["dev_error"])
    assert result.metrics["skipped_images"] == 1.0


def test_images_in_subfolders_of_a_class_belong_to_it_at_any_depth_links_followed_once(tmp_path):
    """Folders as people keep them: sub-topics inside each class, a link to images kept elsewhere, a link loop."""
    from trainers.data.images import index_folder

    images, _ = fashion_slice(40)
    pictures = iter(Image.fromarray(img) for img in images)
    root = tmp_path / "data"
    layout = {
        "boots": ["ankle/1.png", "ankle/2.png", "knee/deep/3.png", "knee/deep/4.png", "knee/5.png", "knee/6.png"],
        "shirts": ["1.png", "2.png", "3.png", "plain/4.png", "plain/5.png", "striped/6.PNG"],
    }
    for cls, files in layout.items():
        for file in files:
            (root / cls / file).parent.mkdir(parents=True, exist_ok=True)
            next(pictures).save(root / cls / file)
    elsewhere = tmp_path / "kept-elsewhere"
    elsewhere.mkdir()
    for i in range(2):
        next(pictures).save(elsewhere / f"{i}.png")
    (root / "shirts" / "more").symlink_to(elsewhere, target_is_directory=True)
    (root / "boots" / "knee" / "back-up").symlink_to(root / "boots", target_is_directory=True)  # a loop
    next(pictures).save(root / "shirts" / "._1.png")  # macOS's resource fork: hidden
    (root / "boots" / ".thumbnails").mkdir()
    next(pictures).save(root / "boots" / ".thumbnails" / "t.png")
    (root / "shirts" / "plain" / "notes.txt").write_text("sizes")

    index = index_folder(str(root))
    assert index.counts() == {"boots": 6, "shirts": 8}  # boots: only in subfolders; shirts: 2 through the link
    text = index.describe()
    assert "14 images in 2 classes (boots 6, shirts 8)" in text
    assert "1 without an image suffix (e.g. shirts/plain/notes.txt)" in text
    assert "2 hidden, named .* (e.g. boots/.thumbnails)" in text
    assert "1 symlinked folders seen already, not followed again (e.g. boots/knee/back-up)" in text

    splits = load_splits(DataConfig(dataset=f"dir:{root}", image_size=16))
    assert sum(splits.sizes().values()) == 14 and splits.class_names == ["boots", "shirts"]

    # The cache is keyed on the nested files too: one more image deep down is a new entry.
    prepared = run_cli("prepare", f"dir:{root}", "--image-size", "16", check=True).stdout
    assert "14 images in 2 classes (boots 6, shirts 8)" in prepared and "cache already there" in prepared
    next(pictures).save(root / "boots" / "knee" / "deep" / "7.png")
    prepared = run_cli("prepare", f"dir:{root}", "--image-size", "16", check=True).stdout
    assert "15 images in 2 classes (boots 7, shirts 8)" in prepared and "cache built" in prepared
