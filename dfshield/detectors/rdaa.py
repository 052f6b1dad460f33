"""``rdaa``: reduced-dimensional anomaly-aware detector (seed: WiML 2025 abstract;
docs/methods.md §5).

Over 450 lines for one detector: its autoencoder, teacher, student and augmenter train only
together.

Frozen CLIP ViT-L/14 768-d features → lightweight autoencoder to a 150-d code (reconstruction
loss) → transformer teacher and student on the code. The student mimics the teacher on reals,
diverges from it by at least a margin on fakes, an anomaly-aware term pulls real codes into a
tight cluster, and a feature augmenter G makes harder fakes adversarially. The score is the
teacher–student discrepancy, calibrated into a logit. Only the abstract is public; every detail
it leaves open follows GenDet (Zhu et al., "GenDet: Towards Good Generalizations for AI-Generated
Image Detection", arXiv 2312.08880: teacher–student discrepancy learning plus an adversarially
trained feature augmenter) or is our own choice, and each is listed in ``RDAADetector``'s docstring.
"""

from __future__ import annotations

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
    """Gradient-reversal layer (Ganin & Lempitsky, ICML 2015) without a custom autograd class.

    Returns ``x.detach() − scale·(x − x.detach())``: its value is exactly ``x`` (the second term is
    exactly zero) and its gradient with respect to ``x`` is ``−scale`` times the incoming one.
    """
    frozen = x.detach()
    return frozen - scale * (x - frozen)


def standardise(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Zero mean, unit variance over the last dimension (a LayerNorm without parameters), in
    float32 whatever autocast does (written out so that no autocast policy lowers it)."""
    x = x.float()
    centred = x - x.mean(-1, keepdim=True)
    return centred * torch.rsqrt(centred.pow(2).mean(-1, keepdim=True) + eps)


def discrepancy(teacher_out: torch.Tensor, student_out: torch.Tensor) -> torch.Tensor:
    """Per-sample teacher–student discrepancy d = mean_k (t̃_k − s̃_k)², t̃, s̃ standardised.

    For standardised vectors d = 2(1 − ρ) with ρ the Pearson correlation of the two outputs, so
    d ∈ [0, 4] whatever the output scale: 0 = identical up to an affine map, 2 = uncorrelated.
    """
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
    """Transformer on one code vector: a learned token sequence read from the whole code.

    ``Linear(code_dim → num_tokens·token_dim)`` reshaped to ``num_tokens`` tokens (each token is a
    different learned projection of the full code, so no positional embedding is needed), ``depth``
    pre-norm encoder layers (GELU MLP of width ``mlp_ratio·token_dim``) and a final LayerNorm, then
    the tokens are flattened and projected back to ``code_dim``.
    """
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

    Network (x: the frozen backbone feature, D = ``backbone.feature_dim``, 768 for ViT-L/14
    ``proj``):

    - **Autoencoder** ("lightweight", one hidden layer each way): encoder
      ``Linear(D→ae_hidden)–GELU–Linear(ae_hidden→code_dim)`` followed by a parameter-free
      standardisation of the code (zero mean, unit variance over its ``code_dim`` entries; *our
      choice*: it fixes the code's scale so that the compactness term cannot be met by shrinking
      every code towards 0, and gives the transformers well-scaled inputs); decoder
      ``Linear(code_dim→ae_hidden)–GELU–Linear(ae_hidden→D)`` reconstructs the raw x from the code.
      Reconstruction loss: per-sample mean squared error, on reals and fakes alike.
    - **Teacher T and student S**: the same architecture (``token_transformer``), independent
      random initialisations, depths ``teacher_depth`` / ``student_depth``. A transformer needs a
      token sequence; the code is one 150-d vector, so the tokens are a *learned token sequence*:
      ``num_tokens`` different linear projections of the whole code (no positional embedding is
      needed, each token's projection is its own); the output is projected back to ``code_dim``.
      ``dropout`` defaults to 0 so that the discrepancy of a sample is deterministic.
    - **Discrepancy** d = mean_k (t̃_k − s̃_k)² between the standardised outputs t̃, s̃ (*our
      choice*: d = 2(1 − ρ) with ρ their correlation, so d ∈ [0, 4] on a fixed scale and the
      margin keeps its meaning while the teacher trains).
    - **Teacher training** (``teacher``): GenDet (as we read it) first trains the teacher as a
      real/fake classifier, then freezes it and trains the student against it. One training loop
      cannot run stages, so with ``teacher: trained`` (default) a linear head on T's output is
      trained with BCE *simultaneously*, and T's parameters receive gradient **only** from that
      BCE: every discrepancy is computed with T's parameters detached
      (``torch.func.functional_call``), so the teacher is a slowly moving target that the
      student, the encoder and G see as fixed, while gradients still flow *through* T to its
      input (the encoder and G need them).
      ``teacher: frozen`` keeps the randomly initialised T fixed (``requires_grad`` off, no head,
      as in random-network distillation); ``teacher_bce`` is then 0.
    - **Augmenter G** (GenDet's "feature augmenter", acting here in the code space): for each fake
      code z (detached: this branch trains G and the student, not the encoder), ε ~ N(0, I) and
      δ = ``augment_radius``·tanh(G([z, ε])) with G = ``Linear(2·code_dim→augmenter_hidden)–GELU–
      Linear(→code_dim)``; the augmented code is standardise(z + GRL(δ)). The bound on δ keeps
      augmented fakes near the fake they come from (*our choice*).

    Losses (``get_losses`` returns each by name and ``overall`` = Σ ``weights[name]``·term):

    - ``reconstruction``: mean over the batch of ‖x̂ − x‖²/D.
    - ``real_discrepancy``: mean of d over reals (student mimics teacher).
    - ``fake_hinge``: mean over fakes of max(0, m − d), m = ``margin`` (default 2: the student's
      output on a fake must be at least uncorrelated with the teacher's, ρ ≤ 0).
    - ``augmented_hinge``: the same hinge on the augmented fakes. The adversarial game
      min_S max_G L_aug (G is trained to *reduce* the fake discrepancy, S to keep it large) is run
      with a gradient-reversal layer on δ: one backward pass gives S the gradient ∇_S L_aug and G
      the gradient −λ∇_G L_aug (λ = ``grl_lambda``), so one optimiser step is one simultaneous
      gradient-descent (S) / gradient-ascent (G) step of the min-max problem, i.e. GenDet's
      alternating updates with both players moved at once. G gets gradient only from augmented
      fakes still inside the margin (d < m), the ones it can still push towards the reals.
    - ``compactness`` (the anomaly-aware term): mean over reals of ‖z − c‖²/code_dim, c the
      running mean of real codes (an EMA buffer, momentum ``center_momentum``, initialised with the
      first batch mean of real codes, updated after the loss in training mode only; it is saved
      in checkpoints). c is a constant in the loss (Deep SVDD style); the reconstruction term keeps
      the codes from collapsing.
    - ``teacher_bce``: BCE of the teacher head (0 with ``teacher: frozen``).
    - ``calibration``: BCE of the calibrated logit computed on the *detached* discrepancy, so it
      trains only the calibration (Platt scaling); the representation is shaped by the terms above.

    Who learns from what (one optimiser over all trainable parameters, *our choice*: end to end):
    encoder ← reconstruction, real_discrepancy, fake_hinge, compactness, teacher_bce; decoder ←
    reconstruction; student ← the three discrepancy terms; G ← augmented_hinge (reversed);
    teacher and its head ← teacher_bce only; calibration (θ, τ) ← calibration only.

    Score: ``cls`` = softplus(θ)·(d − τ), a learned affine map of the discrepancy with a positive
    slope (so a larger discrepancy always means a larger P(fake)); τ starts at m/2 and softplus(θ)
    at 4/m. No class weights are used (``class_counts`` is ignored); the decision threshold is
    chosen on the validation split by the trainer (EER). Optimiser
    (``configs/detectors/rdaa.yaml``): neither the abstract nor our reading of GenDet fixes one
    for this head; AdamW, lr 1e-4, weight decay 1e-4, cosine schedule — the usual setting for a
    small transformer head on frozen CLIP features.

    Args:
        backbone: backbone config (the CLIP ViT-L/14 ``proj`` feature bank of ``spcup``).
        code_dim: size of the autoencoder code (150 in the abstract).
        ae_hidden: width of the autoencoder's hidden layer.
        num_tokens: tokens the code is projected into for the transformers.
        token_dim: width of a token.
        heads: attention heads (must divide ``token_dim``).
        teacher_depth, student_depth: encoder layers of the teacher and the student.
        mlp_ratio: width of the transformer MLP as a multiple of ``token_dim``.
        dropout: dropout inside the transformers.
        teacher: ``trained`` (BCE head trained alongside, default) or ``frozen`` (random, fixed).
        margin: hinge margin m on the fake discrepancy, in (0, 4].
        augment_radius: bound on each entry of G's shift of a (standardised) code; >= 0.
        augmenter_hidden: width of G's hidden layer.
        grl_lambda: gradient-reversal scale λ >= 0 (G's step size relative to the student's).
        center_momentum: EMA momentum of the real-code centre, in [0, 1).
        weights: weight of each loss term by name (missing names keep their defaults:
            reconstruction 1, real_discrepancy 1, fake_hinge 1, augmented_hinge 0.5,
            compactness 0.1, teacher_bce 1, calibration 1).
    """

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
        shape = dict(
            code_dim=code_dim,
            num_tokens=num_tokens,
            token_dim=token_dim,
            heads=heads,
            mlp_ratio=mlp_ratio,
            dropout=dropout,
        )
        self.teacher = token_transformer(depth=teacher_depth, **shape)
        self.student = token_transformer(depth=student_depth, **shape)
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
        """G's augmented copies of the fake codes (the codes detached, G's shift through the GRL).

        Where selecting rows costs nothing (:func:`selects_on_host`: the CPU) only the fakes
        are augmented. On an accelerator selecting would need a host read of the labels (the
        shape of ``code[fake]`` is known only after it), so every row is augmented and the loss
        weights the fakes only. The noise of each row is drawn either way, so both give the
        same values; G learns from the fake rows alone.
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
        """``cls``, ``prob``, ``feat`` (the code), ``discrepancy`` and the loss inputs.

        Also ``recon_error`` (per-sample reconstruction MSE), ``teacher_cls`` (teacher head logit,
        ``teacher: trained`` only) and, in training mode when ``data_dict`` has labels,
        ``augmented_discrepancy`` (one value per sample: the discrepancy of G's augmented copy of
        it; the loss uses the fakes' only, and reals may hold 0). The codes and their augmented
        copies go through the teacher and the student together, as one batch.
        """
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
        """Check the run's ``loss`` section: rdaa's objective is fixed by the method.

        Only ``{name: rdaa}`` (or no section) is accepted; the weights of its terms are detector
        options (``detector.weights``). ``class_counts`` is not used (no class weighting).
        """
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
        """The terms and ``overall``, as weighted means over the batch (no host read: masks are
        weights, so a batch without reals or fakes gives 0 for their terms, not an error)."""
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
        """c ← the real-code mean of the first batch that has reals (a device-side choice)."""
        start = has_real & ~self.center_ready
        self.center.copy_(torch.where(start, real_mean, self.center))
        self.center_ready.logical_or_(has_real)

    @torch.no_grad()
    def _update_center(self, real_mean: torch.Tensor, has_real: torch.Tensor) -> None:
        """c ← μ·c + (1 − μ)·mean(real codes of the batch), for a batch with reals."""
        moved = self.center * self.center_momentum + real_mean * (1.0 - self.center_momentum)
        self.center.copy_(torch.where(has_real, moved, self.center))


def selects_on_host(tensor: torch.Tensor) -> bool:
    """Whether boolean-mask selection on ``tensor`` is free: on the CPU the data is already on the
    host; elsewhere the result's size must be read back from the device (a sync)."""
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
