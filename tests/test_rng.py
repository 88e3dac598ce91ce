"""The counter-based generator and the random wrappers' streams: uniform, independent, chunk-free."""

import numpy as np
import pytest
import torch
from scipy import stats

from conftest import rand64
from symlib import groups, models, rng, symmetrize


def test_words_are_uniform_and_independent():
    words = rng.random_words(rng.keys_from_seeds([0, 1, 2]), stream=0, offset=0, count=60_000)
    assert words.dtype == torch.long and words.min() >= 0 and words.max() < rng.WORD
    for e in range(3):
        for part in (words[e] >> 24, words[e] & 255):  # high and low bytes
            assert stats.chisquare(np.bincount(part.numpy(), minlength=256)).pvalue > 1e-4
        pairs = (words[e, :-1] >> 28) * 16 + (words[e, 1:] >> 28)  # consecutive words
        assert stats.chisquare(np.bincount(pairs.numpy(), minlength=256)).pvalue > 1e-4
    across = (words[0] >> 28) * 16 + (words[1] >> 28)  # the same position of two members
    assert stats.chisquare(np.bincount(across.numpy(), minlength=256)).pvalue > 1e-4


def test_chunking_never_changes_the_stream():
    keys = rng.keys_from_seeds([7, 8])
    whole = rng.random_words(keys, 3, 2**32 - 5, 50)  # across the 32-bit boundary of the position
    parts = torch.cat([rng.random_words(keys, 3, 2**32 - 5, 20), rng.random_words(keys, 3, 2**32 + 15, 30)], dim=1)
    assert torch.equal(whole, parts)
    assert not torch.equal(rng.random_words(keys, 4, 0, 50), rng.random_words(keys, 3, 0, 50))
    assert torch.equal(rng.random_words(keys[1:], 3, 0, 10), rng.random_words(rng.keys_from_seeds([8]), 3, 0, 10))


@pytest.mark.parametrize("seed,error", [(-1, ValueError), ("a", TypeError), (1.5, TypeError), (True, TypeError)])
def test_bad_seeds(seed, error):
    with pytest.raises(error, match=r"seeds must be a non-negative int"):
        rng.keys_from_seeds([seed])


def permutations_seen(model, x):
    seen = []
    model.model.register_forward_hook(lambda mod, inp, out: seen.append(inp[0]))
    model(x)
    # Each sample's elements are distinct integers 0..n-1 in channel 0: the input reveals the permutation.
    return seen[0][..., 0].round().long()


def test_augment_draws_are_uniform_over_the_group():
    n, draws = 4, 24_000
    x = torch.arange(n, dtype=torch.float32).view(1, n, 1).expand(draws, n, 1).contiguous()
    for group in (groups.symmetric(n), groups.alternating(n), groups.dihedral(n)):
        model = symmetrize.Augment(torch.nn.Identity(), group, seed=3).train()
        perms = permutations_seen(model, x)
        index = {tuple(p): i for i, p in enumerate(group.elements().tolist())}
        counts = np.bincount([index[tuple(p)] for p in perms.tolist()], minlength=len(index))
        assert len(counts) == group.order() and stats.chisquare(counts).pvalue > 1e-4, group.name


def test_ensemble_members_draw_their_own_streams():
    n = 6
    x = torch.arange(n, dtype=torch.float32).view(1, n, 1).expand(8, n, 1).contiguous()
    solo = [symmetrize.Augment(torch.nn.Identity(), groups.symmetric(n)) for _ in range(2)]
    for model, seed in zip(solo, (3, 0)):
        symmetrize.reseed(model, seed)
    members = symmetrize.Augment(models.dense(n, 1, width=2, ensemble_size=2), groups.symmetric(n))
    symmetrize.reseed(members, [3, 0])
    seen = []
    members.model.register_forward_hook(lambda mod, inp, out: seen.append(inp[0]))
    members.train()(x.repeat(2, 1, 1))
    both = seen[0][..., 0].round().long()
    assert torch.equal(both[:8], permutations_seen(solo[0].train(), x))
    assert torch.equal(both[8:], permutations_seen(solo[1].train(), x))
    assert not torch.equal(both[:8], both[8:])


def test_evaluation_draws_do_not_depend_on_batching():
    model = symmetrize.SampledGroupAverage(models.dense(5, 2, width=4).double(), groups.symmetric(5), samples=1,
                                           eval_samples=3).eval()
    x = rand64(10, 5, 2)
    symmetrize.rewind(model, 7)
    whole = model(x)
    symmetrize.rewind(model, 7)
    halves = torch.cat([model(x[:4]), model(x[4:])])
    torch.testing.assert_close(whole, halves, rtol=0, atol=0)
    symmetrize.rewind(model, 8)
    assert not torch.equal(model(x), whole)
    with pytest.raises(ValueError, match=r"stream must be an int >= 1"):
        symmetrize.rewind(model, 0)
