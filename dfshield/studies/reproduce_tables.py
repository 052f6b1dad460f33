"""The published tables that ``dfshield reproduce`` re-runs, as data (docs/reproduce.md).

Over 450 lines because it is data, the published tables transcribed; the logic is in the
``reproduce_plan``, ``_splits``, ``_run`` and ``_report`` modules beside it. Values are copied as
printed (``-``: none, ``mean±std``: several seeds).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# -- the schema --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One method: a ``detector`` with ``--set``-style ``sets``; ``id`` names its folder."""

    id: str
    label: str
    detector: str
    sets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Column:
    """A cell kind: ``metric`` (``compute_metrics`` key; ``*_real``: real positive) on ``test``."""

    header: str
    metric: str
    test: str = "test"


@dataclass(frozen=True)
class TestSet:
    """A column's test: ``datasets`` (empty: the protocol's) at ``level`` (None: the protocol's)."""

    datasets: tuple[str, ...] = ()
    level: str | None = None


@dataclass(frozen=True)
class Subset:
    """Videos kept of one dataset, ``(real, fake)`` per split, chosen by video (DDLN's Table 1)."""

    dataset: str
    train: tuple[int, int]
    test: tuple[int, int]


@dataclass(frozen=True)
class Section:
    """One published table: its rows, ``published`` values per row id (whitespace-separated), the
    data ``subset``, and per-row ``sets`` the paper changes for this table."""

    name: str
    published: Mapping[str, str]
    subset: Subset | None = None
    sets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Table:
    """A reproducible published table; ``scale`` turns fractions into the paper's unit (100:
    percent), ``best_of_runs`` adds the best run (DDLN's Tables 5-11)."""

    name: str
    paper: str
    title: str
    protocol: str
    rows: tuple[Row, ...]
    columns: tuple[Column, ...]
    sections: tuple[Section, ...]
    tests: Mapping[str, TestSet] = field(default_factory=lambda: {"test": TestSet()})
    seeds: int = 1
    best_of_runs: bool = False
    scale: float = 1.0
    decimals: int = 4
    differences: tuple[str, ...] = ()
    not_reproduced: tuple[str, ...] = ()


# -- SP Cup 2025 -------------------------------------------------------------------------------

SPCUP = "SP Cup 2025 (Robust AI-generated face detection with imbalanced data)"
_VS_CVAR = (
    "{name: cvar, alpha: 0.9, base: {name: vs, zeta: {fake: 1.2, real: 0.8}, "
    "delta: {fake: 0.05, real: -0.05}, weights: balanced}}"
)


def _spcup_loss(first: str, gamma: float) -> str:
    """``--set`` of spcup's loss: ``first`` + γ·AUC (docs/methods.md §1)."""
    return f"loss.terms=[{first}, {{name: auc_logistic, weight: {gamma}}}]"


_SPCUP_COLUMNS = (
    Column("AUC", "auc"),
    Column("Accuracy", "acc"),
    Column("F1", "f1_macro"),
    Column("Precision", "precision_macro"),
    Column("Recall", "recall_macro"),
)
_DFWILD = (
    "DFWild-Cup's own lists (Table I: 42,690 real / 219,470 fake training images, 1,548 / 1,524 "
    "test images) are replaced by DeepfakeBench's splits of the eight datasets, with each "
    "dataset's test videos removed from its train and val splits; filter the JSONs with the "
    "challenge's lists for the exact sets (docs/reproduce.md).",
    "Frames: 32 evenly spaced face crops a video from DeepfakeBench's preprocessing, not the "
    "challenge's images.",
    "The paper grid-searched α and γ on validation over {0.1, …, 1.0}; we run the values the "
    "table states, or else configs/detectors/spcup.yaml's (α 0.9, γ 0.6).",
    "F1, Precision and Recall are macro averages over both classes, as in the paper.",
    "ACC, F1, Precision and Recall are at the threshold 0.5 (the paper does not say which); each "
    "run's results.md also shows ACC@val-EER, at the validation-EER threshold its checkpoint "
    "stores and dfshield predict uses.",
)
_SPCUP_TABLES = (
    Table(
        name="spcup-table2",
        paper=SPCUP,
        title="Table II: test set performance comparison",
        protocol="dfwild_cup",
        rows=(
            Row("clip_linear", "Baseline 1 [21]", "clip_linear"),
            Row("robust_clip", "Baseline 2 [15]", "robust_clip"),
            Row("spcup", "Ours", "spcup"),
        ),
        columns=(
            Column("ACC", "acc"),
            Column("AUC", "auc"),
            Column("F1", "f1_macro"),
            Column("Precision", "precision_macro"),
            Column("Recall", "recall_macro"),
            Column("EER", "eer"),
        ),
        sections=(
            Section(
                "Table II",
                {
                    "clip_linear": "0.868815 0.96418 0.868530 0.873008 0.869232 0.108268",
                    "robust_clip": "0.906901 0.964797 0.906868 0.907149 0.906809 0.096457",
                    "spcup": "0.913737 0.969067 0.913693 0.914162 0.913617 0.093176",
                },
            ),
        ),
        differences=(
            *_DFWILD,
            "Baseline 1 (clip_linear) uses spcup's backbone (ViT-L/14 OpenAI, 768-d projected "
            "features) as the paper's baseline did; clip_linear_cozzolino.yaml is the released "
            "variant.",
        ),
    ),
    Table(
        name="spcup-table3",
        paper=SPCUP,
        title="Table III: ablation of the loss composition",
        protocol="dfwild_cup",
        rows=(
            Row("ce_auc", "CE + γ AUC (γ = 0.9)", "spcup", (_spcup_loss("{name: bce}", 0.9),)),
            Row(
                "cvar_auc",
                "CVaR + γ AUC (γ = 0.9) (Ours)",
                "spcup",
                (_spcup_loss(_VS_CVAR, 0.9),),
            ),
        ),
        columns=_SPCUP_COLUMNS,
        sections=(
            Section(
                "Table III",
                {
                    "ce_auc": "0.964737 0.901367 0.901338 0.901549 0.901287",
                    "cvar_auc": "0.969067 0.913737 0.913693 0.914162 0.913617",
                },
            ),
        ),
        differences=(
            *_DFWILD,
            "The table labels both rows γ = 0.9 and we run γ = 0.9; the paper's implementation "
            "details give γ = 0.6 and its 'Ours' figures equal Table II's.",
        ),
    ),
    Table(
        name="spcup-table4",
        paper=SPCUP,
        title="Table IV: ablation of the MLP depth",
        protocol="dfwild_cup",
        rows=tuple(
            Row(f"layers_{n}", f"{n} Layers", "spcup", (f"detector.layers={n}",))
            for n in (3, 6, 9, 12, 15)
        ),
        columns=_SPCUP_COLUMNS,
        sections=(
            Section(
                "Table IV",
                {
                    "layers_3": "0.9530610999 0.8916015625 0.8915974158 0.8915918935 0.8916076624",
                    "layers_6": "0.954188624 0.5960286458 0.5217020215 0.7708510168 0.599144947",
                    "layers_9": "0.952866538 0.4993489583 0.3387342288 0.7488569562 0.5032299742",
                    "layers_12": "0.949836424 0.500976563 0.3422753835 0.7492639843 0.5048449612",
                    "layers_15": "0.944614845 0.4996744792 0.3394440275 0.7489382555 0.5035529716",
                },
            ),
        ),
        differences=(
            *_DFWILD,
            "Depth: 'N Layers' is read as N hidden blocks [Linear, BatchNorm, ReLU, Dropout] plus "
            "the output Linear (detector.layers = N, so N + 1 Linear layers; 3 is spcup.yaml's "
            "default). The paper's §III-A 'three fully connected layers' could also mean three "
            "Linear layers in all (two hidden blocks); we chose the reading under which its "
            "default architecture is the 3-layer row.",
            "The paper's 3-layer row (AUC 0.9531) differs from its Table II (0.9691): the "
            "ablations were run under another set-up the paper does not describe; we run "
            "spcup.yaml with only the depth changed.",
        ),
    ),
    Table(
        name="spcup-table5",
        paper=SPCUP,
        title="Table V: performance across γ (transposed: one row per γ)",
        protocol="dfwild_cup",
        rows=tuple(
            Row(f"gamma_{g}", f"γ = {g}", "spcup", (_spcup_loss(_VS_CVAR, g),))
            for g in (0.5, 0.6, 0.7, 0.8, 0.9)
        ),
        columns=_SPCUP_COLUMNS,
        sections=(
            Section(
                "Table V",
                {
                    "gamma_0.5": "0.941155 0.893555 0.893430 0.894765 0.893342",
                    "gamma_0.6": "0.962341 0.892578 0.892574 0.892804 0.892678",
                    "gamma_0.7": "0.957956 0.902344 0.902309 0.902588 0.902251",
                    "gamma_0.8": "0.941373 0.897135 0.897061 0.897784 0.896982",
                    "gamma_0.9": "0.955130 0.907552 0.907492 0.908138 0.907409",
                },
            ),
        ),
        differences=(
            *_DFWILD,
            "The paper prints Table V with one column per γ; here each γ is a row. Its γ = 0.9 "
            "figures differ from Table III's (another set-up the paper does not describe).",
        ),
    ),
)


# -- DDLN --------------------------------------------------------------------------------------

DDLN = "DDLN (Pu et al., Learning a deep dual-level network for robust DeepFake detection, 2022)"
_WMW = "loss.terms=[{{name: bce}}, {{name: auc_wmw, gamma: {}, p_exp: 2.0}}]"
_DDLN_LEVELS = (
    Column("video ACC", "video_acc"),
    Column("video AUC", "video_auc"),
    Column("video F1", "video_f1"),
    Column("video Precision", "video_precision"),
    Column("video Recall", "video_recall"),
    Column("frame ACC", "acc"),
    Column("frame AUC", "auc"),
    Column("frame F1", "f1"),
    Column("frame Precision", "precision"),
    Column("frame Recall", "recall"),
)
_DDLN_BASELINES = (
    "DSP-FWA [5]",
    "Meso4 [2]",
    "MesoInception4 [2]",
    "Xception [3]",
    "Capsule [6]",
    "CNN+LSTM",
    "CNN+GRU",
)
_DDLN = (
    "Faces: DeepfakeBench's 256×256 crops (scale 1.3) resized to 64×64; the paper cropped "
    "with dlib.",
    "Clips: 32 evenly spaced frames a video (all DeepfakeBench stores) instead of T = 300.",
    "Backbone: ResNet-50 with timm's ImageNet weights; batch size 16 clips, the paper's for its "
    "video-level methods (§4.2.3).",
)
_BEST_OF_5 = (
    "The paper reports the best of 5 models (§4.2.4): we show our best run (by the row's first "
    "cell on each test set) and the mean ± std over the runs, both labelled."
)
_DDLN_SEEDS = (
    "Training runs (five unless --seeds says otherwise) with seeds train.seed, train.seed + 1, "
    "… (the paper's seeds are not published).",
)
_NO_VALIDATION = (
    "Celeb-DF and DFDC (and DDLN's subsets) have no validation split apart from the test split: "
    "the checkpoint is selected on data.val_fraction (0.2) of the training videos, held out by "
    "video and class (the paper tuned hyper-parameters on FF++'s validation split); "
    "DeepfakeBench's Celeb-DF JSON also lists the test videos under train, which we remove.",
)
#: the video-level classifier alone: its frame head is untrained, so selection is on video AUC
_VIDEO_ONLY = ("detector.beta=1.0", "detector.alpha=1.0", "train.selection_metric=video_auc")
_IMBALANCED_ROWS = (
    Row("no_auc", "Ours w/o AUC loss", "ddln", ("detector.alpha=1.0",)),
    Row("focal", "Ours w Focal Loss [27]", "ddln", ("detector.alpha=1.0",)),
    Row("default", "Ours (default γ)", "ddln"),
    *(Row(f"gamma_{g}", f"Ours (γ = {g})", "ddln", (_WMW.format(g),)) for g in (0.1, 0.3, 0.6)),
)
#: "Ours w Focal Loss": the focal loss in place of BCE, with §4.4.1–4.4.3's α (weight of fakes)
_FOCAL = "loss.terms=[{{name: focal, alpha: {}}}, {{name: auc_wmw, gamma: 0.15, p_exp: 2.0}}]"
#: DFDC-100/200 with the AUC loss: every batch holds a fake (and a real), §4.4.5
_A_FAKE_A_BATCH = ("data.min_per_class_per_batch=1",)
_DDLN_REAL_POSITIVE = tuple(
    Column(c.header, c.metric + "_real")
    if c.header.split()[-1] in ("F1", "Precision", "Recall")
    else c
    for c in _DDLN_LEVELS
)

_DDLN_TABLES = (
    Table(
        name="ddln-table2",
        paper=DDLN,
        title="Table 2: FaceForensics++ (DeepFakes, c23)",
        protocol="ddln_ffpp",
        rows=(Row("ddln", "Ours", "ddln"),),
        columns=_DDLN_LEVELS,
        sections=(
            Section(
                "Table 2",
                {
                    "ddln": "95.6±0.29 99.0±0.11 93.2±0.63 94.3±0.33 98.2±0.67 "
                    "94.8±0.25 98.4±0.23 95.9±0.73 94.7±0.53 99.4±0.64"
                },
            ),
        ),
        seeds=5,
        scale=100.0,
        decimals=1,
        differences=(
            *_DDLN,
            *_DDLN_SEEDS,
            "The paper does not say which class is positive for F1/Precision/Recall; ours are "
            "for the fake class.",
        ),
        not_reproduced=_DDLN_BASELINES,
    ),
    Table(
        name="ddln-table3",
        paper=DDLN,
        title="Table 3: Celeb-DF (v2)",
        protocol="ddln_celeb",
        rows=(Row("ddln", "Ours", "ddln"),),
        columns=_DDLN_LEVELS,
        sections=(
            Section(
                "Table 3",
                {
                    "ddln": "96.5±0.19 98.9±0.45 95.6±0.34 96.4±0.69 98.6±0.72 "
                    "96.2±0.26 97.4±0.29 94.3±0.56 98.2±0.58 98.8±0.66"
                },
            ),
        ),
        seeds=5,
        scale=100.0,
        decimals=1,
        differences=(
            *_DDLN,
            *_DDLN_SEEDS,
            *_NO_VALIDATION,
            "The paper does not say which class is positive for F1/Precision/Recall; ours are "
            "for the fake class.",
        ),
        not_reproduced=_DDLN_BASELINES,
    ),
    Table(
        name="ddln-table5",
        paper=DDLN,
        title="Table 5: trained on FF++ c23, tested on raw, c23 and c40",
        protocol="ddln_ffpp",
        rows=(Row("ddln", "Ours", "ddln"),),
        columns=tuple(
            Column(f"{header} {level}", metric, level)
            for header, metric in (("video AUC", "video_auc"), ("frame AUC", "auc"))
            for level in ("raw", "c23", "c40")
        ),
        tests={"raw": TestSet(level="raw"), "c23": TestSet(), "c40": TestSet(level="c40")},
        sections=(Section("Table 5", {"ddln": "99.2 99.4 95.4 98.9 99.2 95.2"}),),
        seeds=5,
        best_of_runs=True,
        scale=100.0,
        decimals=1,
        differences=(
            *_DDLN,
            *_DDLN_SEEDS,
            _BEST_OF_5,
            "Each test level trains its own model (same seed, same data, so the same model on "
            "one machine): the comparison study tests one split a run.",
        ),
        not_reproduced=(
            "DSP-FWA",
            "Meso4",
            "MesoInception",
            "Xception",
            "Capsule",
            "CNN+LSTM",
            "CNN+GRU",
        ),
    ),
    Table(
        name="ddln-table6",
        paper=DDLN,
        title="Table 6: ablation on Celeb-DF (FLC, VLC, TLM, AUC loss)",
        protocol="ddln_celeb",
        rows=(
            Row(
                "flc",
                "CNN +FLC",
                "ddln",
                ("detector.temporal=false", "detector.beta=0.0", "detector.alpha=1.0"),
            ),
            Row(
                "flc_auc",
                "CNN +FLC,+AUC loss",
                "ddln",
                ("detector.temporal=false", "detector.beta=0.0"),
            ),
            Row("vlc", "CNN +VLC", "ddln", ("detector.temporal=false", *_VIDEO_ONLY)),
            Row("vlc_tlm", "CNN +VLC,+TLM", "ddln", _VIDEO_ONLY),
            Row("vlc_tlm_flc", "CNN +VLC,+TLM,+FLC", "ddln", ("detector.alpha=1.0",)),
            Row("full", "CNN +VLC,+TLM,+FLC,+AUC loss", "ddln"),
        ),
        columns=(
            Column("video ACC", "video_acc"),
            Column("video AUC", "video_auc"),
            Column("frame ACC", "acc"),
            Column("frame AUC", "auc"),
        ),
        sections=(
            Section(
                "Table 6",
                {
                    "flc": "- - 74.5 68.2",
                    "flc_auc": "- - 81.0 84.9",
                    "vlc": "66.1 52.0 - -",
                    "vlc_tlm": "91.9 89.9 - -",
                    "vlc_tlm_flc": "97.2 96.0 94.9 93.4",
                    "full": "96.6 99.4 95.8 98.3",
                },
            ),
        ),
        seeds=5,
        best_of_runs=True,
        scale=100.0,
        decimals=1,
        differences=(
            *_DDLN,
            *_DDLN_SEEDS,
            *_NO_VALIDATION,
            "The switches are options of ddln: FLC alone = detector.beta 0, VLC alone = "
            "detector.beta 1, no TLM = detector.temporal false, no AUC loss = detector.alpha 1. "
            "Rows without the frame-level classifier select their checkpoint on video AUC.",
            _BEST_OF_5,
        ),
    ),
    Table(
        name="ddln-tables7-11",
        paper=DDLN,
        title="Tables 7–11: imbalanced subsets of Celeb-DF and DFDC (Table 1)",
        protocol="ddln_imbalanced",
        rows=_IMBALANCED_ROWS,
        columns=_DDLN_REAL_POSITIVE,
        sections=(
            Section(
                "Table 7: Celeb-30",
                {
                    "no_auc": "96.2 70.4 98.0 96.2 98.3 95.7 72.1 98.0 95.3 98.3",
                    "focal": "97.1 72.4 92.4 96.6 98.9 91.0 62.1 97.8 96.7 98.8",
                    "default": "97.2 76.9 98.6 96.7 100 95.1 78.0 98.6 96.7 100",
                    "gamma_0.1": "97.2 73.7 98.6 96.7 100 95.1 78.3 98.6 96.7 100",
                },
                Subset("Celeb-DF-v2", train=(712, 23), test=(178, 5)),
                {"focal": (_FOCAL.format(0.6),)},
            ),
            Section(
                "Table 8: Celeb-20",
                {
                    "no_auc": "96.2 90.1 98.1 95.4 98.8 95.7 87.7 98.1 96.2 98.8",
                    "focal": "95.7 94.9 98.2 97.2 99.0 95.7 92.6 98.3 97.3 99.5",
                    "default": "95.7 95.2 97.8 95.7 100 95.7 92.7 97.8 95.7 100",
                    "gamma_0.6": "95.7 95.4 97.8 95.7 100 95.7 92.9 97.8 95.7 100",
                },
                Subset("Celeb-DF-v2", train=(712, 35), test=(178, 8)),
                {"focal": (_FOCAL.format(0.6),)},
            ),
            Section(
                "Table 9: Celeb-10",
                {
                    "no_auc": "88.2 87.3 92.9 87.9 91.6 88.9 88.2 92.9 88.2 91.6",
                    "focal": "90.3 90.5 94.3 93.4 96.4 90.0 90.3 95.4 92.5 95.7",
                    "default": "91.3 92.5 95.4 91.2 100 91.3 93.2 95.4 91.2 100",
                    "gamma_0.3": "91.3 93.5 95.4 91.2 100 91.3 91.4 95.4 91.2 100",
                },
                Subset("Celeb-DF-v2", train=(712, 71), test=(178, 17)),
                {"focal": (_FOCAL.format(0.3),)},
            ),
            Section(
                "Table 10: DFDC-100",
                {
                    "no_auc": "98.7 65.6 98.5 99.3 98.9 99.1 65.5 98.9 98.8 100",
                    "default": "98.7 79.9 99.1 99.1 100 99.1 81.6 99.0 99.2 100",
                },
                Subset("DFDC", train=(500, 5), test=(300, 3)),
                {"default": _A_FAKE_A_BATCH},
            ),
            Section(
                "Table 11: DFDC-200",
                {
                    "no_auc": "92.9 62.6 96.6 99.4 94.2 91.3 62.2 96.3 98.7 91.7",
                    "default": "98.9 85.6 98.6 99.0 100 98.5 81.4 99.3 98.6 100",
                },
                Subset("DFDC", train=(1000, 5), test=(600, 3)),
                {"default": _A_FAKE_A_BATCH},
            ),
        ),
        seeds=5,
        best_of_runs=True,
        scale=100.0,
        decimals=1,
        differences=(
            *_DDLN,
            *_DDLN_SEEDS,
            *_NO_VALIDATION,
            "Subsets: exactly Table 1's video counts, chosen by video with a generator seeded by "
            "train.seed (one subset for all training seeds), of which the validation videos are "
            "held out from training; the paper's own videos are not published. Celeb-DF's "
            "training videos are all videos not in its test list.",
            "F1, P and R are for the real class: the paper's majority-class rows (AUC 50, R 100, "
            "P = the share of reals) show that real was its positive class here.",
            "'Ours w Focal Loss' is read as the focal loss (γ 2; α 0.6 on Celeb-30 and Celeb-20, "
            "0.3 on Celeb-10, §4.4.1–4.4.3, read as the weight of the fakes) in place of BCE + "
            "AUC loss; DFDC-100/200 with the AUC loss draw batches holding at least one fake and "
            "one real (data.min_per_class_per_batch 1, §4.4.5); "
            "'default γ' is the WMW margin 0.15.",
            _BEST_OF_5,
        ),
        not_reproduced=(*_DDLN_BASELINES, "Xception w AUC loss", "BBN [28]"),
    ),
)


# -- RDAA --------------------------------------------------------------------------------------

RDAA = "RDAA (Reduced-dimensional anomaly-aware detector, WiML 2025 abstract)"
KNOWN_GENERATORS = ("ProGAN", "CycleGAN", "BigGAN", "StyleGAN", "GauGAN", "StarGAN", "Deepfakes")
UNSEEN_GENERATORS = ("SITD", "SAN", "CRN", "IMLE", "Glide-27", "Glide-50", "Glide-100")
_GENERATORS = KNOWN_GENERATORS + UNSEEN_GENERATORS

_RDAA_TABLES = (
    Table(
        name="rdaa-generators",
        paper=RDAA,
        title="Per-generator results before and after dimensionality reduction (DR)",
        protocol="rdaa_generators",
        rows=(
            Row(
                "before_dr",
                "Before DR",
                "rdaa",
                ("detector.code_dim=768", "detector.ae_hidden=768"),
            ),
            Row("after_dr", "After DR", "rdaa"),
        ),
        columns=tuple(Column(name, "auc", name) for name in _GENERATORS),
        tests={name: TestSet(datasets=(name,)) for name in _GENERATORS},
        sections=(
            Section(
                "Known and unseen generators",
                {
                    "before_dr": "95.23 94.19 91.03 95.03 90.27 90.27 82.18 "
                    "65.83 68.34 53.11 54.22 90.43 90.98 91.27",
                    "after_dr": "99.84 98.49 98.57 99.30 98.13 99.05 89.12 "
                    "71.67 70.78 62.58 73.53 99.67 99.51 99.18",
                },
            ),
        ),
        scale=100.0,
        decimals=2,
        differences=(
            "The abstract does not name its metric; we report AUC (%).",
            "'Before DR' is rdaa with a 768-d code and no bottleneck (detector.code_dim 768, "
            "ae_hidden 768); the abstract does not say how its 'before' model was built.",
            "Training data, epochs (20) and optimiser are not in the abstract; every choice is "
            "listed in configs/detectors/rdaa.yaml and RDAADetector's docstring.",
            "Glide-27, Glide-50 and Glide-100 are presumably UniversalFakeDetect's glide_100_27, "
            "glide_50_27 and glide_100_10; the abstract names them no further.",
            "Each generator trains its own model (same seed, same data, so the same model on one "
            "machine): the comparison study tests one split a run.",
        ),
    ),
)

TABLES: dict[str, Table] = {t.name: t for t in (*_SPCUP_TABLES, *_DDLN_TABLES, *_RDAA_TABLES)}
