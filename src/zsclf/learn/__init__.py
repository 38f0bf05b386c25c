"""Making things from labels and photos: label indexes (`builder`, `examples`, `calibration`), cached
CNN features (`features`) and DeViSE projections (`train`). Imports the pipeline; the pipeline
never imports this package."""
