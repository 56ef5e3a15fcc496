"""Every pretrained backbone asks for the ImageNet weight file Keras's own constructor asks for,
and the launch-time check looks for that very file.

Offline, so the download is intercepted: `keras.applications` fetches through
`keras.src.utils.file_utils.get_file`, which here records the file name and stops the build.
"""

import os

import pytest

keras = pytest.importorskip("keras")

from trainers.model.backbones import APPLICATIONS, build_application
from trainers.config import ModelConfig
from trainers.weights import WEIGHT_FILES, missing_weights

SIDE = 96  # every backbone's minimum is below it, and MobileNetV2 has weights for it


class Requested(Exception):
    pass


@pytest.fixture
def requested(monkeypatch):
    """Calls a build and returns the weight file it asked Keras to download."""
    from keras.src.utils import file_utils

    def record(build) -> str:
        asked = []

        def get_file(fname=None, origin=None, *args, **kwargs):
            asked.append(fname or os.path.basename(origin))
            raise Requested(fname)

        monkeypatch.setattr(file_utils, "get_file", get_file)
        with pytest.raises((Requested, RuntimeError)):
            build()
        assert len(asked) == 1, f"expected one download, saw {asked}"
        return asked[0]

    return record


def test_the_launch_check_knows_every_pretrained_backbone():
    assert set(WEIGHT_FILES) == set(APPLICATIONS)


@pytest.mark.parametrize("backbone", list(APPLICATIONS))
def test_backbone_requests_the_file_keras_requests_and_the_launch_check_finds_it(
    backbone, requested, tmp_path, monkeypatch
):
    constructor = getattr(keras.applications, APPLICATIONS[backbone].constructor)
    keras_file = requested(lambda: constructor(include_top=False, weights="imagenet", input_shape=(SIDE, SIDE, 3)))
    ours = requested(lambda: build_application(backbone, ModelConfig(backbone=backbone, weights="imagenet"), SIDE))
    assert ours == keras_file
    assert keras_file in WEIGHT_FILES[backbone]

    # With that file in a Keras cache, launch finds the weights; without it, it reports them missing.
    monkeypatch.setattr("trainers.weights.keras_models_dirs", lambda: [str(tmp_path / "models")])
    assert missing_weights([backbone]) == [backbone]
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / keras_file).write_bytes(b"")
    assert missing_weights([backbone]) == []


def test_the_built_backbone_keeps_our_name():
    net = build_application("efficientnet_b0", ModelConfig(backbone="efficientnet_b0", weights="none"), 32)
    assert net.name == "backbone_efficientnet_b0"
