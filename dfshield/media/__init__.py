"""Media: decoding, frame sampling, face cropping and the one image/video pipeline.

The lowest floor of the data path, under :mod:`dfshield.data`, the builder and ``predict``.
"""
