"""Counter-based random words: randomness that is a pure function of (key, stream, position).

The random wrappers (``symlib.symmetrize``) must give ensemble member e exactly the permutations
its solo run gets, whatever the other members are, and must do it for all members in one
vectorized call (no Python loop over members or samples), inside ``torch.compile(fullgraph=True)``
graphs, and on any device. A stateful ``torch.Generator`` per member satisfies the first point
only with a Python call per member per step, and breaks compiled graphs. A counter-based
generator (in the spirit of Philox, Salmon et al. 2011) satisfies all of them: word j of member e
is ``hash(key_e, stream, offset + j)``, so a member's stream depends on its own key and position
only, and the state to save or resume is a handful of integers.

The hash is Wellons' "lowbias32" integer mixer applied in rounds. All arithmetic stays below
2**63 in int64 (multiplications are split into 16-bit halves), so it is exact on every backend and
never relies on signed overflow. It is a statistical generator for sampling permutations, not a
cryptographic one; ``tests/test_rng.py`` checks uniformity and independence with chi-squared tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch

__all__ = ["keys_from_seeds", "random_words", "check_seed", "WORD"]

WORD = 2**32  # words are int64 values in [0, WORD)
_MASK32 = WORD - 1


def _mul32(x: torch.Tensor, c: int) -> torch.Tensor:
    """(x * c) mod 2**32 for x in [0, 2**32), without any intermediate above 2**48."""
    lo, hi = c & 0xFFFF, c >> 16
    return (x * lo + (((x * hi) & 0xFFFF) << 16)) & _MASK32


def _mix(x: torch.Tensor) -> torch.Tensor:
    """lowbias32: a bijection of [0, 2**32) with full avalanche (each input bit flips ~half the output bits)."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def check_seed(seed, name: str = "seed") -> int:
    """A seed is a non-negative Python int (numpy integers accepted); return it as int."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{name} must be a non-negative int, got {seed!r} ({type(seed).__name__})")
    if seed < 0:
        raise ValueError(f"{name} must be a non-negative int, got {seed!r}")
    return int(seed)


def keys_from_seeds(seeds: Sequence[int], stream: int = 0) -> torch.Tensor:
    """One 64-bit key per seed, as a LongTensor (E, 2) of two 32-bit words.

    ``stream`` separates independent generators fed from the same seed (e.g. two random wrappers
    in one model). numpy's SeedSequence spreads nearby seeds over the whole key space.
    """
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Iterable):
        raise TypeError(f"seeds must be a sequence of non-negative ints, got {seeds!r} ({type(seeds).__name__})")
    seeds = [check_seed(s, "seeds") for s in seeds]
    stream = check_seed(stream, "stream")
    words = [np.random.SeedSequence([s, stream]).generate_state(2, dtype=np.uint32) for s in seeds]
    return torch.tensor(np.array(words, dtype=np.int64).reshape(len(seeds), 2), dtype=torch.long)


def _check_counter(name: str, value) -> None:
    """A non-negative int below 2**63, or a 0-dim integer tensor (whose value is not looked at)."""
    if isinstance(value, torch.Tensor):
        if value.ndim != 0 or value.dtype.is_floating_point or value.dtype.is_complex or value.dtype == torch.bool:
            raise TypeError(f"{name} must be an int or a 0-dim integer tensor, got a tensor of shape "
                            f"{tuple(value.shape)} and dtype {value.dtype}")
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a non-negative int, got {value!r} ({type(value).__name__})")
    if not 0 <= value < 2**63:
        raise ValueError(f"{name} must be a non-negative int below 2**63, got {value!r}")


def random_words(keys: torch.Tensor, stream: int | torch.Tensor, offset: int | torch.Tensor, count: int,
                 check: bool = True) -> torch.Tensor:
    """Words ``hash(key_e, stream, offset + j)`` for j < count: LongTensor (E, count) in [0, 2**32).

    keys: (E, 2) from ``keys_from_seeds``; stream and offset: ints or 0-dim int64 tensors (offset
    may exceed 2**32). Drawing count words at offset o and then count' words at o + count gives
    exactly the words of one draw of count + count' at o: chunking never changes the stream.
    ``check=False`` skips the argument checks (for symlib's own calls, which pass its own buffers).
    """
    if not isinstance(check, bool):
        raise TypeError(f"check must be a bool, got {check!r}")
    if check:
        if not isinstance(keys, torch.Tensor):
            raise TypeError(f"keys must be a LongTensor (E, 2) from keys_from_seeds, got {type(keys).__name__}")
        if keys.dtype != torch.long:
            raise TypeError(f"keys must be a LongTensor (E, 2) from keys_from_seeds, got dtype {keys.dtype}")
        if keys.ndim != 2 or keys.shape[1] != 2:
            raise ValueError(f"keys must be a LongTensor (E, 2) from keys_from_seeds, got shape {tuple(keys.shape)} "
                             f"and dtype {keys.dtype}")
        _check_counter("stream", stream)
        _check_counter("offset", offset)
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)):
            raise TypeError(f"count must be a non-negative int, got {count!r} ({type(count).__name__})")
        if count < 0:
            raise ValueError(f"count must be a non-negative int, got {count!r}")
    device = keys.device
    stream = torch.as_tensor(stream, dtype=torch.long, device=device)
    offset = torch.as_tensor(offset, dtype=torch.long, device=device)
    position = offset + torch.arange(count, dtype=torch.long, device=device)  # (count,)
    # Per member: fold the key's two words and the stream's two words into one state word.
    state = _mix(keys[:, 0] ^ 0x9E3779B9)
    state = _mix(state ^ keys[:, 1])
    state = _mix(state ^ (stream & _MASK32))
    state = _mix(state ^ ((stream >> 32) & _MASK32)).unsqueeze(1)  # (E, 1)
    # Per position: the high word then the low word of the 64-bit position, then two more rounds.
    high = _mix(state ^ ((position >> 32) & _MASK32))
    out = _mix(high ^ (position & _MASK32))
    return _mix(out ^ 0x85EBCA6B)
