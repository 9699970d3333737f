"""``gpfn trainset``: which candidates to phenotype for the targets' sake."""

import numpy as np
import pytest
from click.testing import CliRunner
from gpfn_cli.main import main

from gpfn_core.errors import GpfnError
from gpfn_core.tasks.trainset import choose_training, reliability
from tests.helpers import dataset, read


def two_families(rng, per=40, m=300):
    """Lines of two unrelated families (each a mosaic of its own two founders)."""
    founders = rng.choice(np.array([0, 2]), size=(4, m)).astype(np.int8)
    lines = []
    for f in (0, 1):
        pick = rng.random((per, m)) < 0.5
        lines.append(np.where(pick, founders[2 * f], founders[2 * f + 1]))
    return np.concatenate(lines).astype(np.int8)


def test_the_chosen_lines_are_the_targets_relatives_and_beat_random_ones():
    rng = np.random.default_rng(0)
    x = two_families(rng)
    candidates, targets = x[np.r_[0:30, 40:70]], x[70:80]  # the targets are of the second family
    order, path = choose_training(candidates, targets, 10)
    assert (order >= 30).all()  # all ten from the targets' family
    assert (np.diff(path) > 0).all()
    assert path[-1] == pytest.approx(reliability(candidates, targets, order), abs=1e-6)
    random_sets = [reliability(candidates, targets, rng.choice(60, 10, replace=False)) for _ in range(20)]
    assert path[-1] > max(random_sets)


def test_lines_already_phenotyped_stay_in_and_are_not_chosen_again():
    rng = np.random.default_rng(1)
    x = two_families(rng)
    fixed = np.zeros(70, bool)
    fixed[[45, 50]] = True
    order, path = choose_training(x[:70], x[70:], 5, fixed=fixed)
    assert not set(order) & {45, 50} and len(set(order)) == 5
    assert path[-1] == pytest.approx(reliability(x[:70], x[70:], np.r_[45, 50, order]), abs=1e-6)
    assert path[0] > reliability(x[:70], x[70:], np.array([45, 50]))
    with pytest.raises(GpfnError, match="between 1 and the 68 candidates"):
        choose_training(x[:70], x[70:], 69, fixed=fixed)


def test_gpfn_trainset_end_to_end(tmp_path):
    rng = np.random.default_rng(2)
    x = two_families(rng)
    taxa = [f"L{i}" for i in range(80)]
    cand = dataset(tmp_path / "c.gpfn", x[:70], taxa[:70])
    tg = dataset(tmp_path / "t.gpfn", x[70:], taxa[70:])
    done = dataset(tmp_path / "done.gpfn", x[[0, 41]], ["L0", "L41"], y=[1.0, 2.0])
    out = tmp_path / "chosen.csv"
    r = CliRunner().invoke(main, ["trainset", "--candidates", str(cand), "--targets", str(tg), "--size", "8",
                                  "--phenotyped", str(done), "-o", str(out)])
    assert r.exit_code == 0, r.output
    rows = read(out)
    assert [int(row["rank"]) for row in rows] == list(range(1, 9))
    assert not {row["taxon"] for row in rows} & {"L0", "L41"}
    assert "already_phenotyped: 2" in r.output
    chosen = float(r.output.split("mean_target_reliability: ")[1].split()[0])
    randomly = float(r.output.split("random_training_set_reliability: ")[1].split()[0])
    assert chosen > randomly
    r = CliRunner().invoke(main, ["trainset", "--candidates", str(cand), "--targets", str(tg), "--size", "8",
                                  "-o", str(out)])
    assert r.exit_code == 1 and "already exists" in r.output
