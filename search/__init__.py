"""The glue between trainers/ and spaces/ and Optuna, in packages that import downward only:

- `search.core`: what every part shares: a study's spec, its storage, its trial counts and ranking;
- `search.analysis`: what the trials say (error decomposition, advice, reports, dashboard figures);
- `search.service`: launching studies, workers, trial processes, recording what a trial measured;
- `search.cli`: the `hpsearch` command, its output and errors, local workers, the dashboard.
"""
