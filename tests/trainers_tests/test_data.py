"""The four splits: disjoint, stratified, stable for a seed; folders of images with bad files."""

import logging

import numpy as np
import pytest
from PIL import Image

from trainers.config import ConfigError, DataConfig
from trainers.data import check_dataset_name, load_splits, pipeline


def _fingerprints(split):
    return {x.tobytes() for x in split.images}


def _digit_keys(images) -> list[bytes]:
    """Each image back on digits' own 0..16 scale, as bytes: equal keys are equal images."""
    return [np.rint(np.asarray(x, dtype="float32") * 16.0 / 255.0).astype("uint8").tobytes() for x in images]


def test_pixels_are_uint8_until_the_model():
    splits = load_splits(DataConfig(dataset="digits"))
    assert splits.train.images.dtype == np.uint8
    x, _ = next(iter(pipeline(splits.train, splits.num_classes, 16, training=True)))
    assert x.dtype.name == "uint8"


def test_digits_splits_are_disjoint_and_cover_the_data():
    from collections import Counter

    from sklearn.datasets import load_digits

    splits = load_splits(DataConfig(dataset="digits"))
    sizes = splits.sizes()
    assert sizes["train_dev"] > 0 and sizes["dev"] > 0 and sizes["test"] > 0
    # A partition: every source image lands in exactly one split, as many times as the source holds it
    # (digits has a few duplicate images, so compare multisets, not sets).
    drawn = Counter(k for s in ("train", "train_dev", "dev", "test") for k in _digit_keys(getattr(splits, s).images))
    source = Counter(np.asarray(x, dtype="uint8").tobytes() for x in load_digits().images.astype("uint8")[..., None])
    assert drawn == source
    assert splits.num_classes == 10 and splits.image_shape == (8, 8, 1)
    assert 0 <= splits.train.images.min() and splits.train.images.max() <= 255.0


def test_splits_are_disjoint_by_index():
    from trainers.data import stratified_split

    labels = np.repeat(np.arange(5), 40)
    parts = stratified_split(labels, [0.1, 0.15, 0.15], seed=3)
    seen = np.concatenate(parts)
    assert len(seen) == len(set(seen.tolist())) == len(labels)
    # stratified: each class is represented in every held-out part
    for part in parts[1:]:
        assert set(labels[part]) == set(range(5))


def test_the_split_is_stable_for_a_seed_and_changes_with_it():
    a = load_splits(DataConfig(dataset="digits", seed=7))
    b = load_splits(DataConfig(dataset="digits", seed=7))
    c = load_splits(DataConfig(dataset="digits", seed=8))
    assert np.array_equal(a.dev.images, b.dev.images) and np.array_equal(a.dev.labels, b.dev.labels)
    assert not np.array_equal(a.dev.images, c.dev.images)


def _write_folder(root, classes, per_class=12, size=(20, 16), color_shift=0):
    rng = np.random.default_rng(len(classes) + color_shift)
    for k, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 255, (*size, 3), dtype=np.uint8)
            pixels[..., k % 3] = 200 + color_shift
            Image.fromarray(pixels).save(folder / f"{i}.png")


def test_folder_dataset_skips_a_corrupt_file_with_a_warning(tmp_path, caplog):
    _write_folder(tmp_path / "data", ["cat", "dog"])
    (tmp_path / "data" / "cat" / "broken.jpg").write_bytes(b"not an image at all")
    (tmp_path / "data" / "dog" / "notes.txt").write_text("hello")
    with caplog.at_level(logging.WARNING):
        splits = load_splits(DataConfig(dataset=f"dir:{tmp_path / 'data'}", image_size=16))
    assert sum(splits.sizes().values()) == 24
    assert splits.class_names == ["cat", "dog"] and splits.image_shape == (16, 16, 3)
    assert "skipped 1 unreadable image files" in caplog.text and "broken.jpg" in caplog.text
    assert "left out: 1 without an image suffix (e.g. dog/notes.txt)" in caplog.text
    assert [p.rsplit("/", 1)[-1] for p in splits.skipped] == ["broken.jpg"]


def test_folder_with_a_target_distribution_for_dev_and_test(tmp_path):
    _write_folder(tmp_path / "source", ["a", "b"], per_class=20)
    _write_folder(tmp_path / "target", ["a", "b"], per_class=10, color_shift=30)
    config = DataConfig(dataset=f"dir:{tmp_path / 'source'}", target_dir=str(tmp_path / "target"), image_size=8)
    splits = load_splits(config)
    assert len(splits.train) + len(splits.train_dev) == 40
    assert len(splits.dev) + len(splits.test) == 20
    assert _fingerprints(splits.dev).isdisjoint(_fingerprints(splits.train))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.mkdir(), "has no class subfolders"),
        (lambda p: (p / "only").mkdir(parents=True), "holds no readable images"),
        (lambda p: _write_folder(p, ["only"]), "has images of one class only"),
        (lambda p: ((p / "a").mkdir(parents=True), (p / "a" / "x.png").write_bytes(b"junk"), (p / "b").mkdir()), "holds no readable images"),
    ],
)
def test_bad_folders_are_refused(tmp_path, make, message):
    make(tmp_path / "data")
    with pytest.raises(ConfigError, match=message):
        load_splits(DataConfig(dataset=f"dir:{tmp_path / 'data'}"))


def test_unknown_dataset_names_are_refused_with_a_hint(tmp_path):
    with pytest.raises(ConfigError, match="unknown dataset 'digit' \\(did you mean 'digits'\\?\\)"):
        check_dataset_name("digit")
    with pytest.raises(ConfigError, match="does not exist"):
        check_dataset_name(f"dir:{tmp_path / 'nope'}")
    check_dataset_name("tfds:tf_flowers")  # named only: loading it needs the optional extra


def test_tfds_without_the_extra_is_a_clear_error():
    pytest.importorskip("tensorflow")
    try:
        import tensorflow_datasets  # noqa: F401

        pytest.skip("tensorflow-datasets is installed here")
    except ImportError:
        pass
    with pytest.raises(ConfigError, match="needs tensorflow-datasets"):
        load_splits(DataConfig(dataset="tfds:tf_flowers"))


def test_pipeline_batches_one_hot_labels():
    splits = load_splits(DataConfig(dataset="digits"))
    ds = pipeline(splits.dev, splits.num_classes, 32)
    x, y = next(iter(ds))
    assert x.shape == (32, 8, 8, 1) and y.shape == (32, 10)
    assert np.allclose(np.asarray(y).sum(axis=1), 1.0)


@pytest.mark.parametrize("policy", ["mixup", "cutmix"])
def test_label_mixing_gives_the_same_batches_for_the_same_seed(policy):
    """A seed names a run: retraining an exported config must see the same mixed batches."""
    from trainers.model.augment import label_mixing_layer
    from trainers.config import AugmentConfig

    splits = load_splits(DataConfig(dataset="digits"))

    def batches():
        mixing = label_mixing_layer(AugmentConfig(policy=policy), 7)
        ds = pipeline(splits.train, splits.num_classes, 16, training=True, seed=7, batch_transform=mixing)
        return [(np.asarray(x), np.asarray(y)) for x, y in ds.take(12)]

    first, second = batches(), batches()
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(first, second))
    assert any(not np.allclose(y.max(axis=1), 1.0) for _, y in first)  # labels were mixed
