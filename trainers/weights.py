"""Whether a pretrained backbone's ImageNet weights are at hand on this host. No TensorFlow.

Keras looks for each headless weights file in `$KERAS_HOME/models` (default `~/.keras/models`;
`/tmp/.keras/models` when that is not writable) and downloads it from Google's storage when it is
missing. Offline, every trial of such a backbone would fail on the download, and the study would
halt after `--max-failures`: `launch` checks here first, on the host that launches.
"""

from __future__ import annotations

import os
import urllib.request

ORIGIN = "https://storage.googleapis.com/tensorflow/keras-applications/"
PROBE = ORIGIN + "resnet/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
# The file names keras.applications 3.15 uses for include_top=False; tests/trainers_tests/
# test_backbone_weights.py checks them against what Keras's constructors and our builder request.
WEIGHT_FILES = {
    "mobilenet_v2": tuple(f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{side}_no_top.h5"
                          for side in (96, 128, 160, 192, 224)),  # one per input side; any side will do here
    "resnet50": ("resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",),
    "efficientnet_b0": ("efficientnetb0_notop.h5",),
    "vgg16": ("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",),
    "densenet121": ("densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5",),
    "inception_v3": ("inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",),
    "xception": ("xception_weights_tf_dim_ordering_tf_kernels_notop.h5",),
}


def keras_models_dirs() -> list[str]:
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return [os.path.join(home, "models"), os.path.join("/tmp", ".keras", "models")]


def missing_weights(backbones) -> list[str]:
    """The pretrained backbones among `backbones` whose ImageNet weights are in no Keras cache folder."""
    folders = keras_models_dirs()
    return [b for b in backbones if b in WEIGHT_FILES
            and not any(os.path.exists(os.path.join(d, f)) for d in folders for f in WEIGHT_FILES[b])]


def weights_reachable(timeout: float = 5.0) -> bool:
    """Whether this host can download Keras's ImageNet weights (one HEAD request)."""
    try:
        with urllib.request.urlopen(urllib.request.Request(PROBE, method="HEAD"), timeout=timeout) as reply:
            return reply.status < 400
    except Exception:  # no DNS, no route, a proxy refusing: all mean "cannot fetch"
        return False
