"""What the trainer tests share: the digits splits, and reporters that record what the trainer tells them."""

import pytest

from trainers.config import TrainConfig
from trainers.data import load_splits


@pytest.fixture(scope="module")
def digits():
    return load_splits(TrainConfig().data)


class Recorder:
    def __init__(self, stop_after=None):
        self.epochs, self.metrics, self.stop_after = [], [], stop_after

    def report(self, epoch, metrics):
        self.epochs.append(epoch)
        self.metrics.append(dict(metrics))

    def should_stop(self):
        return self.stop_after is not None and self.epochs[-1] >= self.stop_after


class Checkpointed(Recorder):
    """A Recorder that also keeps what the trainer says of its checkpoints and of a resume."""

    def __init__(self, stop_after=None):
        super().__init__(stop_after)
        self.saved, self.resumed_at = {}, None

    def checkpoint(self, epoch, path, seconds, nbytes):
        self.saved[epoch] = path
        assert seconds >= 0 and nbytes > 0

    def resumed(self, epoch, history):
        self.resumed_at, self.inherited = epoch, list(history)
