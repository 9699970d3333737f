import numpy as np
import pytest

from gpfn_core import Draw, GeneticMap, GenotypeTable, Population, ValidationError


def small_map():
    return GeneticMap(np.array([0, 0, 1, 1, 1]), np.array([0.1, 0.5, 0.0, 0.2, 0.9]), np.array([1.0, 1.0]))


def test_genetic_map_offsets_and_scaling():
    gm = small_map()
    np.testing.assert_array_equal(gm.offsets, [0, 2, 5])
    assert gm.scaled(2.0).total_length == pytest.approx(4.0)
    with pytest.raises(ValidationError, match="scale"):
        gm.scaled(0)


@pytest.mark.parametrize(
    "chrom,pos,lengths,msg",
    [
        ([1, 0], [0.1, 0.2], [1.0, 1.0], "non-decreasing"),
        ([0, 0], [0.5, 0.1], [1.0], "sorted"),
        ([0], [1.5], [1.0], "within"),
        ([0], [0.5], [0.0], "positive"),
    ],
)
def test_genetic_map_rejects_bad_input(chrom, pos, lengths, msg):
    with pytest.raises(ValidationError, match=msg):
        GeneticMap(np.array(chrom), np.array(pos), np.array(lengths))


def test_population_dosage_take_select_concat(rng):
    gm = small_map()
    h = rng.integers(0, 2, (4, 2, 5)).astype(np.uint8)
    pop = Population.from_haplotypes(h, gm)
    np.testing.assert_array_equal(pop.haplotypes, h)
    np.testing.assert_array_equal(pop.dosage(), h.sum(1))
    np.testing.assert_array_equal(pop.dosage([4, 1]), h.sum(1)[:, [4, 1]])
    np.testing.assert_array_equal(pop.take([2, 0]).haplotypes, h[[2, 0]])
    sub = pop.select_loci(np.array([1, 3]))
    np.testing.assert_array_equal(sub.haplotypes, h[..., [1, 3]])
    assert sub.genetic_map.n_markers == 2
    both = Population.concat([pop, pop.take([1])])
    assert len(both) == 5
    with pytest.raises(ValidationError):
        Population.from_haplotypes(h * 2, gm)


def test_draw_and_table_validate_shapes():
    x = np.zeros((4, 3), np.int8)
    with pytest.raises(ValidationError, match="n_train"):
        Draw(x, np.zeros(4, np.float32), n_train=4)
    with pytest.raises(ValidationError, match="y must"):
        Draw(x, np.zeros(3, np.float32), n_train=2)
    with pytest.raises(ValidationError, match="dosage"):
        GenotypeTable(np.array(["a"]), np.array(["m1"]), np.array(["1"]), np.array([1]), np.array(["A"]),
                      np.array(["C"]), np.zeros((2, 1), np.int8))
