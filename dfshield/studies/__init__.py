"""Studies built from many runs: side-by-side comparison, imbalance ratios, minority subsampling."""
