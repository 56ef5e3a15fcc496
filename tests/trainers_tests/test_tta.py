"""The test-time views are exact flips and zero-filled shifts, and a model averaged over them loads with Keras alone."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from trainers.tta import POLICIES, VIEWS, averaged, viewed


def expected_view(x, flip, dy, dx):
    out = x[:, :, ::-1] if flip else x.copy()
    out = np.roll(out, (dy, dx), axis=(1, 2))
    rows, cols = np.arange(x.shape[1]), np.arange(x.shape[2])
    out[:, (rows < dy) | (rows >= x.shape[1] + dy)] = 0  # rows shifted in from outside the image
    out[:, :, (cols < dx) | (cols >= x.shape[2] + dx)] = 0
    return out


@pytest.fixture(scope="module")
def pass_through():
    image = keras.Input((5, 7, 2))
    return keras.Model(image, keras.layers.Identity()(image), name="pass_through")


@pytest.mark.parametrize("view", list(VIEWS))
def test_each_view_is_exact(pass_through, view):
    x = np.random.default_rng(0).integers(0, 256, (3, 5, 7, 2)).astype("float32")
    assert np.array_equal(viewed(pass_through, view).predict_on_batch(x), expected_view(x, *VIEWS[view]))


def test_an_averaged_model_is_the_mean_of_its_views_and_loads_with_keras_alone(tmp_path):
    image = keras.Input((6, 6, 1))
    x = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(image))
    model = keras.Model(image, keras.layers.Dense(3, activation="softmax")(x), name="tiny")
    batch = np.random.default_rng(1).integers(0, 256, (4, 6, 6, 1)).astype("float32")
    policy = "flip and shift 1 px"
    mean = np.mean([viewed(model, v).predict_on_batch(batch) for v in POLICIES[policy]], axis=0)
    averaged(model, policy).save(tmp_path / "tta.keras")
    loaded = keras.models.load_model(tmp_path / "tta.keras")
    np.testing.assert_allclose(loaded.predict_on_batch(batch), mean, rtol=1e-5, atol=1e-6)
