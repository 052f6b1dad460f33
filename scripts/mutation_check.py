"""Mutation check: does the test suite notice when the paper's math is broken?

Each mutation changes one line of the losses, SAM/ASAM, the latent augmentation or the batched
(stacked) training step of ``dfshield imbalance``; the tests that cover that code then run
against the mutated copy. A mutation the tests do not notice *survives*. None may survive
except those listed as equivalent (they change the code, not what it computes; the reason is
printed), and an "equivalent" one that the tests do notice is reported too (it was not
equivalent).

The work happens in a temporary copy of the repository (``dfshield``, ``tests``, ``configs``,
``docs``, ``pyproject.toml``): the checkout is never modified, even when interrupted.

Usage: ``python scripts/mutation_check.py [-k SUBSTRING]`` (``make mutation-check``): about 5-10
minutes on two cores. Not part of ``make test``. Exit status 1 when a non-equivalent mutation
survives or an equivalent one is killed, 2 when the unmutated tests fail or a mutation's line is
not found.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("dfshield", "tests", "configs", "docs", "pyproject.toml", "README.md")

LOSSES = "tests/losses/test_losses.py"
OPTIM = "tests/optimizers/test_optimizers.py"
INTEGRATION = "tests/integrations/test_deepfakebench.py::"
LATENT = (
    "tests/backbones/test_clip.py::test_latent_augmentation_follows_the_formula",
    INTEGRATION + "test_latent_mix_and_the_bank_draw_the_same_noisy_copies",
    INTEGRATION + "test_latent_augmentation_has_the_same_statistics_in_forward_and_in_the_bank",
    "tests/detectors/test_latent_augment.py",
    "tests/engine/test_batch_sources.py",
)
STACKED = ("tests/engine/test_stacked_head.py",)


@dataclass(frozen=True)
class Mutation:
    """Replace ``old`` (found exactly once in ``path``) by ``new``; run ``tests`` (``-k keyword``).
    ``equivalent``: why the mutated code computes the same (None: it must be killed)."""

    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]
    keyword: str | None = None
    equivalent: str | None = None


M = Mutation
MUTATIONS = (
    # -- losses (docs/methods.md §7) --------------------------------------------------------
    M(
        "bce: labels flipped",
        "dfshield/losses/bce.py",
        "binary_cross_entropy_with_logits(logits, labels,",
        "binary_cross_entropy_with_logits(logits, 1 - labels,",
        (LOSSES,),
        "bce",
    ),
    M(
        "focal: modulating factor on p_t instead of 1 - p_t",
        "dfshield/losses/focal.py",
        "torch.exp(self.gamma * F.logsigmoid(-margin))",
        "torch.exp(self.gamma * F.logsigmoid(margin))",
        (LOSSES,),
        "focal",
    ),
    M(
        "focal: α on the reals instead of the fakes",
        "dfshield/losses/focal.py",
        "by_class(labels, self.alpha, 1.0 - self.alpha)",
        "by_class(labels, 1.0 - self.alpha, self.alpha)",
        (LOSSES,),
        "focal",
    ),
    M(
        "focal: the γ = 0 shortcut taken always",
        "dfshield/losses/focal.py",
        "if self.gamma != 0.0:",
        "if True:",
        (LOSSES,),
        "focal",
        equivalent="at γ = 0 the factor is exp(0 · log σ(−s·h)) = 1 exactly (logits are finite)",
    ),
    M(
        "vs: additive margin Δ sign flipped",
        "dfshield/losses/vs.py",
        "softplus(delta - zeta * sign * logits)",
        "softplus(-delta - zeta * sign * logits)",
        (LOSSES,),
        "vs",
    ),
    M(
        "vs: class weights swapped",
        "dfshield/losses/vs.py",
        'by_class(labels, self.weights["fake"], self.weights["real"])',
        'by_class(labels, self.weights["real"], self.weights["fake"])',
        (LOSSES,),
        "vs",
    ),
    M(
        "cvar exact: boundary sample at full weight",
        "dfshield/losses/cvar.py",
        "total = total + fraction * top[whole]",
        "total = total + top[whole]",
        (LOSSES,),
        "cvar",
    ),
    M(
        "cvar exact: divided by ⌈k⌉ instead of k",
        "dfshield/losses/cvar.py",
        "    return total / k",
        "    return total / n_top",
        (LOSSES,),
        "cvar",
    ),
    M(
        "cvar bisect: the slope test takes ≥",
        "dfshield/losses/cvar.py",
        "go_up = (values > mid).sum() > k",
        "go_up = (values > mid).sum() >= k",
        (LOSSES,),
        "cvar",
        equivalent=(
            "the counts differ only when #{ℓ > λ} = k, so k is an integer; the search then "
            "isolates ℓ_(k) instead of ℓ_(k+1), both minimisers, and the tied-share formula "
            "gives ℓ_(k) the weight 1/k either way: the same value and gradient"
        ),
    ),
    M(
        "cvar bisect: tied samples share the wrong remainder",
        "dfshield/losses/cvar.py",
        "weight = (1 - above.sum()",
        "weight = (1 + 0 * above.sum()",
        (LOSSES,),
        "cvar",
    ),
    M(
        "cvar bisect: the whole tie gets the share of one",
        "dfshield/losses/cvar.py",
        "tied_mean = torch.where(tied, losses, 0).sum() / tied.sum()",
        "tied_mean = torch.where(tied, losses, 0).sum()",
        (LOSSES,),
        "cvar",
    ),
    M(
        "auc: pairs oriented real minus fake",
        "dfshield/losses/auc.py",
        "diff = scores[:, None] - scores[None, :]",
        "diff = scores[None, :] - scores[:, None]",
        (LOSSES,),
        "auc or wmw or sqhinge",
    ),
    M(
        "auc: fake-fake pairs counted",
        "dfshield/losses/auc.py",
        "pairs = fake[:, None] * (1.0 - fake)[None, :]",
        "pairs = fake[:, None] * torch.ones_like(fake)[None, :]",
        (LOSSES,),
        "auc or wmw or sqhinge",
    ),
    M(
        "auc: empty-pair guard at 0.5",
        "dfshield/losses/auc.py",
        "pairs.sum().clamp_min(1.0)",
        "pairs.sum().clamp_min(0.5)",
        (LOSSES,),
        "auc or wmw or sqhinge",
        equivalent=(
            "the pair count is an integer: ≥ 1 it is unchanged, 0 means a zero numerator, "
            "so 0/1 and 0/0.5 are both 0"
        ),
    ),
    M(
        "auc_logistic: surrogate of the wrong sign",
        "dfshield/losses/auc.py",
        "lambda d: _checks.softplus(-d)",
        "lambda d: _checks.softplus(d)",
        (LOSSES,),
        "auc",
    ),
    M(
        "auc_wmw: margin added",
        "dfshield/losses/auc.py",
        "torch.relu(self.gamma - d).pow(self.p_exp)",
        "torch.relu(self.gamma + d).pow(self.p_exp)",
        (LOSSES,),
        "auc or wmw",
    ),
    M(
        "composite: first term unweighted",
        "dfshield/losses/composite.py",
        "total = weight * value if total is None",
        "total = value if total is None",
        (LOSSES,),
        "composite",
    ),
    # -- SAM / ASAM (§8.1) ------------------------------------------------------------------
    M(
        "sam: ε not normalised by ‖g‖",
        "dfshield/optimizers/sam.py",
        "1.0 / norm.clamp_min(tiny)",
        "1.0 + 0 * norm",
        (OPTIM,),
        "sam or asam",
    ),
    M(
        "sam: radius doubled",
        "dfshield/optimizers/sam.py",
        'factor = (inverse * group["rho"])',
        'factor = (inverse * group["rho"] * 2)',
        (OPTIM,),
        "sam or asam",
    ),
    M(
        "asam: step T·g instead of T²·g",
        "dfshield/optimizers/sam.py",
        "step = torch._foreach_mul(grads, torch._foreach_mul(scale, scale))",
        "step = torch._foreach_mul(grads, scale)",
        (OPTIM,),
        "asam",
    ),
    M(
        "asam: norm of g instead of T·g",
        "dfshield/optimizers/sam.py",
        "scaled = torch._foreach_mul(grads, scale)",
        "scaled = grads",
        (OPTIM,),
        "asam",
    ),
    M(
        "asam: η doubled",
        "dfshield/optimizers/sam.py",
        'torch._foreach_add_(scale, group["eta"])',
        'torch._foreach_add_(scale, 2 * group["eta"])',
        (OPTIM,),
        "asam",
    ),
    M(
        "sam: θ not restored after the closure path's second pass",
        "dfshield/optimizers/sam.py",
        "            _restore(originals)",
        "            originals = originals",
        (OPTIM,),
        "sam or asam",
    ),
    M(
        "sam: θ not restored by second_step",
        "dfshield/optimizers/sam.py",
        "        _restore(parameters)",
        "        parameters = parameters",
        (OPTIM,),
        "two_step",
    ),
    M(
        "sam: buffers not restored by second_step",
        "dfshield/optimizers/sam.py",
        "        _restore_buffers(buffers)",
        "        buffers = buffers",
        (OPTIM,),
        "two_step or batchnorm",
    ),
    # -- latent augmentation (§6) -----------------------------------------------------------
    M(
        "latent: σ dropped from the noise scale",
        "dfshield/detectors/latent_augment.py",
        "return features + scale * sigma * noise",
        "return features + scale * noise",
        LATENT,
    ),
    M(
        "latent: the bank's copies without noise",
        "dfshield/detectors/latent_augment.py",
        "return torch.cat([features, copies]), torch.cat([labels, labels])",
        "return torch.cat([features, features]), torch.cat([labels, labels])",
        LATENT,
    ),
    M(
        "latent: in-forward mix keeps every original",
        "dfshield/detectors/latent_augment.py",
        "generator=generator, device=features.device) < 0.5",
        "generator=generator, device=features.device) < 1.0",
        LATENT,
    ),
    M(
        "latent: a new draw in every forward (SAM's passes differ)",
        "dfshield/detectors/latent_augment.py",
        "if self._batch is None or self._batch() is not batch:",
        "if True:",
        LATENT,
    ),
    M(
        "latent: the detector's forward skips the mix",
        "dfshield/detectors/mlp_detector.py",
        "features = latent_mix(features, self.latent_beta, generator)",
        "features = features",
        LATENT,
    ),
    M(
        "latent: BankBatches returns the rows without their copies",
        "dfshield/engine/batch_sources.py",
        "return augmented[pick], augmented_labels[pick]",
        "return features, labels",
        LATENT,
    ),
    M(
        "latent: BankBatches keeps copy 0 only",
        "dfshield/engine/batch_sources.py",
        "pick = copy * len(rows) + torch.arange",
        "pick = 0 * copy * len(rows) + torch.arange",
        LATENT,
    ),
    # -- the batched (stacked) path of dfshield imbalance (§8.1, batched runs) ---------------
    M(
        "stacked: one SAM norm across all runs",
        "dfshield/engine/stacked_head.py",
        "norm = torch.linalg.vector_norm(scaled, dim=1, keepdim=True)",
        "norm = torch.linalg.vector_norm(scaled, dim=(0, 1), keepdim=True)",
        STACKED,
    ),
    M(
        "stacked: ASAM step T·g instead of T²·g",
        "dfshield/engine/stacked_head.py",
        "scaled, move = grad * scale, grad * scale.square()",
        "scaled, move = grad * scale, grad * scale",
        STACKED,
    ),
    M(
        "stacked: θ not restored after SAM's second pass",
        "dfshield/engine/stacked_head.py",
        "self.flat.copy_(saved)",
        "self.flat.add_(0 * saved)",
        STACKED,
    ),
    M(
        "stacked: runs' weights swapped",
        "dfshield/engine/stacked_head.py",
        "x = torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))",
        "x = torch.baddbmm(bias.unsqueeze(1), x, weight.flip(0).transpose(1, 2))",
        STACKED,
    ),
    M(
        "stacked: Adam's second moment of |g|",
        "dfshield/engine/stacked_head.py",
        "(1 - self.beta2) * grad.square()",
        "(1 - self.beta2) * grad.abs()",
        STACKED,
    ),
    M(
        "stacked: an inactive run is stepped too",
        "dfshield/engine/stacked_head.py",
        "param.copy_(torch.where(keep, updated, param))",
        "param.copy_(updated)",
        STACKED,
    ),
)


def copy_repository(target: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=ignore)
        elif source.is_file():
            shutil.copy2(source, target / name)


def run_tests(copy: Path, tests: tuple[str, ...], keyword: str | None) -> tuple[int, float]:
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    if keyword:
        command += ["-k", keyword]
    env = {**os.environ, "PYTHONPATH": str(copy), "OMP_NUM_THREADS": "1"}
    start = time.monotonic()
    done = subprocess.run(command, cwd=copy, env=env, capture_output=True, timeout=600)
    return done.returncode, time.monotonic() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", dest="only", help="run only the mutations whose name contains this")
    args = parser.parse_args(argv)
    mutations = [m for m in MUTATIONS if not args.only or args.only in m.name]
    with tempfile.TemporaryDirectory(prefix="dfshield-mutants-") as folder:
        copy = Path(folder)
        copy_repository(copy)
        baseline = {(m.tests, m.keyword) for m in mutations}
        for tests, keyword in sorted(baseline, key=str):
            code, _ = run_tests(copy, tests, keyword)
            if code != 0:
                print(f"the unmutated tests fail ({' '.join(tests)} -k {keyword}): fix them first")
                return 2
        survived, wrongly_equivalent = [], []
        for number, mutation in enumerate(mutations, 1):
            path = copy / mutation.path
            original = path.read_text(encoding="utf-8")
            if original.count(mutation.old) != 1:
                print(f"{mutation.name}: '{mutation.old}' is not in {mutation.path} exactly once")
                return 2
            path.write_text(original.replace(mutation.old, mutation.new), encoding="utf-8")
            try:
                code, seconds = run_tests(copy, mutation.tests, mutation.keyword)
            finally:
                path.write_text(original, encoding="utf-8")
            killed = code != 0
            if mutation.equivalent:
                verdict = "killed (NOT equivalent)" if killed else "survived (equivalent)"
                if killed:
                    wrongly_equivalent.append(mutation)
            else:
                verdict = "killed" if killed else "SURVIVED"
                if not killed:
                    survived.append(mutation)
            print(f"{number:2d}. {verdict:<24} {seconds:5.1f} s  {mutation.name}", flush=True)
        equivalent = [m for m in mutations if m.equivalent and m not in wrongly_equivalent]
        print()
        print(
            f"{len(mutations)} mutations: {len(mutations) - len(survived) - len(equivalent)} "
            f"killed, {len(equivalent)} equivalent, {len(survived)} survived"
        )
        for mutation in equivalent:
            print(f"  equivalent: {mutation.name}: {mutation.equivalent}")
        for mutation in survived:
            print(f"  SURVIVED: {mutation.name} ({mutation.path}: {mutation.new.strip()})")
        for mutation in wrongly_equivalent:
            print(f"  listed as equivalent but killed: {mutation.name}")
        return 1 if survived or wrongly_equivalent else 0


if __name__ == "__main__":
    sys.exit(main())
