"""The command line on top of the service and the analysis: `hpsearch` (commands), its output and
errors, local workers, standalone training and the dashboard."""
