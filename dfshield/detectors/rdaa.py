"""``rdaa``: reduced-dimensional anomaly-aware detector (WiML 2025 abstract; docs/methods.md §5).

Frozen CLIP features → autoencoder code → teacher–student discrepancy, with an adversarial
feature augmenter; the autoencoder, teacher, student and augmenter train only together, so they
live in one module. Details the abstract leaves open follow GenDet (arXiv 2312.08880) or are
ours: methods.md §5, "Our choices".
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from dfshield import validation
from dfshield._suggest import did_you_mean
from dfshield.detectors.base import BaseDetector
from dfshield.errors import ConfigError
from dfshield.registry import DETECTOR

#: the loss terms, in the order ``get_losses`` reports them, with their default weights
DEFAULT_WEIGHTS = {
    "reconstruction": 1.0,  # autoencoder MSE, every sample
    "real_discrepancy": 1.0,  # student mimics teacher on reals
    "fake_hinge": 1.0,  # student diverges by >= margin on fakes
    "augmented_hinge": 0.5,  # the same hinge on G's augmented fakes (adversarial, via GRL)
    "compactness": 0.1,  # real codes pulled to the EMA centre
    "teacher_bce": 1.0,  # teacher head trained as a real/fake classifier (teacher: trained)
    "calibration": 1.0,  # BCE of the calibrated logit on the detached discrepancy
}
TEACHER_MODES = ("trained", "frozen")
_OWNER = "detector 'rdaa'"
MAX_DISCREPANCY = 4.0  # d = 2(1 − ρ) for standardised outputs, ρ ∈ [−1, 1]


def reverse_gradient(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Gradient reversal (Ganin & Lempitsky, ICML 2015): value ``x``, gradient × ``−scale``."""
    frozen = x.detach()
    return frozen - scale * (x - frozen)


def standardise(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Zero mean, unit variance over the last dimension (a LayerNorm without parameters),
    in float32 whatever autocast does."""
    x = x.float()
    centred = x - x.mean(-1, keepdim=True)
    return centred * torch.rsqrt(centred.pow(2).mean(-1, keepdim=True) + eps)


def discrepancy(teacher_out: torch.Tensor, student_out: torch.Tensor) -> torch.Tensor:
    """Per-sample d = mean_k (t̃_k − s̃_k)² of the standardised outputs: 2(1 − ρ), in [0, 4]."""
    return (standardise(teacher_out) - standardise(student_out)).pow(2).mean(-1)


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values[mask]``; 0 (still attached to the graph, zero gradient) when empty."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


def token_transformer(
    code_dim: int,
    num_tokens: int,
    token_dim: int,
    heads: int,
    depth: int,
    mlp_ratio: float,
    dropout: float,
) -> nn.Sequential:
    """The teacher/student shape: ``num_tokens`` learned projections of the code, ``depth``
    pre-norm encoder layers and a LayerNorm, projected back to ``code_dim`` (methods.md §5)."""
    layer = nn.TransformerEncoderLayer(
        token_dim,
        heads,
        dim_feedforward=max(1, round(mlp_ratio * token_dim)),
        dropout=dropout,
        activation="gelu",
        batch_first=True,
        norm_first=True,
    )
    return nn.Sequential(
        nn.Linear(code_dim, num_tokens * token_dim),
        nn.Unflatten(1, (num_tokens, token_dim)),
        nn.TransformerEncoder(
            layer, depth, norm=nn.LayerNorm(token_dim), enable_nested_tensor=False
        ),
        nn.Flatten(1),
        nn.Linear(num_tokens * token_dim, code_dim),
    )


@DETECTOR.register_module(module_name="rdaa")
class RDAADetector(BaseDetector):
    """CLIP features → 150-d autoencoder code → teacher–student discrepancy, adversarial
    augmenter (WiML 2025).

    ``cls`` = softplus(θ)·(d − τ), increasing in the discrepancy d; ``get_losses`` returns each
    term of :data:`DEFAULT_WEIGHTS` and ``overall``. The objective is built in (``loss: {name:
    rdaa}`` or none). Network, losses and our choices: docs/methods.md §5.

    Args:
        backbone: backbone config (the CLIP ViT-L/14 ``proj`` feature bank of ``spcup``).
        code_dim: size of the autoencoder code (150 in the abstract).
        ae_hidden, num_tokens, token_dim, teacher_depth, student_depth: sizes of methods.md §5's
            networks.
        mlp_ratio, dropout, augmenter_hidden: likewise (``mlp_ratio`` × ``token_dim`` is the
            transformer MLP's width).
        heads: attention heads (must divide ``token_dim``).
        teacher: ``trained`` (a BCE head trains it alongside) or ``frozen`` (random, fixed).
        margin: hinge margin m on the fake discrepancy, in (0, 4].
        augment_radius: bound on each entry of G's shift of a standardised code; >= 0.
        grl_lambda: gradient-reversal scale λ >= 0 (G's step size relative to the student's).
        center_momentum: EMA momentum of the real-code centre, in [0, 1).
        weights: weight of each loss term by name; missing names keep :data:`DEFAULT_WEIGHTS`.
    """

    center: torch.Tensor  # buffers (register_buffer)
    center_ready: torch.Tensor

    def __init__(
        self,
        backbone: dict,
        code_dim: int = 150,
        ae_hidden: int = 384,
        num_tokens: int = 8,
        token_dim: int = 64,
        heads: int = 4,
        teacher_depth: int = 2,
        student_depth: int = 2,
        mlp_ratio: float = 2.0,
        dropout: float = 0.0,
        teacher: str = "trained",
        margin: float = 2.0,
        augment_radius: float = 0.5,
        augmenter_hidden: int = 256,
        grl_lambda: float = 1.0,
        center_momentum: float = 0.99,
        weights: dict | None = None,
    ):
        # check every option before the (possibly large) backbone is built
        for key, value in (
            ("code_dim", code_dim),
            ("ae_hidden", ae_hidden),
            ("num_tokens", num_tokens),
            ("token_dim", token_dim),
            ("heads", heads),
            ("teacher_depth", teacher_depth),
            ("student_depth", student_depth),
            ("augmenter_hidden", augmenter_hidden),
        ):
            _positive_int(key, value)
        if token_dim % heads:
            raise ConfigError(
                f"detector.heads ({heads}) must divide detector.token_dim ({token_dim}); "
                f"pick a divisor of token_dim or change token_dim"
            )
        mlp_ratio = validation.number(_OWNER, "mlp_ratio", mlp_ratio, low=0.0, low_open=True)
        dropout = validation.number(_OWNER, "dropout", dropout, low=0.0, high=1.0, high_open=True)
        margin = validation.number(
            _OWNER, "margin", margin, low=0.0, low_open=True, high=MAX_DISCREPANCY
        )
        augment_radius = validation.number(_OWNER, "augment_radius", augment_radius, low=0.0)
        grl_lambda = validation.number(_OWNER, "grl_lambda", grl_lambda, low=0.0)
        center_momentum = validation.number(
            _OWNER, "center_momentum", center_momentum, low=0.0, high=1.0, high_open=True
        )
        if teacher not in TEACHER_MODES:
            raise ConfigError(
                f"detector.teacher must be one of {TEACHER_MODES}, got {teacher!r}."
                f"{did_you_mean(str(teacher), TEACHER_MODES)}"
            )
        self.weights = _loss_weights(weights)
        super().__init__(backbone)
        self.code_dim, self.teacher_mode, self.margin = code_dim, teacher, float(margin)
        self.augment_radius, self.grl_lambda = float(augment_radius), float(grl_lambda)
        self.center_momentum = float(center_momentum)
        in_dim = self.backbone.feature_dim
        self.encoder = nn.Sequential(
            nn.Linear(in_dim, ae_hidden), nn.GELU(), nn.Linear(ae_hidden, code_dim)
        )
        self.decoder = nn.Sequential(
            nn.Linear(code_dim, ae_hidden), nn.GELU(), nn.Linear(ae_hidden, in_dim)
        )
        transformer = functools.partial(
            token_transformer,
            code_dim=code_dim,
            num_tokens=num_tokens,
            token_dim=token_dim,
            heads=heads,
            mlp_ratio=mlp_ratio,
            dropout=dropout,
        )
        self.teacher = transformer(depth=teacher_depth)
        self.student = transformer(depth=student_depth)
        if teacher == "frozen":
            self.teacher.requires_grad_(False)
            self.teacher_head = None
        else:
            self.teacher_head = nn.Linear(code_dim, 1)
        self.augmenter = nn.Sequential(
            nn.Linear(2 * code_dim, augmenter_hidden),
            nn.GELU(),
            nn.Linear(augmenter_hidden, code_dim),
            nn.Tanh(),
        )
        # calibration: logit = softplus(θ)·(d − τ); τ = m/2, softplus(θ) = 4/m at the start
        self.calib_threshold = nn.Parameter(torch.tensor(self.margin / 2))
        self.calib_scale_raw = nn.Parameter(torch.tensor(math.log(math.expm1(4.0 / self.margin))))
        self.register_buffer("center", torch.zeros(code_dim))
        self.register_buffer("center_ready", torch.zeros((), dtype=torch.bool))

    # -- pieces ----------------------------------------------------------------------------
    def encode(self, features: torch.Tensor) -> torch.Tensor:
        """The standardised code z of backbone features, ``(B, code_dim)``."""
        return standardise(self.encoder(features))

    def calibrate(self, d: torch.Tensor) -> torch.Tensor:
        """Logit of *fake* from the discrepancy: softplus(θ)·(d − τ), increasing in d."""
        return F.softplus(self.calib_scale_raw) * (d - self.calib_threshold)

    def teacher_target(self, code: torch.Tensor) -> torch.Tensor:
        """T(code) with T's parameters detached: gradients reach ``code`` but never T."""
        if self.teacher_mode == "frozen" or not torch.is_grad_enabled():
            return self.teacher(code)
        params = {name: p.detach() for name, p in self.teacher.named_parameters()}
        return functional_call(self.teacher, params, (code,))

    def augment(self, code: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """G's augmented copies of the fake codes (codes detached, G's shift through the GRL).

        On the CPU only the fake rows are augmented; elsewhere selecting them would need a host
        sync, so every row is and the loss reads the fakes only. Same values either way.
        """
        base = code.detach()
        noise = torch.randn_like(base)
        if selects_on_host(base):
            base, noise = base[fake], noise[fake]
        shift = self.augment_radius * self.augmenter(torch.cat([base, noise], dim=-1))
        return standardise(base + reverse_gradient(shift, self.grl_lambda))

    # -- forward ---------------------------------------------------------------------------
    def classifier(self, features: torch.Tensor) -> torch.Tensor:
        code = self.encode(features)
        return self.calibrate(discrepancy(self.teacher_target(code), self.student(code)))

    def forward(self, data_dict: dict, inference: bool = False) -> dict:
        """``cls``, ``prob``, ``feat`` (the code), ``discrepancy``, ``recon_error``, ``teacher_cls``
        (trained teacher); training with labels, ``augmented_discrepancy`` (used for fakes)."""
        features = self.features(data_dict)
        code = self.encode(features)
        n = len(code)
        augmenting = self.training and not inference and data_dict.get("label") is not None
        if augmenting:
            fake = _is_fake(data_dict["label"])
            rows = torch.cat([code, self.augment(code, fake)])
        else:
            rows = code
        if self.teacher_head is not None and torch.is_grad_enabled():
            teacher_out, target = self.teacher(code), self.teacher_target(rows)  # BCE; fixed
        else:
            target = self.teacher(rows)
            teacher_out = target[:n]
        d_rows = discrepancy(target, self.student(rows))
        d = d_rows[:n]
        logits = self.calibrate(d)
        pred = {
            "cls": logits,
            "prob": torch.sigmoid(logits),
            "feat": code,
            "discrepancy": d,
            "recon_error": (self.decoder(code) - features).pow(2).mean(-1),
        }
        if self.teacher_head is not None:
            pred["teacher_cls"] = self.teacher_head(teacher_out).squeeze(-1)
        if augmenting:
            augmented = d_rows[n:]
            if selects_on_host(code):  # one value per fake: back to one per sample
                augmented = d.new_zeros(n).masked_scatter(fake, augmented)
            pred["augmented_discrepancy"] = augmented
        return pred

    # -- losses ----------------------------------------------------------------------------
    def build_loss(
        self, config: dict | str | None = None, class_counts: dict | None = None
    ) -> None:
        """Accept only ``{name: rdaa}`` or no section: the terms' weights are
        ``detector.weights``; ``class_counts`` is not used."""
        if isinstance(config, str):
            config = {"name": config}
        config = dict(config or {})
        name = config.pop("name", "rdaa")
        if name != "rdaa":
            raise ConfigError(
                f"rdaa trains with its own objective (reconstruction, discrepancy, hinge, "
                f"compactness, ...), not loss '{name}'; set loss: {{name: rdaa}} and tune the "
                f"terms with detector.weights (e.g. --set detector.weights.compactness=0.2)"
            )
        if config:
            raise ConfigError(
                f"loss 'rdaa' has no options (got {sorted(config)}); its weights and margin are "
                f"detector options: detector.weights.<term> with terms {list(DEFAULT_WEIGHTS)}, "
                f"and detector.margin"
            )
        return None

    def get_losses(self, data_dict: dict, pred_dict: dict) -> dict[str, torch.Tensor]:
        """The terms and ``overall``, as masked means (no host read: a batch without
        reals or fakes gives 0 for their terms)."""
        labels = data_dict["label"].reshape(-1)
        fake = _is_fake(labels)
        real = ~fake
        target = fake.to(pred_dict["discrepancy"].dtype)
        d, code = pred_dict["discrepancy"], pred_dict["feat"]
        if self.training:
            real_mean, has_real = self._real_mean(code, real)
            self._start_center(real_mean, has_real)
        augmented = pred_dict.get("augmented_discrepancy")
        zero = d.sum() * 0.0
        terms = {
            "reconstruction": pred_dict["recon_error"].mean(),
            "real_discrepancy": masked_mean(d, real),
            "fake_hinge": masked_mean(F.relu(self.margin - d), fake),
            "augmented_hinge": (
                masked_mean(F.relu(self.margin - augmented), fake)
                if augmented is not None
                else zero
            ),
            "compactness": masked_mean((code - self.center).pow(2).mean(-1), real),
            "teacher_bce": (
                F.binary_cross_entropy_with_logits(pred_dict["teacher_cls"].float(), target.float())
                if "teacher_cls" in pred_dict
                else zero
            ),
            "calibration": F.binary_cross_entropy_with_logits(
                self.calibrate(d.detach()).float(), target.float()
            ),
        }
        if self.training:
            self._update_center(real_mean, has_real)
        overall = sum(self.weights[name] * value for name, value in terms.items())
        return {"overall": overall, **terms}

    @torch.no_grad()
    def _real_mean(
        self, code: torch.Tensor, real: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The mean of the batch's real codes (0 without reals) and whether it has any."""
        weights = real.to(self.center.dtype)
        count = weights.sum()
        mean = (code.detach().to(self.center.dtype) * weights[:, None]).sum(0)
        return mean / count.clamp(min=1.0), count > 0

    @torch.no_grad()
    def _start_center(self, real_mean: torch.Tensor, has_real: torch.Tensor) -> None:
        """c ← the real-code mean of the first batch with reals (chosen on the device)."""
        start = has_real & ~self.center_ready
        self.center.copy_(torch.where(start, real_mean, self.center))
        self.center_ready.logical_or_(has_real)

    @torch.no_grad()
    def _update_center(self, real_mean: torch.Tensor, has_real: torch.Tensor) -> None:
        """c ← μ·c + (1 − μ)·mean(real codes of the batch), for a batch with reals."""
        moved = self.center * self.center_momentum + real_mean * (1.0 - self.center_momentum)
        self.center.copy_(torch.where(has_real, moved, self.center))


def selects_on_host(tensor: torch.Tensor) -> bool:
    """Whether boolean-mask selection on ``tensor`` needs no device sync (the CPU)."""
    return tensor.device.type == "cpu"


def _is_fake(labels: torch.Tensor) -> torch.Tensor:
    return labels.reshape(-1).float() > 0.5


def _positive_int(key: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"detector.{key} must be a whole number >= 1, got {value!r}")


def _loss_weights(weights: dict | None) -> dict[str, float]:
    if weights is None:
        return dict(DEFAULT_WEIGHTS)
    if not isinstance(weights, dict):
        raise ConfigError(
            f"detector.weights must be a mapping of loss term to weight, e.g. "
            f"{{compactness: 0.1}}; got {weights!r}"
        )
    merged = dict(DEFAULT_WEIGHTS)
    for key, value in weights.items():
        if key not in DEFAULT_WEIGHTS:
            raise ConfigError(
                f"detector.weights has no term '{key}'.{did_you_mean(str(key), DEFAULT_WEIGHTS)} "
                f"Its terms: {', '.join(DEFAULT_WEIGHTS)}"
            )
        merged[key] = validation.number(_OWNER, f"weights.{key}", value, low=0.0)
    return merged
