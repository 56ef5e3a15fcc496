"""Fashion-MNIST offline, from Debian's dataset-fashion-mnist, with its official 10,000-image test split."""

from __future__ import annotations

import numpy as np
import pytest

from testing.cli import run_cli
from tests.data_tests.conftest import fashion_slice
from trainers.config import DataConfig
from trainers.data import load_splits


def test_fashion_mnist_keeps_its_official_test_split_and_carves_dev_from_train():
    _, official_labels = fashion_slice(10_000)
    splits = load_splits(DataConfig(dataset="fashion_mnist"))
    sizes = splits.sizes()
    assert sizes["test"] == 10_000 and np.array_equal(splits.test.labels, official_labels)
    assert sizes["train"] + sizes["train_dev"] + sizes["dev"] == 60_000
    # dev is 15% of the training split, drawn per class: 900 of each class's 6,000
    assert np.bincount(splits.dev.labels).tolist() == [900] * 10
    assert splits.class_names[0] == "T-shirt/top" and splits.image_shape == (28, 28, 1)
    assert splits.train.images.dtype == np.uint8


@pytest.mark.slow
def test_hpsearch_train_on_fashion_mnist_reports_the_official_test_split(tmp_path):
    config = tmp_path / "fashion.yaml"
    config.write_text(
        "data: {dataset: fashion_mnist, max_train_examples: 512}\n"
        "model: {backbone: small_cnn, depth: 1, width: 8}\n"
        "training: {epochs: 1, batch_size: 64}\n"
    )
    proc = run_cli("train", str(config), check=True, timeout=600)
    out = " ".join(proc.stdout.split())
    assert "train 512, train_dev 6000, dev 9000, test 10000" in out
    assert "test is the dataset's official test split" in out
