"""The data a run trains and is measured on: four splits of a dataset, and the tf.data pipeline over one.

Start at `loading` (which dataset, how it is split, the pipeline); a folder of images is indexed
and decoded in `images`, streamed through the per-host decoded cache (`cache`) by `streamed`
when it does not fit the memory budget; `splits` holds the split types and the stratified draw.
No TensorFlow at import: the CLI checks a dataset's name and a folder with this package.
"""

from trainers.data.loading import (
    check_dataset_name,
    check_folder,
    dataset_names,
    load_splits,
    pipeline,
    preload,
    prepare,
    read_idx,
)
from trainers.data.splits import SPLITS, Split, Splits, min_per_class, stratified_split

__all__ = [
    "SPLITS", "Split", "Splits", "check_dataset_name", "check_folder", "dataset_names",
    "load_splits", "min_per_class", "pipeline", "preload", "prepare", "read_idx", "stratified_split",
]
