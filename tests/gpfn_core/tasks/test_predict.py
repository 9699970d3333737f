import numpy as np
import pytest
import torch
from click.testing import CliRunner

from gpfn_cli.main import main
from gpfn_core import GpfnError
from gpfn_core.net.modelfile import load_model
from gpfn_core.tasks.predict import predict
from helpers import dataset, read, setup


def test_predict_writes_csv_on_the_phenotype_scale(tmp_path, model_path, draw):
    tr, tg, nt = setup(tmp_path, draw, n_train=50)
    rep = predict(model_path, tr, tg, tmp_path / "out.csv")
    rows = read(tmp_path / "out.csv")
    assert list(rows[0]) == ["taxon", "mean", "sd", "q05", "q95"] and len(rows) == draw.n - 50
    mean, sd = np.array([float(r["mean"]) for r in rows]), np.array([float(r["sd"]) for r in rows])
    q05, q95 = np.array([float(r["q05"]) for r in rows]), np.array([float(r["q95"]) for r in rows])
    assert np.isfinite(mean).all() and (sd > 0).all() and (q05 <= mean + 1e-9).all() and (mean <= q95 + 1e-9).all()
    y = draw.y[:50]
    assert abs(mean.mean() - y.mean()) < 3 * y.std()  # phenotype scale, not standardised
    assert rep["shared_markers"] == 300 and rep["ensemble_members"] == 1
    predict(model_path, tr, tg, tmp_path / "z.csv", normalized=True)
    z = np.array([float(r["mean"]) for r in read(tmp_path / "z.csv")])
    np.testing.assert_allclose(z * y.std() + y.mean(), mean, rtol=1e-4, atol=1e-4)


def test_markers_match_by_position_when_ids_differ(tmp_path, model_path, draw):
    tr, _, _ = setup(tmp_path, draw, n_train=50)
    renamed = dataset(tmp_path / "renamed.gpfn", draw.x[50:], [f"u{i}" for i in range(draw.n - 50)],
                      markers=[f"chip_{j}" for j in range(300)])
    rep = predict(model_path, tr, renamed, tmp_path / "r.csv")
    assert rep["matched_by"] == "chromosome:position" and rep["shared_markers"] == 300


def test_swapped_alleles_are_flipped(tmp_path, model_path, draw):
    a = tmp_path / "a"
    b = tmp_path / "b"
    a.mkdir()
    b.mkdir()
    tr, tg, _ = setup(a, draw, n_train=50)
    predict(model_path, tr, tg, a / "out.csv")
    tr2, tg2, _ = setup(b, draw, swap=True, n_train=50)
    rep = predict(model_path, tr2, tg2, b / "out.csv")
    assert rep["flipped_ref_alt"] == 300
    assert read(a / "out.csv") == read(b / "out.csv")


def test_large_training_set_uses_an_ensemble(tmp_path, model_path, draw):
    tr, tg, nt = setup(tmp_path, draw)  # 120 training taxa > the model's context of 50
    r = CliRunner().invoke(main, ["predict", "--model", str(model_path), "--train", str(tr), "--target", str(tg),
                                  "-o", str(tmp_path / "e.csv")])
    assert r.exit_code == 0, r.output
    assert "averaged" in r.output and len(read(tmp_path / "e.csv")) == draw.n - nt


def test_every_training_individual_reaches_the_targets_beyond_the_context(model_path, draw):
    """120 training individuals, a context of 50: phenotypes outside the transformer's subset still
    move every prediction (through the smoother columns, computed from all of them)."""
    from gpfn_core.tasks.predict import predict_arrays

    model, bar, meta = load_model(model_path)
    nt = draw.n_train
    x, y, xv = draw.x[:nt], draw.y[:nt].astype(float), draw.x[nt:]
    base = predict_arrays(model, bar, meta, x, y, xv, ensemble=1, seed=0)
    assert base["members"] == 1 and base["context"] < nt
    seen = np.sort(np.random.default_rng(0).choice(nt, base["context"], replace=False))  # the subset it drew
    unseen = np.setdiff1d(np.arange(nt), seen)
    y2 = y.copy()
    y2[unseen] += 2.0 * y.std() * np.where(np.arange(unseen.size) % 2, 1, -1)
    moved = predict_arrays(model, bar, meta, x, y2, xv, ensemble=1, seed=0)["mean"]
    assert np.all(np.abs(moved - base["mean"]) > 1e-6)


def test_bad_input_is_refused_and_nothing_written(tmp_path, model_path, draw):
    tr, tg, nt = setup(tmp_path, draw, n_train=50)
    out = tmp_path / "bad.csv"
    nophen = dataset(tmp_path / "nophen.gpfn", draw.x[:50], [f"t{i}" for i in range(50)])
    with pytest.raises(GpfnError, match="has no phenotypes"):
        predict(model_path, nophen, tg, out)
    other = dataset(tmp_path / "other.gpfn", draw.x[50:], [f"u{i}" for i in range(draw.n - 50)],
                    markers=[f"x{j}" for j in range(300)], chrom="7")
    with pytest.raises(GpfnError, match="share only 0 markers"):
        predict(model_path, tr, other, out)
    const = dataset(tmp_path / "const.gpfn", draw.x[:50], [f"t{i}" for i in range(50)], np.ones(50))
    with pytest.raises(GpfnError, match="constant"):
        predict(model_path, const, tg, out)
    junk = tmp_path / "junk.gpfn"
    junk.write_bytes(b"not a model")
    r = CliRunner().invoke(main, ["predict", "--model", str(junk), "--train", str(tr), "--target", str(tg),
                                  "-o", str(out)])
    assert r.exit_code == 1 and "not a gpfn model file" in r.output
    assert not out.exists() and not list(tmp_path.glob(".bad.csv*"))


def test_ridge_loo_matches_scikit_learn_ridge_cv(draw):
    sk = pytest.importorskip("sklearn.linear_model")
    from gpfn_core.linear.baselines import ridge
    from gpfn_core.linear.kinship import relationship
    from gpfn_core.data.encoding import Encoding

    nt = 80
    x_tr, y, x_tg = draw.x[:nt], draw.y[:nt].astype(float), draw.x[nt:]
    pred = ridge(x_tr, y, x_tg)
    enc = Encoding.fit(x_tr)
    xt, xv = enc.transform(x_tr).astype(float), enc.transform(x_tg).astype(float)
    scale = (xt**2).sum() / nt
    lam = np.maximum(np.linalg.eigvalsh(relationship(xt, xv)[0]), 0).mean()
    alphas = np.logspace(-3, 3, 25) * lam * scale
    ref = sk.RidgeCV(alphas=alphas, fit_intercept=True).fit(xt, y)  # efficient LOO, same grid
    np.testing.assert_allclose(pred, ref.predict(xv), rtol=1e-5, atol=1e-6)


def test_elastic_net_finds_a_sparse_signal_and_agrees_with_scikit_learn(rng):
    sk = pytest.importorskip("sklearn.linear_model")
    from gpfn_core.linear.baselines import elastic_net
    from gpfn_core.data.encoding import Encoding

    d = rng.integers(0, 3, (300, 600)).astype(np.int8)
    g = 1.0 * d[:, 10] - 1.0 * d[:, 200] + 0.8 * d[:, 400]  # three large QTL
    y = g + rng.normal(0, 0.6, 300)
    pred = elastic_net(d[:200], y[:200], d[200:], seed=4)
    assert np.corrcoef(pred, g[200:])[0, 1] > 0.9  # where GBLUP spreads the signal over 600 markers
    enc = Encoding.fit(d[:200])
    alpha = sk.ElasticNetCV(l1_ratio=0.5, cv=sk_kfold(4), max_iter=2000, tol=1e-3,
                            **({"n_alphas": 20} if "n_alphas" in sk.ElasticNetCV().get_params() else {"alphas": 20})
                            ).fit(enc.transform(d[:200]), y[:200]).alpha_
    ref = sk.ElasticNet(alpha=alpha, l1_ratio=0.5, max_iter=2000, tol=1e-3).fit(enc.transform(d[:200]), y[:200])
    np.testing.assert_allclose(pred, ref.predict(enc.transform(d[200:])), rtol=1e-4, atol=1e-6)
    r = CliRunner().invoke(main, ["evaluate", "--methods", "gblup,ElasticNet"])
    assert r.exit_code == 1 and "give DATASET" in r.output  # the name is known; the data is missing


def sk_kfold(seed):
    from sklearn.model_selection import KFold

    return KFold(3, shuffle=True, random_state=seed)


def test_evaluate_cli_folds_and_png(tmp_path, model_path, draw):
    tr, _, _ = setup(tmp_path, draw)
    png = tmp_path / "eval.png"
    r = CliRunner().invoke(main, ["evaluate", str(tr), "--model", str(model_path), "--folds", "3", "--png", str(png),
                                  "--json"])
    assert r.exit_code == 0, r.output
    import json

    out = json.loads(r.output[: r.output.rindex("}") + 1])
    assert set(out["summary"]) == {"GPFN", "GBLUP", "ridge"} and len(out["folds"]["GBLUP"]) == 3
    assert out["summary"]["GBLUP"]["pearson"] > 0.2  # the baseline works on this draw
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = CliRunner().invoke(main, ["evaluate", "--model", str(model_path)])
    assert r.exit_code == 1 and "give DATASET" in r.output


def test_evaluate_with_the_bayesian_methods(tmp_path, model_path, draw):
    import json

    tr, _, _ = setup(tmp_path, draw)
    png = tmp_path / "eval.png"
    r = CliRunner().invoke(main, ["evaluate", str(tr), "--folds", "2", "--methods", "GBLUP,bayesb,BayesCpi",
                                  "--iterations", "300", "--burn-in", "100", "--json", "--png", str(png)])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output[: r.output.rindex("}") + 1])
    assert list(out["summary"]) == ["GBLUP", "BayesB", "BayesCpi"]  # no model needed without gpfn
    for m in ("BayesB", "BayesCpi"):
        assert len(out["folds"][m]) == 2 and out["summary"][m]["pearson"] > 0.1 and out["summary"][m]["seconds"] > 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = CliRunner().invoke(main, ["evaluate", str(tr), "--methods", "gblup,bayesz"])
    assert r.exit_code == 1 and "unknown bayesz" in r.output
    r = CliRunner().invoke(main, ["evaluate", str(tr), "--methods", "bayesb", "--iterations", "10", "--burn-in", "10"])
    assert r.exit_code == 1 and "burn-in" in r.output


def test_estimator_equals_gpfn_predict_and_follows_sklearn(tmp_path, model_path, draw):
    from sklearn.base import clone
    from sklearn.model_selection import cross_val_score

    from gpfn import GPFNRegressor

    # beyond the tiny model's context of 50 (an ensemble of subsets), with missing calls
    x = draw.x.copy()
    x[::5, ::7] = -1
    nt = draw.n_train
    tr = dataset(tmp_path / "train.gpfn", x[:nt], [f"t{i}" for i in range(nt)], draw.y[:nt])
    tg = dataset(tmp_path / "target.gpfn", x[nt:], [f"v{i}" for i in range(draw.n - nt)])
    r = CliRunner().invoke(main, ["predict", "--model", str(model_path), "--train", str(tr), "--target", str(tg),
                                  "-o", str(tmp_path / "p.csv")])
    assert r.exit_code == 0, r.output
    cli = read(tmp_path / "p.csv")
    X = np.where(x < 0, np.nan, x).astype(float)
    est = GPFNRegressor(model=str(model_path)).fit(X[:nt], draw.y[:nt])
    mean, sd = est.predict(X[nt:], return_std=True)
    q = est.predict_quantiles(X[nt:], [0.05, 0.5, 0.95])
    for col, got in (("mean", mean), ("sd", sd), ("q05", q[:, 0]), ("q95", q[:, 2])):
        np.testing.assert_allclose(got, [float(row[col]) for row in cli], rtol=2e-5, atol=1e-6)
    assert q.shape == (draw.n - nt, 3) and (q[:, 0] <= q[:, 1]).all() and (q[:, 1] <= q[:, 2]).all()
    assert np.array_equal(est.predict(X[nt:]), mean)
    # scikit-learn conventions: clone keeps the parameters, cross_val_score runs the usual protocol
    c = clone(est)
    assert c.get_params() == est.get_params() and not hasattr(c, "X_train_")
    scores = cross_val_score(GPFNRegressor(model=str(model_path)), X[:nt], draw.y[:nt], cv=3)
    assert scores.shape == (3,) and np.isfinite(scores).all()


def test_estimator_rejects_bad_input(model_path):
    from sklearn.exceptions import NotFittedError

    from gpfn import GPFNRegressor
    from gpfn_core import ValidationError

    est = GPFNRegressor(model=str(model_path))
    with pytest.raises(NotFittedError):
        est.predict(np.zeros((2, 5)))
    with pytest.raises(ValidationError, match="row 1, column 2 is 3.0"):
        est.fit(np.array([[0, 1, 2], [0, 1, 3], [2, 2, 0]]), [1.0, 2.0, 3.0])
    with pytest.raises(ValidationError, match=r"y must be \[3\] or \[3, traits\] .* got shape \(2,\)"):
        est.fit(np.zeros((3, 4)), [1.0, 2.0])
    est.fit(np.array([[0, 1, 2, 1], [0, 1, 1, 2], [2, 2, 0, 1], [1, 0, 1, 1]]), [1.0, 2.0, 3.0, 1.5])
    with pytest.raises(ValidationError, match="3 markers, but the training genotypes had 4"):
        est.predict(np.zeros((2, 3)))
    with pytest.raises(ValidationError, match="quantiles must be in"):
        est.predict_quantiles(np.zeros((2, 4)), [0.0, 0.5])


def test_the_stacking_is_fitted_by_fit_and_blends_every_prediction(model_path, draw):
    """The tiny model's fit recorded stacking weights at each size; predict blends the
    network's mean with prepare's anchors by the weights of its training-set size, moving and
    scaling the quantiles with it, and stack=False is the network alone."""
    from gpfn_core.tasks.predict import predict_arrays
    from gpfn_core.net.preprocess import prepare
    from gpfn_core.registry import get_registry
    from gpfn_core.net.config import SIZE_STRIDE, STACK_INDEX

    model, bar, meta = load_model(model_path)
    st = meta["stack"]
    assert [e["pop_size"] for e in st["sizes"]] == [60, 60] and st["start_index"] == STACK_INDEX
    assert [e["start_index"] for e in st["sizes"]] == [STACK_INDEX, STACK_INDEX + SIZE_STRIDE]
    assert st["sizes"][0]["n_train"] < st["sizes"][1]["n_train"] and st["draws"] <= 12
    for e in st["sizes"]:
        assert e["weight"] + sum(e["anchor_weights"].values()) == pytest.approx(1.0) and e["draws"] <= 6
        assert e["r_stacked"] >= max(e["r_network"], *e["r_anchors"].values()) - 1e-12  # the grid holds the corners
        assert 0.25 <= e["interval_scale"] <= 4 and 0 <= e["coverage90_unscaled"] <= 1
    nt = draw.n_train
    x, y, xv = draw.x[:nt], draw.y[:nt].astype(float), draw.x[nt:]
    entry = {"n_train": nt, "weight": 0.25, "anchor_weights": {"gblup_bma": 0.5, "loo_choice": 0.25},
             "interval_scale": 1.5}
    far = {"n_train": 10 * nt, "weight": 1.0, "anchor_weights": {}, "interval_scale": 1.0}  # another size's
    meta = {**meta, "stack": {"weight": 1.0, "sizes": [entry, far]}}
    both = predict_arrays(model, bar, meta, x, y, xv, ensemble=1, seed=0)
    alone = predict_arrays(model, bar, meta, x, y, xv, ensemble=1, seed=0, stack=False)
    p = prepare(x, y, xv, get_registry().get("selector", meta["feature_selection"])(int(meta["n_features"]), seed=0),
                meta["fit_config"]["smoothers"])
    anchor = p.scale.inverse(p.anchors[:, :2] @ np.array([0.5, 0.25]) / 0.75)  # the anchors' part, phenotype scale
    assert both["stack_weights"] == [0.25, 0.5, 0.25, 0.0, 0.0, 0.0] and both["interval_scale"] == 1.5
    assert alone["stack_weights"] is None and alone["interval_scale"] is None
    np.testing.assert_allclose(alone["mean"], alone["network_mean"])
    np.testing.assert_allclose(both["network_mean"], alone["mean"])
    np.testing.assert_allclose(both["mean"], 0.25 * alone["mean"] + 0.75 * anchor, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(both["q05"] - both["mean"], 1.5 * (alone["q05"] - alone["mean"]), atol=1e-5)
    np.testing.assert_allclose(both["sd"], 1.5 * alone["sd"], rtol=1e-6)
    assert np.abs(both["mean"] - alone["mean"]).max() > 1e-6
    old = {**meta, "stack": {"weight": 0.25, "anchor_weights": {"gblup_bma": 0.5, "loo_choice": 0.25}}}
    single = predict_arrays(model, bar, old, x, y, xv, ensemble=1, seed=0)  # a file from before the sizes
    np.testing.assert_allclose(single["mean"], both["mean"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(single["sd"], alone["sd"])  # no interval scale
    fam = {**meta, "stack": {"weight": 0.5, "anchor_weights": {"gblup_family": 0.5}}}  # the third anchor, weighed
    half = predict_arrays(model, bar, fam, x, y, xv, ensemble=1, seed=0)
    assert half["stack_weights"] == [0.5, 0.0, 0.0, 0.5, 0.0, 0.0]
    np.testing.assert_allclose(half["mean"], 0.5 * alone["mean"] + 0.5 * p.scale.inverse(p.anchors[:, 2]),
                               rtol=1e-6, atol=1e-6)
    qtl = {**meta, "stack": {"weight": 0.25, "anchor_weights": {"gblup_qtl": 0.75}}}  # the fourth anchor, weighed
    most = predict_arrays(model, bar, qtl, x, y, xv, ensemble=1, seed=0)
    assert most["stack_weights"] == [0.25, 0.0, 0.0, 0.0, 0.75, 0.0]
    np.testing.assert_allclose(most["mean"], 0.25 * alone["mean"] + 0.75 * p.scale.inverse(p.anchors[:, 3]),
                               rtol=1e-6, atol=1e-6)
    chain = {**meta, "stack": {"weight": 0.5, "anchor_weights": {"bayesb": 0.5}}}  # the fifth, weighed at every size
    mixed = predict_arrays(model, bar, chain, x, y, xv, ensemble=1, seed=0)
    assert mixed["stack_weights"] == [0.5, 0.0, 0.0, 0.0, 0.0, 0.5]
    np.testing.assert_allclose(mixed["mean"], 0.5 * alone["mean"] + 0.5 * p.scale.inverse(p.anchors[:, 4]),
                               rtol=1e-6, atol=1e-6)


def test_gpfn_stack_refits_the_weight_of_a_model_file(tmp_path, model_path):
    import shutil

    from gpfn_core.net.modelfile import read_metadata

    path = tmp_path / "m.gpfn"
    shutil.copy(model_path, path)
    before, _, _ = load_model(path)
    r = CliRunner().invoke(main, ["stack", str(path), "--draws", "4", "--seed", "9", "--sizes", "20"])
    assert r.exit_code == 0, r.output
    st = read_metadata(path)["stack"]
    assert st["draws"] <= 4 and st["prior_seed"] == 9 and f'"weight": {st["weight"]}' in r.output
    assert len(st["sizes"]) == 1 and st["sizes"][0]["weight"] == st["weight"] and "interval scale" in r.output
    r = CliRunner().invoke(main, ["stack", str(path), "--sizes", "20,x"])
    assert r.exit_code != 0 and "--sizes" in r.output and read_metadata(path)["stack"] == st
    r = CliRunner().invoke(main, ["stack", str(path), "--draws", "2", "--sizes", "20", "--set", "no_such=1"])
    assert r.exit_code != 0 and "no_such" in r.output and read_metadata(path)["stack"] == st  # nothing written
    r = CliRunner().invoke(main, ["stack", str(path), "--draws", "2", "--sizes", "20", "--set", "family_share=0.3"])
    assert r.exit_code == 0, r.output
    st = read_metadata(path)["stack"]  # fitted on the prior with family-specific effects, and says so
    assert st["prior_overrides"] == {"family_share": "0.3"} and st["draws"] <= 2
    after, _, meta = load_model(path)
    for (k, v), (_, w) in zip(before.state_dict().items(), after.state_dict().items()):
        torch.testing.assert_close(v, w, msg=k)  # weights untouched
    from gpfn_core.models.cards import card
    from gpfn_core.models.scoring import heldout

    text = card(path, meta)
    assert "**Stacking**" in text and "c × GBLUP with a within-family kernel" in text  # the third anchor's column
    assert "`--set family_share=0.3`" in text
    table = [ln for ln in text.splitlines() if ln.startswith("  | ") and "r family GBLUP" in ln]
    assert len(table) == 1 and table[0].count("|") == text.split(table[0] + "\n")[1].splitlines()[0].count("|")
    h = heldout(path, draws=3)
    assert h["stack_weights"][0] == pytest.approx(st["weight"]) and "interval_scale" in h
    assert len(h["network_r_per_draw"]) == len(h["model_r_per_draw"])
    bad = tmp_path / "not.gpfn"
    bad.write_text("nope")
    r = CliRunner().invoke(main, ["stack", str(bad)])
    assert r.exit_code != 0 and "not a gpfn model file" in r.output


def test_predict_and_validation_use_one_context_rule():
    """A model's context: its --context, else its largest training set, else pop_max_size - 10."""
    from gpfn_core.net.inference import model_context
    from gpfn_core.net.config import FitConfig
    from gpfn_core.net.draws import build
    from gpfn_core.net.validation import Validation

    assert model_context(290, 1000, 1250) == 290
    assert model_context(None, 500, 1250) == 500
    assert model_context(None, None, 300) == 290
    cfg = FitConfig(prior="ril", founders="random", pop_max_size=60, max_training_samples=40, val_draws=0)
    prior, selector = build(cfg)
    assert Validation(prior, selector, cfg, draws=0).context == 40


def test_missing_output_folders_are_made_and_two_runs_never_clobber(tmp_path, model_path, draw):
    from gpfn_core.tasks.predict import write_csv

    tr, tg, _ = setup(tmp_path, draw, n_train=50)
    out = tmp_path / "new" / "deeper" / "p.csv"
    predict(model_path, tr, tg, out)
    assert len(read(out)) == draw.n - 50
    r = CliRunner().invoke(main, ["evaluate", "--model", str(model_path), "--train", str(tr), "--target", str(tr),
                                  "--png", str(tmp_path / "figs" / "e.png")])
    assert r.exit_code == 0 and (tmp_path / "figs" / "e.png").stat().st_size > 0, r.output
    # another run published the same output meanwhile: this one fails clearly and leaves no temporary file
    with pytest.raises(GpfnError, match="another run may have written it meanwhile"):
        write_csv(out, ["taxon"], [["a"]], overwrite=False)
    assert sorted(p.name for p in out.parent.iterdir()) == ["p.csv"] and len(read(out)) == draw.n - 50


def test_predict_reads_the_datasets_before_the_model(tmp_path, draw):
    """A raw genotype file given as --train is refused before any model is loaded."""
    _, tg, _ = setup(tmp_path, draw, n_train=50)
    (tmp_path / "g.vcf").write_text("##fileformat=VCFv4.2\n")
    with pytest.raises(GpfnError, match="gpfn parse"):
        predict(tmp_path / "no-such-model.gpfn", tmp_path / "g.vcf", tg, tmp_path / "p.csv")


@pytest.mark.parametrize("gap", [2, 1])
def test_several_traits_in_one_call_equal_one_call_each(tmp_path, model_path, draw, monkeypatch, gap):
    """gpfn predict --phenotype all gives each trait what a call of its own gives, with the
    trait-independent work (one Genotypes per set of phenotyped individuals) done once, one
    set at a time (the last one released before the next is made), and the traits in their
    own order when the trait missing a value sits between the others (``gap``)."""
    import gc
    import weakref

    import gpfn_core.net.preprocess as prep
    from gpfn import GPFNRegressor
    from helpers import dataset

    nt = 80
    taxa = [f"t{i}" for i in range(draw.n)]
    rng = np.random.default_rng(0)
    ys = np.column_stack([draw.y[:nt], draw.y[:nt] * 0.5 + rng.normal(size=nt), rng.normal(size=nt)])
    ys[3, gap] = np.nan  # one trait misses one individual: its own Genotypes
    tr = dataset(tmp_path / "tr.gpfn", draw.x[:nt], taxa[:nt])
    from gpfn_core.data.dataset import read_dataset, write_dataset

    ds = read_dataset(tr)
    ds.phenotypes, ds.phenotype_names = ys, ["a", "b", "c"]
    write_dataset(tmp_path / "tr3.gpfn", ds)
    tg = dataset(tmp_path / "tg.gpfn", draw.x[nt:], taxa[nt:])
    made, alive = [], []
    real = prep.Genotypes.of.__func__

    def of(cls, *a, **k):
        gc.collect()
        alive.append(sum(r() is not None for r in made))  # made before this one and still held
        g = real(cls, *a, **k)
        made.append(weakref.ref(g))
        return g

    monkeypatch.setattr(prep.Genotypes, "of", classmethod(of))
    rep = predict(model_path, tmp_path / "tr3.gpfn", tg, tmp_path / "all.csv", phenotype="all")
    assert rep["phenotypes"] == ["a", "b", "c"] and len(made) == 2  # the two complete traits share one
    assert alive == [0, 0]
    together = read(tmp_path / "all.csv")
    assert list(together[0]) == ["taxon", *(f"{n}_{k}" for n in "abc" for k in ("mean", "sd", "q05", "q95"))]
    for name in "abc":
        predict(model_path, tmp_path / "tr3.gpfn", tg, tmp_path / f"{name}.csv", phenotype=name)
        alone = read(tmp_path / f"{name}.csv")
        for k in ("mean", "sd", "q05", "q95"):
            assert [r[f"{name}_{k}"] for r in together] == [r[k] for r in alone]
    est = GPFNRegressor(model=str(model_path)).fit(np.where(draw.x[:nt] < 0, np.nan, draw.x[:nt]), ys)
    mean = est.predict(draw.x[nt:])
    assert mean.shape == (draw.n - nt, 3)
    np.testing.assert_allclose(mean[:, 1], [float(r["b_mean"]) for r in together], rtol=1e-4)  # the CSV: 6 digits
    assert est.predict_quantiles(draw.x[nt:], [0.05, 0.95]).shape == (draw.n - nt, 3, 2)


def test_predict_states_its_memory_and_refuses_what_would_not_fit(tmp_path, model_path, draw):
    from gpfn_core.tasks.predict import predict_memory
    from gpfn_core.threads import memory_available

    tr, tg, nt = setup(tmp_path, draw, n_train=50)
    heard = []
    rep = predict(model_path, tr, tg, tmp_path / "out.csv", log=heard.append)
    need = predict_memory(50, draw.n - 50, 300)
    assert heard and heard[0].startswith(f"memory: about {need / 2**30:.2f} GiB")
    assert rep["memory_estimate"] == f"{need / 2**30:.2f} GiB"
    assert predict_memory(2000, 1000, 10_000) > predict_memory(1000, 1000, 10_000) > predict_memory(1000, 1000, 1000)
    with pytest.raises(GpfnError, match=r"50 training \+ 110 target individuals x 300 markers needs about .* GiB; "
                                        r"--max-memory is 0.0 GiB.*--max-memory to run anyway"):
        predict(model_path, tr, tg, tmp_path / "small.csv", max_memory=need / 2, solver="dense")
    assert not (tmp_path / "small.csv").exists()
    r = CliRunner().invoke(main, ["predict", "--model", str(model_path), "--train", str(tr), "--target", str(tg),
                                  "-o", str(tmp_path / "cli.csv"), "--max-memory", "0.00001"])
    assert r.exit_code == 1 and "needs about" in r.output and not (tmp_path / "cli.csv").exists()
    avail = memory_available()
    assert avail is None or avail > 0


def test_targets_that_do_not_fit_at_once_go_in_passes_with_the_same_predictions(tmp_path, model_path, draw,
                                                                                 monkeypatch):
    """Where every target at once would pass the memory allowed, the targets are preprocessed a
    pass at a time (as many as fit) and the predictions are those of one pass; what does not fit
    even with the smallest pass is refused, naming the pass."""
    import gpfn_core.tasks.plan as pr

    tr, tg, _ = setup(tmp_path, draw, n_train=50)
    n_target = draw.n - 50
    whole = predict(model_path, tr, tg, tmp_path / "whole.csv", phenotype="all")
    assert whole["targets_per_pass"] == n_target
    monkeypatch.setattr(pr, "MIN_TARGETS_PER_PASS", 20)
    limit = pr.predict_memory(50, n_target, 300, 45)
    assert pr.targets_per_pass(50, n_target, 300, limit) == 45
    heard = []
    rep = predict(model_path, tr, tg, tmp_path / "passes.csv", phenotype="all", max_memory=limit, log=heard.append)
    assert rep["targets_per_pass"] == 45 and "targets in passes of 45" in heard[0]
    assert [h for h in heard if h.startswith("targets ")] == [f"targets {a:,}-{min(a + 44, n_target):,} of {n_target:,}"
                                                             for a in range(1, n_target + 1, 45)]
    a, b = read(tmp_path / "whole.csv"), read(tmp_path / "passes.csv")
    assert [r["taxon"] for r in a] == [r["taxon"] for r in b] and len(b) == n_target
    for k in a[0]:
        if k != "taxon":
            np.testing.assert_allclose([float(r[k]) for r in b], [float(r[k]) for r in a], rtol=1e-4, atol=1e-4)
    with pytest.raises(GpfnError, match=r"needs about .* GiB with targets in passes of 20; --max-memory is"):
        predict(model_path, tr, tg, tmp_path / "none.csv", max_memory=pr.predict_memory(50, n_target, 300, 20) - 1,
                solver="dense")
    assert not (tmp_path / "none.csv").exists()


def test_auto_takes_the_iterative_path_where_the_dense_one_would_not_fit():
    from gpfn_core.tasks.predict import iterative_memory, plan, predict_memory

    gib = 2**30
    assert plan(1000, 1000, 50_000, 24 * gib)[0] == "dense"
    solver, per_pass, need = plan(30_000, 1000, 50_000, 24 * gib)
    assert solver == "iterative" and per_pass == 1000 and need == iterative_memory(30_000, 1000, 50_000, 1000)
    assert need < 24 * gib < predict_memory(30_000, 1000, 50_000, 500)
    # memory on the iterative path grows as n m, on the dense one as n^2
    assert iterative_memory(60_000, 1000, 50_000) < 2.2 * iterative_memory(30_000, 1000, 50_000)
    with pytest.raises(GpfnError, match=r"30,000 training \+ 1,000 target .* needs about .*--solver iterative"):
        plan(30_000, 1000, 50_000, 24 * gib, "dense")
    with pytest.raises(GpfnError, match=r"on the iterative path needs about"):
        plan(300_000, 1000, 50_000, 24 * gib)
    with pytest.raises(GpfnError, match="solver must be one of"):
        plan(100, 10, 1000, None, "cg")


def test_the_iterative_path_predicts_as_the_dense_one(tmp_path, model_path, draw):
    """No n x n matrix: the anchors as marker effects from conjugate gradients, the network on
    its features from (a subset of) the training individuals; close to the dense path's
    predictions, on the phenotype's scale, with every trait of a call as in a call of its own."""
    tr, tg, nt = setup(tmp_path, draw, n_train=120)
    dense = predict(model_path, tr, tg, tmp_path / "dense.csv", solver="dense")
    heard = []
    rep = predict(model_path, tr, tg, tmp_path / "cg.csv", solver="iterative", log=heard.append)
    assert dense["solver"] == "dense" and rep["solver"] == "iterative"
    assert any("on the iterative path" in h for h in heard)
    a, b = read(tmp_path / "dense.csv"), read(tmp_path / "cg.csv")
    assert [r["taxon"] for r in a] == [r["taxon"] for r in b]
    da, db = (np.array([[float(r[k]) for k in ("mean", "sd", "q05", "q95")] for r in rows]) for rows in (a, b))
    assert np.isfinite(db).all() and (db[:, 1] > 0).all() and (db[:, 2] <= db[:, 0] + 1e-9).all()
    assert (db[:, 0] <= db[:, 3] + 1e-9).all()
    assert np.corrcoef(da[:, 0], db[:, 0])[0, 1] > 0.95
    assert abs(db[:, 0].mean() - da[:, 0].mean()) < 0.1 * da[:, 0].std()  # the phenotype's scale
    r = CliRunner().invoke(main, ["predict", "--model", str(model_path), "--train", str(tr), "--target", str(tg),
                                  "-o", str(tmp_path / "cli.csv"), "--solver", "iterative"])
    assert r.exit_code == 0, r.output
    assert [float(x["mean"]) for x in read(tmp_path / "cli.csv")] == [float(x["mean"]) for x in b]


def test_the_iterative_path_gives_each_trait_what_a_call_of_its_own_gives(tmp_path, model_path, draw):
    from gpfn_core.data.dataset import read_dataset, write_dataset

    nt = 80
    taxa = [f"t{i}" for i in range(draw.n)]
    rng = np.random.default_rng(1)
    ys = np.column_stack([draw.y[:nt], draw.y[:nt] * 0.5 + rng.normal(size=nt), rng.normal(size=nt)])
    ys[5, 1] = np.nan  # the second trait misses one individual: a group of its own
    ds = read_dataset(dataset(tmp_path / "tr.gpfn", draw.x[:nt], taxa[:nt]))
    ds.phenotypes, ds.phenotype_names = ys, ["a", "b", "c"]
    write_dataset(tmp_path / "tr3.gpfn", ds)
    tg = dataset(tmp_path / "tg.gpfn", draw.x[nt:], taxa[nt:])
    predict(model_path, tmp_path / "tr3.gpfn", tg, tmp_path / "all.csv", phenotype="all", solver="iterative")
    together = read(tmp_path / "all.csv")
    for name in "abc":
        predict(model_path, tmp_path / "tr3.gpfn", tg, tmp_path / f"{name}.csv", phenotype=name, solver="iterative")
        alone = read(tmp_path / f"{name}.csv")
        for k in ("mean", "sd", "q05", "q95"):
            assert [r[f"{name}_{k}"] for r in together] == [r[k] for r in alone]
