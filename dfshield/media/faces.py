"""Face cropping, shared by ``build-lmdb`` and ``predict`` so training and prediction crops match.

Detectors ship in installed packages: ``haar`` (default; OpenCV cascade, CPU, frontal faces) or
``mtcnn`` (``dfshield[mtcnn]``; more robust to pose, GPU if ``device`` names one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from dfshield._suggest import did_you_mean
from dfshield.errors import ConfigError, DataError

DETECTORS = ("haar", "mtcnn")
ON_MISSING = ("skip", "center")
HAAR_CASCADE = "haarcascade_frontalface_default.xml"


@dataclass(frozen=True)
class FaceBox:
    """One detection in image pixel coordinates: ``[x0, x1) × [y0, y1)`` and a detector score."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float = 1.0

    @property
    def area(self) -> float:
        return max(0.0, self.x1 - self.x0) * max(0.0, self.y1 - self.y0)


def _as_rgb_uint8(image: Any) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4) or array.shape[0] < 1 or array.shape[1] < 1:
        raise DataError(
            f"Expected an RGB image of shape (H, W, 3), got shape {array.shape}. "
            "Pass a decoded colour image (cv2 images are BGR: convert with "
            "cv2.cvtColor(img, cv2.COLOR_BGR2RGB))."
        )
    if array.shape[2] == 4:
        array = array[:, :, :3]
    if array.dtype != np.uint8:
        if (
            np.issubdtype(array.dtype, np.floating)
            and array.size
            and float(np.nanmax(array)) <= 1.0
        ):
            array = array * 255.0
        array = np.clip(np.nan_to_num(array), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(array)


def square_box(box: FaceBox, scale: float, width: int, height: int) -> tuple[int, int, int, int]:
    """Square crop box around ``box``, side ``scale × max(w, h)``, shifted inside the image and
    capped at its shorter side (never stretched)."""
    cx = (box.x0 + box.x1) / 2.0
    cy = (box.y0 + box.y1) / 2.0
    side = max(box.x1 - box.x0, box.y1 - box.y0) * float(scale)
    side = int(round(min(max(side, 1.0), width, height)))
    x0 = int(round(cx - side / 2.0))
    y0 = int(round(cy - side / 2.0))
    x0 = min(max(x0, 0), width - side)
    y0 = min(max(y0, 0), height - side)
    return x0, y0, x0 + side, y0 + side


def center_box(width: int, height: int) -> tuple[int, int, int, int]:
    """The largest centred square of the image, ``(x0, y0, x1, y1)``."""
    side = min(width, height)
    x0 = (width - side) // 2
    y0 = (height - side) // 2
    return x0, y0, x0 + side, y0 + side


def resize_square(image: np.ndarray, size: int | None) -> np.ndarray:
    """Resize to ``size``×``size`` (area when shrinking, bilinear when enlarging)."""
    if not size:
        return image
    h, w = image.shape[:2]
    if (h, w) == (size, size):
        return image
    interpolation = cv2.INTER_AREA if size < min(h, w) else cv2.INTER_LINEAR
    return cv2.resize(image, (int(size), int(size)), interpolation=interpolation)


class FaceCropper:
    """The largest confident face of an RGB image, box × ``scale`` (DeepfakeBench: 1.3), squared.

    ``min_confidence``: Haar level weight (default 1.0) or MTCNN probability (0.9). Haar detects on
    a copy of about ``detect_pixels``. Picklable.
    """

    def __init__(
        self,
        detector: str = "haar",
        scale: float = 1.3,
        size: int | None = 256,
        on_missing: str = "skip",
        *,
        min_confidence: float | None = None,
        detect_pixels: int = 640 * 480,
        device: str | None = None,
    ) -> None:
        if detector not in DETECTORS:
            raise ConfigError(
                f"Unknown face detector {detector!r}; choose one of {', '.join(DETECTORS)}."
                + did_you_mean(detector, DETECTORS)
            )
        if on_missing not in ON_MISSING:
            raise ConfigError(
                f"Unknown on_missing={on_missing!r}; choose 'skip' (drop frames without a face) or "
                "'center' (use a centre crop instead)." + did_you_mean(on_missing, ON_MISSING)
            )
        if not float(scale) > 0:
            raise ConfigError(f"Face crop scale must be > 0 (DeepfakeBench uses 1.3), got {scale}.")
        if size is not None and int(size) < 0:
            raise ConfigError(
                "Crop size must be a positive number of pixels (or 0 to keep the crop size), "
                f"got {size}."
            )
        self.detector = detector
        self.scale = float(scale)
        self.size = int(size) if size else None
        self.on_missing = on_missing
        self.min_confidence = (
            float(min_confidence)
            if min_confidence is not None
            else (1.0 if detector == "haar" else 0.9)
        )
        self.detect_pixels = int(detect_pixels)
        self.device = device
        self._model: Any = None

    def __repr__(self) -> str:
        return (
            f"FaceCropper(detector={self.detector!r}, scale={self.scale}, size={self.size}, "
            f"on_missing={self.on_missing!r})"
        )

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_model"] = None
        return state

    # -- detectors -------------------------------------------------------------------------------
    def load(self) -> Any:
        """Load the detector now (else on first use): a missing dependency fails before any work."""
        if self._model is not None:
            return self._model
        if self.detector == "haar":
            data = getattr(cv2, "data", None)
            folder = getattr(data, "haarcascades", None)
            if not folder or not hasattr(cv2, "CascadeClassifier"):
                missing = "CascadeClassifier" if folder else "cv2.data.haarcascades"
                raise ConfigError(
                    f"This OpenCV ({cv2.__version__}) has no Haar face detector ({missing} is "
                    "missing; OpenCV 5 and some GPU images build it without). Install "
                    "opencv-python-headless<5 (pip install 'opencv-python-headless>=4.8,<5'), "
                    "or use MTCNN (predict --face-detector mtcnn, build-lmdb --detector mtcnn), "
                    "or crop no faces (predict --face-crop never)."
                )
            cascade = cv2.CascadeClassifier(str(folder) + HAAR_CASCADE)
            if cascade.empty():
                raise ConfigError(
                    f"Could not load {HAAR_CASCADE} from {folder}. "
                    "Reinstall opencv-python-headless<5."
                )
            self._model = cascade
        else:
            try:
                from facenet_pytorch import MTCNN  # lazy: optional dependency
            except ImportError as exc:
                raise ConfigError(
                    "detector='mtcnn' needs facenet-pytorch: pip install 'dfshield[mtcnn]' "
                    "(or pip install facenet-pytorch), or use detector='haar'."
                ) from exc
            self._model = MTCNN(keep_all=True, device=self.device, post_process=False)
        return self._model

    def detect(self, rgb: Any) -> list[FaceBox]:
        """All confident faces in the image (full-resolution pixel boxes), largest first."""
        image = _as_rgb_uint8(rgb)
        model = self.load()
        if self.detector == "haar":
            boxes = self._detect_haar(model, image)
        else:
            boxes = self._detect_mtcnn(model, image)
        boxes = [b for b in boxes if b.score >= self.min_confidence and b.area > 0]
        return sorted(boxes, key=lambda b: (-b.area, -b.score))

    def _detect_haar(self, cascade: Any, image: np.ndarray) -> list[FaceBox]:
        h, w = image.shape[:2]
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        factor = (
            min(1.0, (self.detect_pixels / float(h * w)) ** 0.5) if self.detect_pixels > 0 else 1.0
        )
        if factor < 1.0:
            gray = cv2.resize(
                gray,
                (max(1, int(round(w * factor))), max(1, int(round(h * factor)))),
                interpolation=cv2.INTER_AREA,
            )
        min_side = max(20, min(gray.shape[:2]) // 15)
        if min(gray.shape[:2]) < min_side:
            return []
        rects, _levels, weights = cascade.detectMultiScale3(
            gray,
            scaleFactor=1.1,
            minNeighbors=5,
            minSize=(min_side, min_side),
            outputRejectLevels=True,
        )
        weights = np.ravel(weights) if len(rects) else []
        return [
            FaceBox(x / factor, y / factor, (x + bw) / factor, (y + bh) / factor, float(score))
            for (x, y, bw, bh), score in zip(np.asarray(rects).reshape(-1, 4).tolist(), weights)
        ]

    def _detect_mtcnn(self, mtcnn: Any, image: np.ndarray) -> list[FaceBox]:
        boxes, probs = mtcnn.detect(image)
        if boxes is None:
            return []
        h, w = image.shape[:2]
        out = []
        for (x0, y0, x1, y1), p in zip(np.asarray(boxes).tolist(), np.ravel(probs).tolist()):
            x0, y0 = max(0.0, x0), max(0.0, y0)
            x1, y1 = min(float(w), x1), min(float(h), y1)
            out.append(FaceBox(x0, y0, x1, y1, float(p)))
        return out

    # -- cropping --------------------------------------------------------------------------------
    def box(self, rgb: Any) -> tuple[int, int, int, int] | None:
        """The square crop box ``(x0, y0, x1, y1)`` of the largest face (``None``: no face)."""
        image = _as_rgb_uint8(rgb)
        faces = self.detect(image)
        if not faces:
            return None
        h, w = image.shape[:2]
        return square_box(faces[0], self.scale, w, h)

    def crop(self, rgb: Any) -> tuple[np.ndarray | None, bool]:
        """``(crop, found)``; no face: ``(None, False)`` or (``on_missing``) the centre crop."""
        image = _as_rgb_uint8(rgb)
        box = self.box(image)
        found = box is not None
        if box is None:
            if self.on_missing == "skip":
                return None, False
            h, w = image.shape[:2]
            box = center_box(w, h)
        x0, y0, x1, y1 = box
        return np.ascontiguousarray(resize_square(image[y0:y1, x0:x1], self.size)), found


def center_crop(rgb: Any, size: int | None = 256) -> np.ndarray:
    """Largest centred square of an RGB image, resized to ``size`` (no face detection)."""
    image = _as_rgb_uint8(rgb)
    h, w = image.shape[:2]
    x0, y0, x1, y1 = center_box(w, h)
    return np.ascontiguousarray(resize_square(image[y0:y1, x0:x1], size))
