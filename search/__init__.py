"""The glue: Optuna studies in a storage, workers, trial processes, the CLI and the dashboard."""
