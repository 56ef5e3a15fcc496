"""The search service: launching studies, workers, trial processes, and recording what trials measured."""
