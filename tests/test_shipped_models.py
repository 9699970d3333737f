"""Every shipped model, end to end through `gpfn predict`, on the bundled example."""

import csv

import numpy as np
import pytest
from click.testing import CliRunner

from gpfn_cli.main import main
from gpfn_core.data.dataset import read_dataset
from gpfn_core.example_data import FILES
from gpfn_core.linear.gblup import gblup
from gpfn_core.models.lookup import POPULATION_TYPES, list_models
from gpfn_core.tasks.predict import align

TYPES = sorted({t for t, p in POPULATION_TYPES.items() if any(m.get("prior") == p for _, m in list_models())
                and t != "wild"})


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    d = tmp_path_factory.mktemp("example")
    run = CliRunner().invoke
    assert run(main, ["parse", str(FILES["train"]), "--phenotypes", str(FILES["phenotypes"]), "-o",
                      str(d / "train.gpfn")]).exit_code == 0
    assert run(main, ["parse", str(FILES["target"]), "-o", str(d / "target.gpfn")]).exit_code == 0
    with open(FILES["truth"], newline="") as f:
        truth = {row["taxon"]: float(row["genetic_value"]) for row in csv.DictReader(f)}
    tr, tg = read_dataset(d / "train.gpfn"), read_dataset(d / "target.gpfn")
    al = align(tr, tg)
    r_gblup = np.corrcoef(gblup(al.train, tr.phenotype(), al.target).prediction, [truth[t] for t in tg.table.taxa])[0, 1]
    return d, truth, r_gblup


def test_every_population_type_has_a_shipped_model():
    assert set(TYPES) >= {"nam", "diverse", "ril", "silva", "recurrent", "universal"}


@pytest.mark.parametrize("population_type", TYPES)
def test_every_shipped_model_predicts_the_example(datasets, population_type, tmp_path):
    d, truth, r_gblup = datasets
    out = tmp_path / "p.csv"
    r = CliRunner().invoke(main, ["predict", "--population-type", population_type, "--train", str(d / "train.gpfn"),
                                  "--target", str(d / "target.gpfn"), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert f"population type {population_type})" in r.output
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [row["taxon"] for row in rows] == list(truth)
    mean, sd, q05, q95 = (np.array([float(row[k]) for row in rows]) for k in ("mean", "sd", "q05", "q95"))
    assert np.isfinite(mean).all() and (sd > 0).all() and (q05 <= mean).all() and (mean <= q95).all()
    r_model = np.corrcoef(mean, [truth[t] for t in truth])[0, 1]
    # one draw of one NAM trait, scored by models of other population types too: within 0.1 of GBLUP
    assert r_model > r_gblup - 0.1
    inside = np.mean([(lo <= truth[t] <= hi) for t, lo, hi in zip(truth, q05, q95)])
    assert 0.7 <= inside <= 1.0


def stacking_gaps(meta: dict) -> list[str]:
    """The anchors gpfn computes that a model file's stacking never weighed, per fitted size
    (an anchor tried only from some size on, ``ANCHOR_FROM``, is missed only at sizes from it)."""
    from gpfn_core.net.preprocess import anchors_at

    gaps = []
    for e in (meta.get("stack") or {}).get("sizes", []):
        missing = set(anchors_at(int(e.get("n_train", 0)))) - set(e.get("anchor_weights") or {})
        if missing:
            gaps.append(f"{e.get('n_train')}: {sorted(missing)}")
    return gaps


def test_every_shipped_stacking_weighs_every_anchor_gpfn_computes():
    """A stacking fitted before an anchor existed gives it weight 0 without having tried it (the
    file then predicts as if the anchor could not help): when an anchor is added, every shipped
    model is restacked (``gpfn stack``), and this catches one that was not."""
    shipped = list_models()
    assert shipped
    for path, meta in shipped:
        assert (meta.get("stack") or {}).get("sizes"), f"{path.name}: no stacking"
        gaps = stacking_gaps(meta)
        assert not gaps, f"{path.name} was stacked without {gaps}"


def test_a_stacking_fitted_before_an_anchor_existed_is_caught():
    meta = {"stack": {"sizes": [{"n_train": 30, "weight": 0.5, "anchor_weights": {"gblup_bma": 0.5, "loo_choice": 0.0}}]}}
    assert stacking_gaps(meta) == ["30: ['gblup_family', 'gblup_qtl']"]
    four = {"gblup_bma": 0.5, "loo_choice": 0.0, "gblup_family": 0.0, "gblup_qtl": 0.5}
    large = {"stack": {"sizes": [{"n_train": 986, "weight": 0.0, "anchor_weights": four},
                                 {"n_train": 2471, "weight": 0.0, "anchor_weights": four}]}}
    assert stacking_gaps(large) == ["2471: ['bayesb']"]  # BayesB is tried from 2,000 lines on, not below
