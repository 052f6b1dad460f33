"""Media: decoding frames, masks and landmarks, sampling frames from videos, cropping faces, and
the one pipeline that reads image and video files (:mod:`dfshield.media.pipeline`).

The lowest floor of the data path, shared by dataset reading (:mod:`dfshield.data`), dataset
building (:mod:`dfshield.dataset_builder`) and scoring new media (:mod:`dfshield.scoring.predict`).
It imports nothing else of dfshield but its errors and ``_suggest``.
"""
