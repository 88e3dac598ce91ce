"""Training: ``fit(model, task, ...)`` -> a history DataFrame, one row per evaluation and member.

One code path serves a single run and an ensemble of E runs trained together (a model built with
``ensemble_size=E``, see ``symlib.layers``). Member e has its own seed, training data, validation
data, learning rate, weight decay and random permutations, and since the members' parameters and
losses are disjoint and the optimizer acts element-wise, member e trains exactly like the solo run
with the same settings; the members only share the framework overhead of a step, which is most of
the cost for networks this small.

Per step: member e's batch comes from its own stream (fresh samples, or reshuffled epochs over its
fixed training set), drawn with a CPU ``torch.Generator`` seeded from ``seeds[e]`` in chunks of
``CHUNK_SAMPLES`` samples and moved to the model's device once per chunk (the chunking depends on
the batch size only, so a member draws the same data alone or in an ensemble); then one forward
and backward pass for all members, and one AdamW update with per-member learning rates.

Per evaluation (every ``eval_every`` steps, and at the last step): each member's validation loss
and accuracy; the parameters of each member at its best validation loss so far are kept (a masked
copy, no extra forward pass). At the end the model holds those parameters and the test set, shared
by all members and drawn from ``test_seed``, is evaluated there. The test set is never used for
any choice. A member whose loss or parameters stop being finite is marked diverged: it stops
training, its metrics become NaN, and it is never selected or scored.

Sets of any size. A masked task (``task.sample`` returns ``(x, mask, y)``, e.g.
``symlib.data.VariableSizeVarianceTask``) gives padded batches with a mask (batch, n) bool, True =
present; the mask travels with its rows through the stream, the validation and test sets and the
evaluation chunks, and the model is called as ``model(x, mask=mask)`` (a model that takes masks:
``symlib.models.deepsets``). An unmasked task takes exactly the path it took before masks existed.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from contextlib import contextmanager

import numpy as np
import pandas as pd
import torch
from torch import nn

from .groups import check_mask
from .layers import ensemble_size
from .rng import check_seed
from .symmetrize import reseed, rewind

__all__ = ["fit", "evaluate", "activation_scales", "LOSSES", "SCHEDULES", "TEST_AT", "CHUNK_SAMPLES", "TEST_SEED"]

# "logits": the model returns logits, trained with BCEWithLogitsLoss (stable).
# "probabilities": the model ends in a Sigmoid and is trained with BCELoss (the original recipe).
LOSSES = ("logits", "probabilities")
SCHEDULES = ("constant", "cosine")
TEST_AT = ("selected", "every")
SATURATION = 1e-4  # p (1 - p) below this: the sigmoid passes back (almost) no gradient
TEST_SEED = 2**31 - 1
CHUNK_SAMPLES = 4096  # samples drawn per member at a time; steps per chunk depend on the batch size only
BETAS, EPS = (0.9, 0.999), 1e-8
_VAL_STREAM, _TEST_STREAM = 1, 2  # evaluation streams of the random wrappers (see symmetrize.rewind)

_CRITERIA = {"logits": nn.functional.binary_cross_entropy_with_logits,
             "probabilities": nn.functional.binary_cross_entropy}


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


def _check_int(name: str, value, low: int = 1, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int >= {low}{' or None' if allow_none else ''}, got {value!r} "
                        f"({type(value).__name__})")
    if value < low:
        raise ValueError(f"{name} must be an int >= {low}{' or None' if allow_none else ''}, got {value!r}")
    return int(value)


def _check_number(name: str, value, low: float, strict: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a finite number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not math.isfinite(value) or (value <= low if strict else value < low):
        raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} {low}, got {value!r}")
    return value


def _per_member(name: str, value, members: int, check) -> list:
    """A scalar for every member, or a sequence of exactly E values; each one checked."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray, torch.Tensor)) \
            or getattr(value, "ndim", None) == 0:  # a 0-d array or tensor is one value, not a sequence
        return [check(name, value)] * members
    values = list(value)
    if len(values) != members:
        raise ValueError(f"{name} must be a scalar or a sequence of one value per ensemble member ({members}), "
                         f"got {len(values)} values")
    return [check(f"{name}[{e}]", v) for e, v in enumerate(values)]


def _member_outputs(out: torch.Tensor, members: int, batch: int) -> torch.Tensor:
    """Model output (E*B,) / (E*B, 1) / (E*B, 1, 1) -> (E, B)."""
    if not isinstance(out, torch.Tensor) or out.shape[:1] != (members * batch,) or out.numel() != members * batch:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"the model must return one value per sample, shape ({members * batch},) or "
                         f"({members * batch}, 1), got {shape}")
    return out.reshape(members, batch)


def _model_place(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    p = next(iter(model.parameters()), None)
    return (p.device, p.dtype) if p is not None else (torch.device("cpu"), torch.get_default_dtype())


def _sample(task, size: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """A task's draw as (x, y), or (x, y, mask) for a masked task (whose sample gives (x, mask, y))."""
    out = task.sample(size, generator=generator)
    if len(out) == 3:
        x, mask, y = out
        return x, y, mask
    return out


@torch.no_grad()
def _evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, counts: torch.Tensor, loss: str,
              batch_size: int, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean loss, accuracy and saturated fraction per member: (3, E) on the model's device.

    x: (E, T, n, c) member-major (an ``expand`` of a shared set costs nothing), y: (E, T); member e
    uses its first ``counts[e]`` rows. mask: None, or (E, T, n) bool, passed on with its rows. Each
    call takes ``batch_size // E`` rows of every member (at least one), so memory stays bounded
    however many members there are; the random wrappers' draws follow each member's rows, not the
    chunks (see symmetrize.rewind), so chunking never changes a result.
    """
    members, total = x.shape[:2]
    criterion = _CRITERIA[loss]
    sums = torch.zeros(3, members, dtype=torch.float64, device=x.device)
    positions = torch.arange(total, device=x.device)
    per_member = max(1, batch_size // members)
    for start in range(0, total, per_member):
        xb, yb = x[:, start:start + per_member], y[:, start:start + per_member]
        size = xb.shape[1]
        if mask is None:
            out = model(xb.reshape(members * size, *x.shape[2:]))
        else:
            out = model(xb.reshape(members * size, *x.shape[2:]),
                        mask=mask[:, start:start + per_member].reshape(members * size, mask.shape[2]))
        out = _member_outputs(out, members, size)
        present = (positions[start:start + size] < counts[:, None]).to(out.dtype)
        probs = torch.sigmoid(out) if loss == "logits" else out
        losses = criterion(out, yb, reduction="none")
        correct = ((probs > 0.5) == yb.bool()).to(out.dtype)
        saturated = (probs * (1 - probs) < SATURATION).to(out.dtype)
        sums += torch.stack([(t * present).sum(1) for t in (losses, correct, saturated)]).double()
    return sums / counts.to(sums)


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: str = "logits",
             batch_size: int = 4096, mask: torch.Tensor | None = None) -> pd.DataFrame:
    """Loss, accuracy and saturated fraction of every member on one data set.

    x: (T, n, c), y: (T,) with values in {0, 1}, shared by all members; mask: None, or (T, n)
    bool, True = present, for padded sets (the model is then called with ``mask=``). Returns a
    DataFrame with one row per member. The model is evaluated in eval mode and left in the mode
    it was in.
    """
    members = ensemble_size(model)
    device, dtype = _model_place(model)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor of shape (T, n, c), got {type(x).__name__}")
    if x.ndim < 2:
        raise ValueError(f"x must be a tensor of shape (T, n, c), got {tuple(x.shape)}")
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"y must be a torch.Tensor of shape ({len(x)},) matching x, got {type(y).__name__}")
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(f"y must be a tensor of shape ({len(x)},) matching x, got {tuple(y.shape)}")
    if len(x) == 0:
        raise ValueError("x must hold at least one sample, got 0")
    labels = (y == 0) | (y == 1)
    if not bool(labels.all()):
        raise ValueError(f"y must hold labels in {{0, 1}}, got {y[~labels].unique()[:5].tolist()} "
                         f"({int((~labels).sum())} of {len(y)} values)")
    _check_int("batch_size", batch_size)
    _check_choice("loss", loss, LOSSES)
    if mask is not None:
        check_mask(x, mask)
    was_training = model.training
    model.eval()
    try:
        x, y = x.to(device, dtype), y.to(device, dtype)
        if mask is not None:
            mask = mask.to(device).expand(members, *mask.shape)
        sums = _evaluate(model, x.expand(members, *x.shape), y.expand(members, -1),
                         torch.full((members,), len(x), device=device), loss, batch_size, mask)
    finally:
        model.train(was_training)
    sums = sums.cpu().numpy()
    return pd.DataFrame({"member": range(members), "loss": sums[0], "accuracy": sums[1], "saturated": sums[2]})


def _check_choice(name: str, value, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {choices}, got {value!r} ({type(value).__name__})")
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


class _Stream:
    """Per-member training batches and validation sets, drawn in chunks from per-member generators.

    Fresh data: member e draws its validation set first (``val_size``), then training samples in
    chunks of ``CHUNK_SAMPLES``. Fixed data: member e draws ``train_size[e]`` samples, splits off
    ``val_counts[e]`` of them for validation (a seeded permutation) and visits the rest in
    reshuffled epochs, whose index permutations are also drawn a chunk at a time.

    A masked task's masks go with their rows everywhere: ``val`` and each batch are then
    (x, y, mask) instead of (x, y), and ``masked`` is True.
    """

    def __init__(self, task, seeds: list[int], batch_size: int, train_sizes: list[int | None],
                 val_counts: list[int], device: torch.device, dtype: torch.dtype):
        self.task, self.batch, self.device, self.dtype = task, batch_size, device, dtype
        self.generators = [torch.Generator().manual_seed(s) for s in seeds]
        self.steps_per_chunk = max(1, CHUNK_SAMPLES // batch_size)
        self.fresh = train_sizes[0] is None
        self.val_counts = torch.tensor(val_counts, dtype=torch.long)
        self.masked = False
        val_sets, train_sets = [], []
        for g, size, v in zip(self.generators, train_sizes, val_counts):
            if self.fresh:
                val_sets.append(self._sample(v, g) if v else None)
            else:
                drawn = self._sample(size, g)
                split = torch.randperm(size, generator=g)
                val_sets.append(tuple(t[split[:v]] for t in drawn) if v else None)
                train_sets.append(tuple(t[split[v:]] for t in drawn))
        self.val = self._stack(val_sets, max(val_counts)) if max(val_counts) else None
        if not self.fresh:
            self.train_counts = [len(s[1]) for s in train_sets]
            stacked = [t.to(device) for t in self._stack(train_sets, max(self.train_counts))]
            self.x, self.y = stacked[:2]
            self.mask = stacked[2] if self.masked else None
            self.pending = [torch.empty(0, dtype=torch.long) for _ in seeds]
        self.chunk_x = self.chunk_y = self.chunk_mask = None
        self.position = self.steps_per_chunk

    def _sample(self, size: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        drawn = _sample(self.task, size, generator)
        self.masked = len(drawn) == 3
        return drawn

    def _stack(self, sets: list, length: int) -> tuple[torch.Tensor, ...]:
        """Per-member (x, y[, mask]) sets of different lengths -> (E, length, ...) zero-padded, on the
        device (x and y in the model's dtype; a padded mask row is an empty set, never scored)."""
        xs = [torch.cat([x, x.new_zeros(length - len(x), *x.shape[1:])]) for x, *_ in sets]
        ys = [torch.cat([s[1], s[1].new_zeros(length - len(s[1]))]) for s in sets]
        stacked = (torch.stack(xs).to(self.device, self.dtype), torch.stack(ys).to(self.device, self.dtype))
        if not self.masked:
            return stacked
        masks = [torch.cat([s[2], s[2].new_zeros(length - len(s[2]), *s[2].shape[1:])]) for s in sets]
        return (*stacked, torch.stack(masks).to(self.device))

    def _next_chunk(self) -> None:
        size = self.steps_per_chunk * self.batch
        if self.fresh:
            draws = [self._sample(size, g) for g in self.generators]
            self.chunk_x = torch.stack([d[0] for d in draws]).to(self.device, self.dtype)
            self.chunk_y = torch.stack([d[1] for d in draws]).to(self.device, self.dtype)
            if self.masked:
                self.chunk_mask = torch.stack([d[2] for d in draws]).to(self.device)
        else:
            for e, (g, count) in enumerate(zip(self.generators, self.train_counts)):
                need = size - len(self.pending[e])
                if need > 0:  # whole epochs: each a fresh permutation of the member's training set
                    epochs = -(-need // count)
                    perms = torch.rand(epochs, count, generator=g).argsort(dim=1).flatten()
                    self.pending[e] = torch.cat([self.pending[e], perms])
            index = torch.stack([p[:size] for p in self.pending]).to(self.device)
            self.pending = [p[size:] for p in self.pending]
            rows = torch.arange(len(index), device=self.device)[:, None]
            self.chunk_x, self.chunk_y = self.x[rows, index], self.y[rows, index]
            if self.masked:
                self.chunk_mask = self.mask[rows, index]
        self.position = 0

    def next(self) -> tuple[torch.Tensor, ...]:
        """x (E*B, n, c) member-major, y (E, B); and for a masked task, mask (E*B, n) as a third entry."""
        if self.position == self.steps_per_chunk:
            self._next_chunk()
        lo, hi = self.position * self.batch, (self.position + 1) * self.batch
        self.position += 1
        x = self.chunk_x[:, lo:hi]
        if not self.masked:
            return x.reshape(-1, *x.shape[2:]), self.chunk_y[:, lo:hi]
        return x.reshape(-1, *x.shape[2:]), self.chunk_y[:, lo:hi], self.chunk_mask[:, lo:hi].flatten(0, 1)


class _MemberAdamW:
    """AdamW (decoupled weight decay, Loshchilov & Hutter 2019) with a learning rate and a weight
    decay per ensemble member, as one foreach update over all parameters.

    Parameters of an ensemble carry a leading member dim E; the per-member factors are (E, 1, ...)
    views that broadcast over it. For a solo model they are 0-dim. The update is torch.optim.AdamW's
    (same bias corrections and epsilon placement).
    """

    def __init__(self, params: list[nn.Parameter], members: int, lr: torch.Tensor, weight_decay: torch.Tensor):
        self.params = params
        self.exp_avg = [torch.zeros_like(p) for p in params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in params]
        self.lr, self.weight_decay, self.members = lr, weight_decay, members
        self.decays = bool((weight_decay > 0).any())
        self.step_count = 0

    def _per_param(self, values: torch.Tensor) -> list[torch.Tensor]:
        if self.members == 1:
            return [values.reshape(()) for _ in self.params]
        return [values.view(self.members, *([1] * (p.ndim - 1))) for p in self.params]

    @torch.no_grad()
    def step(self, factor: float, active: torch.Tensor) -> None:
        """One update with learning rates ``lr * factor``; members where ``active`` is False stay put."""
        beta1, beta2 = BETAS
        self.step_count += 1
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]
        torch._foreach_lerp_(self.exp_avg, grads, 1 - beta1)
        torch._foreach_mul_(self.exp_avg_sq, beta2)
        torch._foreach_addcmul_(self.exp_avg_sq, grads, grads, 1 - beta2)
        lr = self.lr * factor * active
        if self.decays:
            torch._foreach_mul_(self.params, self._per_param(1 - lr * self.weight_decay))
        # torch's update, (lr / c1) m / (sqrt(v) / sqrt(c2) + eps), rearranged into fewer passes:
        # (lr sqrt(c2) / c1) m / (sqrt(v) + eps sqrt(c2)).
        root_c2 = math.sqrt(1 - beta2 ** self.step_count)
        denom = torch._foreach_sqrt(self.exp_avg_sq)
        torch._foreach_add_(denom, EPS * root_c2)
        numer = torch._foreach_mul(self.exp_avg, self._per_param(-lr * root_c2 / (1 - beta1 ** self.step_count)))
        if not bool(active.all()):
            # A diverged member's NaN moments must not reach its (frozen) parameters as 0 * NaN.
            keep = self._per_param(active)
            numer = [torch.where(k, u, torch.zeros((), dtype=u.dtype, device=u.device)) for k, u in zip(keep, numer)]
        torch._foreach_addcdiv_(self.params, numer, denom)


def _grad_norms(params: list[nn.Parameter], members: int) -> torch.Tensor:
    """Each member's gradient norm, (E,)."""
    norms = [torch.linalg.vector_norm(p.grad.reshape(members, -1), dim=1) for p in params if p.grad is not None]
    if not norms:
        return torch.zeros(members)
    return torch.linalg.vector_norm(torch.stack(norms), dim=0)


def _schedule_factor(schedule: str, step: int, steps: int) -> float:
    """Learning-rate multiplier for the update of step ``step`` (1-based), as torch's CosineAnnealingLR."""
    if schedule == "constant":
        return 1.0
    return 0.5 * (1 + math.cos(math.pi * (step - 1) / steps))


def fit(model: nn.Module, task, *, steps: int, batch_size: int = 64, lr: float | Sequence[float] = 3e-3,
        weight_decay: float | Sequence[float] = 0.0, train_size: int | None | Sequence[int] = None,
        val_fraction: float | None = None, val_size: int | None = None, test_size: int = 20_000,
        eval_every: int | None = None, seed: int | None = None, seeds: Sequence[int] | None = None,
        loss: str = "logits", schedule: str = "cosine", test_at: str = "selected", num_threads: int | None = None,
        test_seed: int = TEST_SEED, eval_batch_size: int = 4096, progress: bool | None = None) -> pd.DataFrame:
    """Train ``model`` on ``task`` with AdamW, keep each member's best validation checkpoint, return the history.

    model: maps x (batch, n, c) to one logit per sample (a probability with
      ``loss="probabilities"``); for an ensemble of E members (``symlib.layers``) pass ``seeds``.
    task: has ``sample(batch_size, generator) -> (x (batch, n, c), y (batch,))``, or, for sets of
      varying size, ``-> (x, mask (batch, n) bool, y)`` (the model is then called with ``mask=``).
    lr, weight_decay, train_size: a scalar for every member, or one value per member.
    train_size: None draws fresh samples every batch; an int fixes a labelled set of that size
      per member (validation included), visited in reshuffled epochs.
    val_fraction: with fixed sets, the fraction of each member's set held out for validation
      (a seeded split). val_size: with fresh data, a validation set of that size drawn first from
      the member's own stream. Without either, the last step is the checkpoint.
    eval_every: steps between evaluations (default steps // 10); the last step is always evaluated.
    schedule: "cosine" (default) decays each member's learning rate to 0 over ``steps``; "constant".
    test_at: "selected" evaluates the test set once, at the kept checkpoint; "every" at every
      evaluation too (for curves of test accuracy against steps). Either way the test set
      chooses nothing. test_size=0: no test set at all (tuning runs; ``experiments.tune``).
    eval_batch_size: rows per forward pass when evaluating, across all members.
    num_threads: torch threads for this call (1 per worker when runs go in parallel).

    Runs where the model is (its device and dtype): batches are drawn on the CPU from the seeded
    generators and moved once per chunk, so results do not depend on the device's RNG.

    Returns a DataFrame with a row per (evaluation, member): seed, member, lr, weight_decay,
    train_size, step, samples_seen, epoch (fixed sets), train_loss / train_accuracy / grad_norm
    (means over the steps since the last evaluation), val_loss, val_accuracy, test_loss,
    test_accuracy, test_saturated (fraction of test outputs whose sigmoid passes back less than
    1e-4 of the gradient), selected (True on the row of the checkpoint kept), diverged, seconds
    (wall time spent training so far, evaluations excluded, shared by the members), members (E,
    so that seconds / members is one run's share).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(getattr(task, "sample", None)):
        raise TypeError(f"task must have a sample(batch_size, generator) method, got {type(task).__name__}")
    members = ensemble_size(model)
    if seeds is not None and seed is not None:
        raise ValueError(f"give seed or seeds, not both (got seed={seed!r}, seeds={seeds!r})")
    if seeds is None:
        seeds = [0 if seed is None else seed]
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence):
        raise TypeError(f"seeds must be a sequence of ints, got {type(seeds).__name__}")
    seeds = [check_seed(s, f"seeds[{e}]") for e, s in enumerate(seeds)]
    if len(seeds) != members:
        raise ValueError(f"the model is an ensemble of {members}; seeds must have {members} entries, got {len(seeds)}")
    steps = _check_int("steps", steps)
    batch_size = _check_int("batch_size", batch_size)
    test_size = _check_int("test_size", test_size, low=0)
    eval_batch_size = _check_int("eval_batch_size", eval_batch_size)
    eval_every = _check_int("eval_every", eval_every, allow_none=True) or max(1, steps // 10)
    num_threads = _check_int("num_threads", num_threads, allow_none=True)
    test_seed = check_seed(test_seed, "test_seed")
    lrs = _per_member("lr", lr, members, lambda n, v: _check_number(n, v, 0.0, strict=True))
    decays = _per_member("weight_decay", weight_decay, members, lambda n, v: _check_number(n, v, 0.0, strict=False))
    sizes = _per_member("train_size", train_size, members, lambda n, v: _check_int(n, v, allow_none=True))
    _check_choice("loss", loss, LOSSES)
    _check_choice("schedule", schedule, SCHEDULES)
    _check_choice("test_at", test_at, TEST_AT)
    if progress is not None and not isinstance(progress, bool):
        raise TypeError(f"progress must be a bool or None, got {progress!r}")
    fresh = sizes[0] is None
    if any((s is None) != fresh for s in sizes):
        raise ValueError(f"train_size must be None (fresh data) for every member or an int for every member, got {sizes}")
    val_counts = _validation_counts(fresh, sizes, val_fraction, val_size)
    if members > 1:
        for name, p in model.named_parameters():
            if p.shape[:1] != (members,):
                raise ValueError(f"parameter {name} of shape {tuple(p.shape)} has no leading ensemble dim {members}")
    if progress is None:
        progress = sys.stderr.isatty()

    with _threads(num_threads):
        return _Fit(model, task, members, seeds, lrs, decays, sizes, val_counts, steps, batch_size, test_size,
                    eval_every, loss, schedule, test_at, test_seed, eval_batch_size, progress).run()


def _validation_counts(fresh: bool, sizes: list, val_fraction, val_size) -> list[int]:
    """Validation samples per member, checked so every member keeps >= 1 training and validation sample."""
    if fresh:
        if val_fraction is not None:
            raise ValueError(f"val_fraction splits a fixed training set; with fresh data (train_size=None) use "
                             f"val_size, got val_fraction={val_fraction!r}")
        count = _check_int("val_size", val_size, allow_none=True) or 0
        return [count] * len(sizes)
    if val_size is not None:
        raise ValueError(f"val_size fixes a validation set for fresh data; with a fixed training set use "
                         f"val_fraction, got val_size={val_size!r}")
    if val_fraction is None:
        return [0] * len(sizes)
    fraction = _check_number("val_fraction", val_fraction, 0.0, strict=True)
    if fraction >= 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    counts = [round(fraction * s) for s in sizes]
    for e, (s, v) in enumerate(zip(sizes, counts)):
        if v < 1 or s - v < 1:
            raise ValueError(f"val_fraction={fraction} splits train_size[{e}]={s} into {s - v} training and {v} "
                             f"validation samples; each part needs at least 1 (expected a larger train_size or "
                             f"another val_fraction)")
    return counts


class _Fit:
    """The state of one fit() call: stream, optimizer, checkpoints, and the rows of the history."""

    def __init__(self, model, task, members, seeds, lrs, decays, sizes, val_counts, steps, batch_size, test_size,
                 eval_every, loss, schedule, test_at, test_seed, eval_batch_size, progress):
        self.model, self.task, self.members, self.seeds = model, task, members, seeds
        self.lrs, self.decays, self.sizes, self.val_counts = lrs, decays, sizes, val_counts
        self.steps, self.batch, self.eval_every = steps, batch_size, eval_every
        self.loss, self.schedule, self.test_at, self.eval_batch = loss, schedule, test_at, eval_batch_size
        self.progress = progress
        self.device, self.dtype = _model_place(model)
        self.params = [p for p in model.parameters() if p.requires_grad]
        if not self.params:
            raise ValueError(f"model must have trainable parameters, got none in {type(model).__name__}")
        reseed(model, seeds)
        self.stream = _Stream(task, seeds, batch_size, sizes, val_counts, self.device, self.dtype)
        self.x_test = self.y_test = self.mask_test = None
        if test_size:
            x_test, y_test, *mask_test = _sample(task, test_size, torch.Generator().manual_seed(test_seed))
            self.x_test, self.y_test = x_test.to(self.device, self.dtype), y_test.to(self.device, self.dtype)
            if mask_test:
                self.mask_test = mask_test[0].to(self.device)
        self.optimizer = _MemberAdamW(self.params, members, torch.tensor(lrs, dtype=self.dtype, device=self.device),
                                      torch.tensor(decays, dtype=self.dtype, device=self.device))
        self.active = torch.ones(members, dtype=torch.bool, device=self.device)
        self.best = [p.detach().clone() for p in self.params]
        self.best_val = torch.full((members,), math.inf, dtype=torch.float64, device=self.device)
        self.best_step = torch.full((members,), steps, dtype=torch.long)
        self.diverged_at = torch.full((members,), -1, dtype=torch.long)
        self.rows: list[dict] = []

    def _eval_set(self, x, y, counts, stream: int, mask=None) -> torch.Tensor:
        rewind(self.model, stream)
        return _evaluate(self.model, x, y, counts, self.loss, self.eval_batch, mask)

    def _test(self) -> np.ndarray:
        """(3, E): loss, accuracy, saturated fraction on the shared test set (NaN without one)."""
        if self.x_test is None:
            return np.full((3, self.members), np.nan)
        self.model.eval()
        x, y = self.x_test, self.y_test
        counts = torch.full((self.members,), len(x), device=self.device)
        mask = None if self.mask_test is None else self.mask_test.expand(self.members, *self.mask_test.shape)
        result = self._eval_set(x.expand(self.members, *x.shape), y.expand(self.members, -1), counts, _TEST_STREAM,
                                mask)
        self.model.train()
        return result.cpu().numpy()

    def _checkpoint(self, step: int, log: list, seconds: float) -> None:
        """Validation (and, with test_at="every", test) metrics of every member; checkpoint the best."""
        train_loss, correct, norms, finite = (torch.stack(t) for t in zip(*log))
        log.clear()
        with torch.no_grad():
            params_finite = torch.stack([torch.isfinite(p.reshape(self.members, -1)).all(dim=1) for p in self.params]).all(0)
        newly = (~(finite.all(0) & params_finite) & self.active).cpu()
        self.diverged_at[newly] = step
        self.active &= ~newly.to(self.device)
        self.model.eval()
        val = None
        if self.stream.val is not None:
            x_val, y_val, *mask_val = self.stream.val
            val = self._eval_set(x_val, y_val, self.stream.val_counts.to(self.device), _VAL_STREAM, *mask_val)
            improved = (val[0] < self.best_val) & self.active
            self.best_val = torch.where(improved, val[0], self.best_val)
            with torch.no_grad():
                for best, p in zip(self.best, self.params):
                    mask = improved.view(self.members, *([1] * (p.ndim - 1))) if self.members > 1 else improved[0]
                    best.copy_(torch.where(mask, p.detach(), best))
            self.best_step[improved.cpu()] = step
            val = val.cpu().numpy()
        self.model.train()
        test = self._test() if self.test_at == "every" else None
        diverged = (self.diverged_at >= 0).numpy()
        mean = lambda t: t.double().mean(0).cpu().numpy()  # noqa: E731
        self.rows.append({
            "step": step, "train_loss": mean(train_loss), "train_accuracy": mean(correct) / self.batch,
            "grad_norm": mean(norms), "val_loss": val[0] if val is not None else np.nan,
            "val_accuracy": val[1] if val is not None else np.nan,
            "test": test, "diverged": diverged, "seconds": seconds})

    def run(self) -> pd.DataFrame:
        model, members, batch = self.model, self.members, self.batch
        criterion = _CRITERIA[self.loss]
        threshold = 0.0 if self.loss == "logits" else 0.5
        steps_iter = range(1, self.steps + 1)
        if self.progress:
            from tqdm.auto import tqdm  # a book-side dependency, imported only when asked for

            steps_iter = tqdm(steps_iter, desc="fit", leave=False)
        log: list[tuple[torch.Tensor, ...]] = []
        seconds = 0.0
        model.train()
        for step in steps_iter:
            start = time.perf_counter()
            x, y, *mask = self.stream.next()
            out = _member_outputs(model(x, mask=mask[0]) if mask else model(x), members, batch)
            member_loss = criterion(out, y, reduction="none").mean(dim=1)
            for p in self.params:
                p.grad = None
            # Members' parameters are disjoint: each gets the gradient of its own loss.
            torch.where(self.active, member_loss, 0.0).sum().backward()
            with torch.no_grad():
                log.append((member_loss.detach(), ((out.detach() > threshold) == y).sum(dim=1),
                            _grad_norms(self.params, members), torch.isfinite(member_loss)))
            self.optimizer.step(_schedule_factor(self.schedule, step, self.steps), self.active)
            seconds += time.perf_counter() - start
            if step % self.eval_every == 0 or step == self.steps:
                self._checkpoint(step, log, seconds)
        return self._finish()

    def _finish(self) -> pd.DataFrame:
        """Load each member's kept checkpoint, score it on the test set, and assemble the history."""
        has_val = self.stream.val is not None
        if has_val:
            with torch.no_grad():
                for best, p in zip(self.best, self.params):
                    p.copy_(best)
        diverged = (self.diverged_at >= 0).numpy()
        selected_test = self._test() if self.test_at == "selected" or has_val else None
        model_rows = []
        for row in self.rows:
            for e in range(self.members):
                gone = self.diverged_at[e] >= 0 and row["step"] >= self.diverged_at[e]
                selected = not diverged[e] and row["step"] == int(self.best_step[e])
                if row["test"] is not None:
                    test = row["test"][:, e]
                elif selected:
                    test = selected_test[:, e]
                else:
                    test = (np.nan,) * 3
                if selected and selected_test is not None:
                    test = selected_test[:, e]  # the kept checkpoint's own score
                nan_if = (lambda v: np.nan if gone else v)  # noqa: E731
                model_rows.append({
                    "seed": self.seeds[e], "member": e, "lr": self.lrs[e], "weight_decay": self.decays[e],
                    "train_size": self.sizes[e], "step": row["step"], "samples_seen": row["step"] * self.batch,
                    "epoch": (row["step"] * self.batch / (self.sizes[e] - self.val_counts[e])
                              if self.sizes[e] is not None else np.nan),
                    "train_loss": nan_if(row["train_loss"][e]), "train_accuracy": nan_if(row["train_accuracy"][e]),
                    "grad_norm": nan_if(row["grad_norm"][e]),
                    "val_loss": nan_if(row["val_loss"][e]) if has_val else np.nan,
                    "val_accuracy": nan_if(row["val_accuracy"][e]) if has_val else np.nan,
                    "test_loss": nan_if(test[0]), "test_accuracy": nan_if(test[1]), "test_saturated": nan_if(test[2]),
                    "selected": bool(selected), "diverged": bool(gone), "seconds": row["seconds"],
                    "members": self.members})
        self.model.eval()
        history = pd.DataFrame(model_rows)
        history["train_size"] = history["train_size"].astype("Int64")
        return history


@torch.no_grad()
def activation_scales(model: nn.Module, x: torch.Tensor) -> pd.DataFrame:
    """Standard deviation and largest magnitude of every direct submodule's output on x.

    x: (batch, n, c). For a Sequential this is the scale of the signal after each layer.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if next(model.children(), None) is None:
        raise ValueError(f"model must have submodules (e.g. an nn.Sequential of layers) to report on, got "
                         f"{type(model).__name__} with none")
    rows, hooks = [], []
    for i, (name, module) in enumerate(model.named_children()):
        hooks.append(module.register_forward_hook(
            lambda mod, inp, out, i=i: rows.append(
                {"layer": i, "module": type(mod).__name__, "std": out.std().item(), "max_abs": out.abs().max().item()})))
    try:
        model(x)
    finally:
        for h in hooks:
            h.remove()
    return pd.DataFrame(rows)
