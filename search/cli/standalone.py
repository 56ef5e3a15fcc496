"""`hpsearch train`: one configuration, no database, a progress bar and a final table."""

from __future__ import annotations

from typing import Mapping

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from search.cli.output import console, print_metrics, write_text
from trainers.config import TrainConfig
from trainers.result import NAN_LOSS


class ProgressReporter:
    def __init__(self, progress: Progress, task):
        self.progress, self.task = progress, task

    def report(self, epoch: int, metrics: Mapping[str, float]) -> None:
        detail = " ".join(f"{k}={metrics[k]:.4f}" for k in ("loss", "train_error", "dev_error") if k in metrics)
        self.progress.update(self.task, completed=epoch, detail=detail)

    def should_stop(self) -> bool:
        return False


def train_with_progress(config: TrainConfig, save: str | None, metrics_out: str | None = None) -> None:
    from trainers.data import load_splits
    from trainers.train import train

    data = load_splits(config.data)
    sizes = ", ".join(f"{k} {v}" for k, v in data.sizes().items())
    console.print(f"{config.model.backbone} on {data.name} ({sizes}; {data.num_classes} classes)")
    if data.notes.get("test"):
        console.print(f"test is {data.notes['test']}; train-dev and dev are drawn from its training split")
    if data.notes.get("streamed"):
        console.print(f"streamed from the dataset cache (beyond data.memory_budget_mb): {data.notes['streamed']}")
    if data.skipped:
        console.print(f"{len(data.skipped)} unreadable image files left out, e.g. {data.skipped[0]}")
    with Progress(TextColumn("epoch"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[detail]}"),
                  TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task("train", total=config.training.epochs, detail="")
        result = train(config, data, ProgressReporter(progress, task))
    epoch_times = sorted(m["epoch_seconds"] for m in result.history if "epoch_seconds" in m)
    metrics = {"epochs run": result.epochs_run, "stopped because": result.stop_reason, **result.metrics,
               "seconds per epoch (median)": epoch_times[len(epoch_times) // 2] if epoch_times else None,
               "seconds in all": result.seconds}
    print_metrics(metrics, "result (errors measured in inference mode)")
    if metrics_out:
        import json

        write_text(metrics_out, json.dumps(metrics, indent=2, default=str) + "\n")
    if save:
        result.model.save(save)
        console.print(f"model saved to {save}; load it with keras.models.load_model({save!r})")
    if result.stop_reason == NAN_LOSS:
        raise SystemExit(1)
