import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gpfn_core import bits


@given(hnp.arrays(np.uint8, st.tuples(st.integers(1, 4), st.just(2), st.integers(1, 200)), elements=st.integers(0, 1)))
def test_pack_unpack_roundtrip(h):
    packed = bits.pack(h)
    assert packed.dtype == np.uint64
    assert packed.shape == h.shape[:-1] + (bits.n_words(h.shape[-1]),)
    np.testing.assert_array_equal(bits.unpack(packed, h.shape[-1]), h)


@given(st.integers(1, 150), st.data())
def test_gather_reads_the_right_bits(m, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    h = rng.integers(0, 2, (3, 2, m)).astype(np.uint8)
    loci = rng.integers(0, m, rng.integers(1, 20))
    np.testing.assert_array_equal(bits.gather(bits.pack(h), loci), h[..., loci])


@given(st.integers(1, 150), st.data())
def test_dosage_is_the_sum_of_the_two_haplotypes_bits(m, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    h = rng.integers(0, 2, (4, 2, m)).astype(np.uint8)
    loci = rng.integers(0, m, rng.integers(0, 30))
    d = bits.dosage(bits.pack(h), loci)
    assert d.dtype == np.int8 and d.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(d, h[:, 0, loci].astype(np.int8) + h[:, 1, loci])


@given(st.integers(1, 150), st.data())
def test_weighted_bit_sums_equal_the_dense_sums(m, data):
    """Byte-table sums (repeated loci add; ``other``: the XOR of two haplotypes) against the unpacked bits."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    h = rng.integers(0, 2, (5, 2, m)).astype(np.uint8)
    loci = rng.integers(0, m, rng.integers(1, 40))
    w = rng.standard_normal(loci.size)
    packed = bits.pack(h)
    np.testing.assert_allclose(bits.weighted_bit_sums(packed, loci, w), h[..., loci] @ w, atol=1e-12)
    xor = (h[:, 0] ^ h[:, 1])[:, loci] @ w
    np.testing.assert_allclose(bits.weighted_bit_sums(packed[:, 0], loci, w, other=packed[:, 1]), xor, atol=1e-12)
    assert np.all(bits.weighted_bit_sums(packed, loci, np.zeros(loci.size)) == 0)


@given(st.integers(1, 6), st.integers(1, 200), st.data())
def test_crossover_masks_match_dense_parity(n, m, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    k = int(rng.integers(0, 40))
    g = rng.integers(0, n, k)
    loc = rng.integers(0, m + 5, k)  # some past the end, which must be ignored
    dense = np.zeros((n, m + 6), np.int64)
    np.add.at(dense, (g, loc), 1)
    expected = (np.cumsum(dense, axis=1)[:, :m] & 1).astype(np.uint8)
    got = bits.unpack(bits.crossover_masks(n, m, g, loc), m)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("share", [0.02, 0.9])  # a few QTL (read by gather), a marker panel (unpacked whole)
def test_dosage_of_few_and_of_most_loci(share):
    rng = np.random.default_rng(3)
    h = rng.integers(0, 2, (7, 2, 1000)).astype(np.uint8)
    loci = np.sort(rng.choice(1000, int(share * 1000), replace=False))
    d = bits.dosage(bits.pack(h), loci)
    assert d.dtype == np.int8 and d.flags["C_CONTIGUOUS"] and d.shape == (7, loci.size)
    np.testing.assert_array_equal(d, h[:, 0, loci].astype(np.int8) + h[:, 1, loci])
