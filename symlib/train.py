"""Training: ``fit(model, task, ...)`` -> a history DataFrame, one row per evaluation (and member).

One code path serves a single run and an ensemble of E runs trained together (a model built with
``ensemble_size=E``, see ``symlib.layers``): member e gets its own seed, its own training stream and
its own loss, and since Adam acts element-wise the members never interact; they only share the
framework overhead of a step, which is most of the cost for networks this small.

Randomness: member e's data stream (and fixed training set) comes from ``seeds[e]``; the random
wrappers are reseeded from the seeds; the test set comes from ``test_seed``, shared by every run so
that methods are compared on the same samples. Parameters are initialized by whoever builds the
model (``symlib.experiments.build_model`` seeds that too).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from contextlib import contextmanager

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from .layers import ensemble_size
from .symmetrize import reseed

__all__ = ["fit", "evaluate", "activation_scales", "LOSSES", "SCHEDULES"]

# "logits": the model returns logits, trained with BCEWithLogitsLoss (stable).
# "probabilities": the model ends in a Sigmoid and is trained with BCELoss (the original recipe).
LOSSES = ("logits", "probabilities")
SCHEDULES = ("constant", "cosine")
SATURATION = 1e-4  # p (1 - p) below this: the sigmoid passes back (almost) no gradient
TEST_SEED = 2**31 - 1


@contextmanager
def _threads(num_threads: int | None):
    if num_threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _member_outputs(out: torch.Tensor, members: int, batch: int) -> torch.Tensor:
    """Model output (E*B,) / (E*B, 1) / (E*B, 1, 1) -> (E, B)."""
    if out.shape[0] != members * batch or out.numel() != members * batch:
        raise ValueError(
            f"the model must return one value per sample, shape ({members * batch},) or ({members * batch}, 1), "
            f"got {tuple(out.shape)}"
        )
    return out.reshape(members, batch)


_CRITERIA = {"logits": nn.functional.binary_cross_entropy_with_logits,
             "probabilities": nn.functional.binary_cross_entropy}


def _loss_and_probs(out: torch.Tensor, y: torch.Tensor, loss: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample losses and probabilities of class 1, both (E, B)."""
    probs = torch.sigmoid(out) if loss == "logits" else out
    return _CRITERIA[loss](out, y, reduction="none"), probs


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: str = "logits",
             batch_size: int = 4096) -> pd.DataFrame:
    """Loss, accuracy and saturated fraction of every member on one data set.

    x: (T, n, c), y: (T,), shared by all members. Returns a DataFrame with one row per member.
    """
    members = ensemble_size(model)
    was_training = model.training
    model.eval()
    totals = torch.zeros(3, members, dtype=torch.float64)
    for xb, yb in zip(x.split(batch_size), y.split(batch_size)):
        out = _member_outputs(model(xb.repeat(members, 1, 1)), members, len(xb))
        losses, probs = _loss_and_probs(out, yb.expand(members, -1), loss)
        correct = (probs > 0.5) == yb.bool()
        saturated = probs * (1 - probs) < SATURATION
        totals += torch.stack([losses.sum(1), correct.sum(1), saturated.sum(1)]).double()
    model.train(was_training)
    totals /= len(x)
    return pd.DataFrame({"member": range(members), "loss": totals[0].numpy(), "accuracy": totals[1].numpy(),
                         "saturated": totals[2].numpy()})


def _check_fit_args(model, task, steps, batch_size, lr, train_size, test_size, eval_every, loss, schedule, seeds):
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not hasattr(task, "sample"):
        raise TypeError(f"task must have a sample(batch_size, generator) method, got {type(task).__name__}")
    for name, value in (("steps", steps), ("batch_size", batch_size), ("test_size", test_size),
                        ("eval_every", eval_every)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if train_size is not None and (not isinstance(train_size, int) or train_size < 1):
        raise ValueError(f"train_size must be a positive int or None (fresh samples every batch), got {train_size!r}")
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    members = ensemble_size(model)
    if len(seeds) != members:
        raise ValueError(f"the model is an ensemble of {members}; seeds must have {members} entries, got {len(seeds)}")
    if members > 1:
        for name, p in model.named_parameters():
            if p.shape[:1] != (members,):
                raise ValueError(f"parameter {name} of shape {tuple(p.shape)} has no leading ensemble dim {members}")
    return members


class _TrainStream:
    """Per-member training batches: fresh samples, or epochs over a fixed training set."""

    def __init__(self, task, seeds: Sequence[int], batch_size: int, train_size: int | None):
        self.task, self.batch_size, self.train_size = task, batch_size, train_size
        self.generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
        if train_size is not None:
            sets = [task.sample(train_size, generator=g) for g in self.generators]
            self.x = torch.stack([s[0] for s in sets])  # (E, train_size, n, c)
            self.y = torch.stack([s[1] for s in sets])
            self.order = torch.empty(len(seeds), 0, dtype=torch.long)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """x (E*B, n, c) member-major, y (E, B)."""
        if self.train_size is None:
            if len(self.generators) == 1:
                x, y = self.task.sample(self.batch_size, generator=self.generators[0])
                return x, y.unsqueeze(0)
            batches = [self.task.sample(self.batch_size, generator=g) for g in self.generators]
            return torch.cat([b[0] for b in batches]), torch.stack([b[1] for b in batches])
        while self.order.shape[1] < self.batch_size:  # reshuffle each member's set every epoch
            fresh = torch.stack([torch.randperm(self.train_size, generator=g) for g in self.generators])
            self.order = torch.cat([self.order, fresh], dim=1)
        idx, self.order = self.order[:, : self.batch_size], self.order[:, self.batch_size:]
        x = torch.gather(self.x, 1, idx.view(*idx.shape, 1, 1).expand(-1, -1, *self.x.shape[2:]))
        return x.flatten(0, 1), torch.gather(self.y, 1, idx)


def _grad_norms(model: nn.Module, members: int) -> torch.Tensor:
    """Each member's gradient norm, (E,)."""
    grads = [p.grad.detach().reshape(members, -1) for p in model.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros(members)
    return torch.stack(torch._foreach_norm(grads)).norm(dim=0) if members == 1 else torch.cat(grads, 1).norm(dim=1)


def fit(model: nn.Module, task, *, steps: int, batch_size: int = 32, lr: float = 1e-3,
        train_size: int | None = None, test_size: int = 20_000, eval_every: int | None = None,
        seed: int = 0, seeds: Sequence[int] | None = None, loss: str = "logits", schedule: str = "constant",
        num_threads: int | None = None, test_seed: int = TEST_SEED, eval_batch_size: int = 4096,
        progress: bool | None = None) -> pd.DataFrame:
    """Train ``model`` on ``task`` with Adam and return its history.

    model: maps x (batch, n, c) to one logit per sample (or a probability, with
      ``loss="probabilities"``); for an ensemble of E members, pass ``seeds`` (E seeds).
    train_size: None draws fresh samples every batch; an int fixes a training set of that size per
      member, visited in reshuffled epochs.
    eval_every: steps between evaluations (default: steps // 10); the last step is always evaluated.
    schedule: "constant" learning rate, or "cosine" decay to 0 over ``steps``.
    num_threads: torch threads for this call (1 per worker when runs go in parallel).

    Returns a DataFrame with a row per (evaluation, member): seed, member, step, samples_seen,
    train_loss / train_accuracy (means over the steps since the last evaluation), grad_norm (mean
    since the last evaluation), test_loss, test_accuracy, test_saturated (fraction of test outputs
    whose sigmoid passes back less than 1e-4 of the gradient), seconds (wall time, training only).
    """
    seeds = [seed] if seeds is None else [int(s) for s in seeds]
    eval_every = eval_every or max(1, steps // 10)
    members = _check_fit_args(model, task, steps, batch_size, lr, train_size, test_size, eval_every, loss, schedule,
                              seeds)
    if progress is None:
        progress = sys.stderr.isatty()

    with _threads(num_threads):
        reseed(model, int(np.random.SeedSequence(seeds).generate_state(1)[0]))
        stream = _TrainStream(task, seeds, batch_size, train_size)
        x_test, y_test = task.sample(test_size, generator=torch.Generator().manual_seed(test_seed))
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, fused=True)  # one kernel for all parameters: the cheapest step on CPU
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps) if schedule == "cosine" else None
        criterion = _CRITERIA[loss]
        threshold = 0.0 if loss == "logits" else 0.5
        log: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        rows, seconds = [], 0.0
        model.train()
        for step in tqdm(range(1, steps + 1), disable=not progress, desc="fit", leave=False):
            start = time.perf_counter()
            x, y = stream.next()
            out = _member_outputs(model(x), members, batch_size)
            member_loss = criterion(out, y, reduction="none").mean(dim=1)
            optimizer.zero_grad(set_to_none=True)
            member_loss.sum().backward()  # members' parameters are disjoint: each gets its own gradient
            log.append((member_loss.detach(), ((out.detach() > threshold) == y).sum(dim=1), _grad_norms(model, members)))
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            seconds += time.perf_counter() - start
            if step % eval_every == 0 or step == steps:
                train_loss, correct, norms = (torch.stack(t).double().mean(dim=0).numpy() for t in zip(*log))
                log.clear()
                test = evaluate(model, x_test, y_test, loss, eval_batch_size)
                rows.append(pd.DataFrame({
                    "seed": seeds, "member": range(members), "step": step, "samples_seen": step * batch_size,
                    "train_loss": train_loss, "train_accuracy": correct / batch_size, "grad_norm": norms,
                    "test_loss": test["loss"], "test_accuracy": test["accuracy"],
                    "test_saturated": test["saturated"], "seconds": seconds,
                }))
        model.eval()
    return pd.concat(rows, ignore_index=True)


@torch.no_grad()
def activation_scales(model: nn.Module, x: torch.Tensor) -> pd.DataFrame:
    """Standard deviation and largest magnitude of every direct submodule's output on x.

    x: (batch, n, c). For a Sequential this is the scale of the signal after each layer.
    """
    rows, hooks = [], []
    for i, (name, module) in enumerate(model.named_children()):
        hooks.append(module.register_forward_hook(
            lambda mod, inp, out, i=i, name=name: rows.append(
                {"layer": i, "module": type(mod).__name__, "std": out.std().item(), "max_abs": out.abs().max().item()})))
    try:
        model(x)
    finally:
        for h in hooks:
            h.remove()
    return pd.DataFrame(rows)
