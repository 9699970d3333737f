"""Bit-packed haplotypes.

Haplotypes are stored 64 loci to a ``uint64`` word, locus ``j`` at bit ``j & 63`` of
word ``j >> 6`` (little-endian bit order), so that meiosis touches ``m / 64`` words per
gamete instead of ``m`` bytes.  Padding bits past the last locus are undefined and
never read back.
"""

from __future__ import annotations

import numpy as np

ALL_ONES = np.uint64(0xFFFF_FFFF_FFFF_FFFF)


def n_words(n_loci: int) -> int:
    """Number of uint64 words that hold ``n_loci`` bits."""
    return (int(n_loci) + 63) // 64


def pack(haplotypes: np.ndarray) -> np.ndarray:
    """Pack a 0/1 array ``[..., m]`` into ``uint64 [..., ceil(m/64)]``."""
    h = np.asarray(haplotypes, dtype=np.uint8)
    m = h.shape[-1]
    w = n_words(m)
    pad = w * 64 - m
    if pad:
        h = np.concatenate([h, np.zeros(h.shape[:-1] + (pad,), np.uint8)], axis=-1)
    packed = np.packbits(h, axis=-1, bitorder="little")
    return np.ascontiguousarray(packed).view("<u8").astype(np.uint64, copy=False)


def unpack(packed: np.ndarray, n_loci: int) -> np.ndarray:
    """Inverse of :func:`pack`: ``uint64 [..., W]`` to ``uint8 [..., n_loci]``."""
    as_bytes = np.ascontiguousarray(packed).astype("<u8", copy=False).view(np.uint8)
    return np.unpackbits(as_bytes, axis=-1, count=int(n_loci), bitorder="little")


def gather(packed: np.ndarray, loci: np.ndarray) -> np.ndarray:
    """Read the bits at ``loci`` from ``uint64 [..., W]``: returns ``uint8 [..., len(loci)]``.

    Costs ``len(loci)`` byte reads per row, never unpacks whole haplotypes.
    """
    loci = np.asarray(loci, dtype=np.int64)
    as_bytes = np.ascontiguousarray(packed).astype("<u8", copy=False).view(np.uint8)
    out = np.take(as_bytes, loci >> 3, axis=-1)  # take, and shifts in place: 2x fancy indexing's speed
    out >>= (loci & 7).astype(np.uint8)
    out &= np.uint8(1)
    return out


def dosage(packed: np.ndarray, loci: np.ndarray) -> np.ndarray:
    """int8 ``[n, len(loci)]``: the sum of the two haplotypes' bits at ``loci`` of
    ``uint64 [n, 2, W]``.

    A few loci (QTL): one haplotype at a time by :func:`gather` (no ``[n, 2, len(loci)]``
    temporary).  A quarter of the loci or more (a marker panel): whole haplotypes by
    ``np.unpackbits``, which is vectorised over bits, then the columns wanted (1.6x
    :func:`gather` for a 20,000-marker panel of 22,000 loci)."""
    loci = np.asarray(loci, dtype=np.int64)
    n_bits = packed.shape[-1] * 64
    if 4 * loci.size < n_bits or not loci.size:
        out = gather(packed[:, 0], loci)
        out += gather(packed[:, 1], loci)
        return out.view(np.int8)
    top = int(loci.max()) + 1  # bits past the last locus wanted are never unpacked
    as_bytes = np.ascontiguousarray(packed).astype("<u8", copy=False).view(np.uint8)
    both = np.unpackbits(as_bytes, axis=-1, count=top, bitorder="little")  # [n, 2, top]
    total = both[:, 0]
    total += both[:, 1]
    return np.take(total, loci, axis=-1).view(np.int8)


_BYTE_BITS = ((np.arange(256)[:, None] >> np.arange(8)) & 1).astype(np.float64)  # [256, 8]: the bits of each byte
_ROWS_PER_PASS = 64  # rows looked up at a time (keeps the temporaries in cache)


def weighted_bit_sums(packed: np.ndarray, loci: np.ndarray, weights: np.ndarray,
                      other: np.ndarray | None = None) -> np.ndarray:
    """``sum_j weights[j] * bit(loci[j])`` for every row of ``uint64 [..., W]``: float64 ``[...]``.

    By byte tables, never unpacking: the weights are summed per locus (repeated loci add),
    each byte position that carries weight gets a 256-entry table of its bit patterns' sums,
    and a row's sum is one table lookup per byte, where :func:`gather` reads a byte per locus
    and a dense ``[..., len(loci)]`` matrix is formed.  With ``other`` (same shape as
    ``packed``), the bits are those of ``packed XOR other`` (e.g. heterozygosity).
    """
    as_bytes = np.ascontiguousarray(packed).astype("<u8", copy=False).view(np.uint8)
    if other is not None:
        as_bytes = as_bytes ^ np.ascontiguousarray(other).astype("<u8", copy=False).view(np.uint8)
    nb = as_bytes.shape[-1]
    per_locus = np.zeros(nb * 8)
    np.add.at(per_locus, np.asarray(loci, dtype=np.int64), np.asarray(weights, dtype=np.float64))
    per_byte = per_locus.reshape(nb, 8)
    used = np.flatnonzero(per_byte.any(1))
    lead = as_bytes.shape[:-1]
    if not used.size:
        return np.zeros(lead)
    table = (per_byte[used] @ _BYTE_BITS.T).ravel()  # [U * 256]: byte position u, value v at u * 256 + v
    offset = np.arange(used.size, dtype=np.intp) * 256
    rows = as_bytes.reshape(-1, nb)
    out = np.empty(len(rows))
    for lo in range(0, len(rows), _ROWS_PER_PASS):
        block = rows[lo : lo + _ROWS_PER_PASS, used]
        out[lo : lo + len(block)] = table[block + offset].sum(1)
    return out.reshape(lead)


def crossover_masks(n_gametes: int, n_loci: int, gamete: np.ndarray, locus: np.ndarray) -> np.ndarray:
    """Packed masks whose bit ``j`` is the parity of toggles at loci ``<= j``.

    ``gamete[i], locus[i]`` is one toggle: from ``locus[i]`` on, gamete ``gamete[i]``
    reads the other haplotype.  Two toggles at the same place cancel.  Toggles at
    ``locus >= n_loci`` are ignored.  Work is ``O(toggles + n_gametes * m / 64)``.
    """
    w = n_words(n_loci)
    keep = locus < n_loci
    g = gamete[keep].astype(np.int64)
    k = locus[keep].astype(np.int64)
    word = k >> 6
    # Inside the word: a toggle at bit b flips bits b..63.
    words = np.zeros((n_gametes, w), np.uint64)
    np.bitwise_xor.at(words, (g, word), ALL_ONES << (k & 63).astype(np.uint64))
    # Across words: a toggle in word i flips every later word entirely.
    flips = np.bincount(g * (w + 1) + word + 1, minlength=n_gametes * (w + 1))
    parity = (np.cumsum(flips.reshape(n_gametes, w + 1)[:, :w], axis=1) & 1).astype(np.int64)
    return words ^ (-parity).view(np.uint64)
