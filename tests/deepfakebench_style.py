"""DeepfakeBench's side, written for the tests from their documented interface (not their code):
a registry with ``register_module`` / ``[name]``, a small detector class in their style
(constructor ``(config)``, two logits), SAM with ``first_step`` / ``second_step``, the batch
metrics of two logits, and a trainer that calls a detector in the order their
``trainer/trainer.py`` and ``test.py`` do.

``their_checkout(folder)`` writes the two files of a DeepfakeBench checkout that registration goes
through (``training/metrics/registry.py`` and ``training/detectors/__init__.py`` with the one line
``docs/deepfakebench.md`` tells users to add).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import torch
from sklearn import metrics
from torch import nn


class Registry:
    """Their registry: a dict filled by ``register_module(module_name=...)``, read by ``[name]``."""

    def __init__(self):
        self.data = {}

    def register_module(self, module_name=None):
        def add(cls):
            self.data[module_name or cls.__name__] = cls
            return cls

        return add

    def __getitem__(self, name):
        return self.data[name]


def calculate_metrics_for_train(label: torch.Tensor, output: torch.Tensor) -> tuple:
    """``(auc, eer, acc, ap)`` of a batch from two logits ``(B, 2)`` (class 1 = fake)."""
    prob = torch.softmax(output, dim=1)[:, 1] if output.shape[1] == 2 else output
    acc = float((output.argmax(1) == label).float().mean())
    y, s = label.cpu().numpy(), prob.detach().cpu().numpy()
    if y.min() == y.max():
        return None, None, acc, None
    fpr, tpr, _ = metrics.roc_curve(y, s, pos_label=1)
    eer = float(fpr[np.nanargmin(np.abs(1 - tpr - fpr))])
    return float(metrics.auc(fpr, tpr)), eer, acc, float(metrics.average_precision_score(y, s))


class TinyNet(nn.Module):
    """A DeepfakeBench-style detector: conv features, a two-logit classifier, cross-entropy."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.backbone = self.build_backbone(config)
        self.head = nn.Linear(8, 2)
        self.loss_func = self.build_loss(config)

    def build_backbone(self, config):
        return nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.BatchNorm2d(8), nn.ReLU())

    def build_loss(self, config):
        return nn.CrossEntropyLoss()

    def features(self, data_dict):
        return self.backbone(data_dict["image"]).mean(dim=(2, 3))

    def classifier(self, features):
        return self.head(features)

    def get_losses(self, data_dict, pred_dict):
        loss = self.loss_func(pred_dict["cls"], data_dict["label"])
        return {"overall": loss, "cls": loss}

    def get_train_metrics(self, data_dict, pred_dict):
        auc, eer, acc, ap = calculate_metrics_for_train(data_dict["label"], pred_dict["cls"])
        return {"acc": acc, "auc": auc, "eer": eer, "ap": ap}

    def forward(self, data_dict, inference=False):
        features = self.features(data_dict)
        cls = self.classifier(features)
        return {"cls": cls, "prob": torch.softmax(cls, dim=1)[:, 1], "feat": features}


class SAM(torch.optim.Optimizer):
    """SAM with the two-call API their trainer uses (Foret et al. 2021): ``first_step`` moves to
    w + ρ·g/‖g‖, ``second_step`` moves back and steps the base optimizer."""

    def __init__(self, params, base_optimizer, rho=0.05, **kwargs):
        super().__init__(params, dict(rho=rho, **kwargs))
        self.base_optimizer = base_optimizer(self.param_groups, **kwargs)
        self.param_groups = self.base_optimizer.param_groups

    @torch.no_grad()
    def first_step(self, zero_grad=False):
        grads = [
            p.grad.norm() for g in self.param_groups for p in g["params"] if p.grad is not None
        ]
        norm = torch.stack(grads).norm()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                self.state[p]["e_w"] = e_w = p.grad * group["rho"] / (norm + 1e-12)
                p.add_(e_w)
        if zero_grad:
            self.zero_grad()

    @torch.no_grad()
    def second_step(self, zero_grad=False):
        for group in self.param_groups:
            for p in group["params"]:
                if "e_w" in self.state[p]:
                    p.sub_(self.state[p].pop("e_w"))
        self.base_optimizer.step()
        if zero_grad:
            self.zero_grad()


class Trainer:
    """The calls their trainer makes on a detector: ``train_step`` (two passes with SAM),
    ``get_train_metrics`` every batch, ``test_epoch`` collecting ``prob`` under ``inference``."""

    def __init__(self, config, model, optimizer):
        self.config, self.model, self.optimizer = config, model, optimizer

    def train_step(self, data_dict):
        if self.config["optimizer"]["type"] == "sam":
            for i in range(2):
                predictions = self.model(data_dict)
                losses = self.model.get_losses(data_dict, predictions)
                if i == 0:
                    first = (losses, predictions)
                self.optimizer.zero_grad()
                losses["overall"].backward()
                if i == 0:
                    self.optimizer.first_step(zero_grad=True)
                else:
                    self.optimizer.second_step(zero_grad=True)
            return first
        predictions = self.model(data_dict)
        losses = self.model.get_losses(data_dict, predictions)
        self.optimizer.zero_grad()
        losses["overall"].backward()
        self.optimizer.step()
        return losses, predictions

    def train_batch(self, data_dict):
        self.model.train()
        losses, predictions = self.train_step(data_dict)
        return losses, self.model.get_train_metrics(data_dict, predictions)

    @torch.no_grad()
    def test_epoch(self, batches):
        """P(fake), labels and features of every batch; their test also computes the losses."""
        self.model.eval()
        probs, labels, feats = [], [], []
        for data_dict in batches:
            data_dict = {**data_dict, "label": torch.where(data_dict["label"] != 0, 1, 0)}
            predictions = self.model(data_dict, inference=True)
            self.model.get_losses(data_dict, predictions)
            probs += list(predictions["prob"].cpu().numpy())
            labels += list(data_dict["label"].cpu().numpy())
            feats += list(predictions["feat"].cpu().numpy())
        return np.array(probs), np.array(labels), np.array(feats)


def their_checkout(folder: Path) -> Path:
    """``folder/training`` with their registry module and a ``detectors`` package that registers
    ``TinyNet`` as ``tiny_xception`` and, through the documented line, every dfshield detector."""
    training = folder / "training"
    (training / "metrics").mkdir(parents=True)
    (training / "detectors").mkdir()
    (training / "metrics" / "__init__.py").write_text("")
    (training / "metrics" / "registry.py").write_text(
        "from tests.deepfakebench_style import Registry\n\nDETECTOR = Registry()\n"
    )
    (training / "detectors" / "__init__.py").write_text(
        textwrap.dedent(
            """\
            from metrics.registry import DETECTOR
            from tests.deepfakebench_style import TinyNet

            DETECTOR.register_module(module_name="tiny_xception")(TinyNet)

            from dfshield.integrations.deepfakebench import register; register(DETECTOR)
            """
        )
    )
    return training
