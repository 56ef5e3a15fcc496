"""What every benchmark shares: results and provenance, parallel runs, the Fashion-MNIST subset, search
statistics, and how numbers are written. Imports no benchmark."""
