"""Building DeepfakeBench-format datasets (``build-lmdb``) and the demo set (``demo-data``)."""
