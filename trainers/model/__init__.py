"""From a configuration to an uncompiled Keras model: `build` assembles it from a backbone
(`backbones`: the small CNN or a keras.applications network) and the augmentation layers
(`augment`), and sets how much of a pretrained backbone trains in each phase.
"""

from trainers.model.build import BuiltModel, build_model, set_backbone_trainable

__all__ = ["BuiltModel", "build_model", "set_backbone_trainable"]
