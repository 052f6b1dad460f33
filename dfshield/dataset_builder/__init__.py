"""Building DeepfakeBench-format datasets: discovering sources, face-cropping, writing JSON +
LMDB (``dfshield build-lmdb``), the synthetic demo set (``demo-data``) and set-up checks
(``data-info``)."""
