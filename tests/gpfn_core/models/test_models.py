"""Shipped models: lookup, held-out scoring, recorded results that go stale, cards."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from gpfn_cli.main import main
from gpfn_core import GpfnError
from gpfn_core.models.cards import _architecture_rows, card, matrix_table
from gpfn_core.models.scoring import current, heldout, matrix, record_benchmark, record_heldout, record_matrix
from gpfn_core.net.config import FINAL_INDEX, FINAL_SEED, HELDOUT_INDEX
from gpfn_core.net.modelfile import fingerprint, load_model, read_metadata, record_metadata
from gpfn_core.registry import get_registry
from helpers import setup

SHIPPED = Path(__file__).resolve().parents[3] / "gpfn_core" / "models"


@pytest.fixture
def models_dir(tmp_path, monkeypatch):
    import gpfn_core.models.lookup as lookup

    d = tmp_path / "models"
    d.mkdir()
    monkeypatch.setattr(lookup, "model_dirs", lambda: [d])  # these only, not the shipped ones
    return d


def test_shipped_model_lookup_by_population_type(tmp_path, model_path, draw, monkeypatch):
    import gpfn_core.models.lookup as lookup
    from gpfn_core.models.lookup import find_model, list_models

    with monkeypatch.context() as m:  # no model folders at all
        m.setattr(lookup, "model_dirs", lambda: [tmp_path / "none"])
        with pytest.raises(GpfnError, match="no shipped model for population type 'ril'"):
            find_model("ril")
    with pytest.raises(GpfnError, match="unknown population type 'maize'"):
        find_model("maize")
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(model_path, models / "ril.gpfn")
    (models / "broken.gpfn").write_bytes(b"junk")  # unreadable files are skipped
    monkeypatch.setenv("GPFN_MODELS", str(models))
    names = [p.name for p, _ in list_models()]
    assert find_model("ril") == models / "ril.gpfn" and names[0] == "ril.gpfn"  # $GPFN_MODELS first
    from gpfn_core.models.lookup import model_file

    # a benchmark's --model: a file, a population type's shipped model, or the default's
    assert model_file(str(model_path)) == model_path and model_file("ril") == models / "ril.gpfn"
    assert model_file(None, default="ril") == models / "ril.gpfn"
    with pytest.raises(GpfnError, match="no model file 'maize.gpfn', and it names no population type"):
        model_file("maize.gpfn")
    shipped = sorted(p.name for p in SHIPPED.glob("*.gpfn"))
    assert "broken.gpfn" not in names and names[1:] == shipped and "nam.gpfn" in shipped  # then the shipped models
    r = CliRunner().invoke(main, ["models"])
    assert r.exit_code == 0 and "## ril.gpfn: prior `ril`" in r.output
    assert "Held-out accuracy**: not measured since the last change" in r.output
    r = CliRunner().invoke(main, ["models", "--brief"])
    assert r.exit_code == 0 and str(models / "ril.gpfn") in r.output and "prior ril (ril)" in r.output
    tr, tg, _ = setup(tmp_path, draw, n_train=50)
    r = CliRunner().invoke(main, ["predict", "--population-type", "ril", "--train", str(tr), "--target", str(tg),
                                  "-o", str(tmp_path / "p.csv")])
    assert r.exit_code == 0 and f"model: {models / 'ril.gpfn'} (shipped, population type ril)" in r.output


def test_heldout_is_recorded_with_the_fingerprint_and_shown_on_the_card(tmp_path, model_path):
    path = tmp_path / "ril.gpfn"
    shutil.copy(model_path, path)
    res = heldout(path, draws=3)
    assert res["draws"] == 3 and res["start_index"] == HELDOUT_INDEX and res["prior_seed"] == 1
    assert res["pop_size"] == 60 and "overrides" not in res  # the prior at its defaults, as in the matrix
    # draw 1 of the selection draws, predicted here as gpfn predict would: the same r as recorded
    from gpfn_core.linear.gblup import gblup
    from gpfn_core.tasks.predict import predict_arrays

    d = get_registry().make_prior("ril", seed=1, founders="random").draw(HELDOUT_INDEX + 1, fixed={"pop_size": 60})
    nt, truth = d.n_train, d.g[d.n_train:]
    mine = predict_arrays(*load_model(path), d.x[:nt], d.y[:nt], d.x[nt:])["mean"]
    assert res["model_r_per_draw"][1] == pytest.approx(np.corrcoef(mine, truth)[0, 1], abs=1e-6)
    assert res["gblup_r_per_draw"][1] == pytest.approx(np.corrcoef(gblup(d.x[:nt], d.y[:nt], d.x[nt:]).prediction,
                                                                   truth)[0, 1], abs=1e-9)
    assert heldout(path, draws=3)["model_r_per_draw"] == res["model_r_per_draw"]  # fixed draws: reproducible
    final = heldout(path, draws=2, draws_from="final")
    assert final["start_index"] == FINAL_INDEX and final["prior_seed"] == FINAL_SEED
    assert final["gblup_r_per_draw"] != res["gblup_r_per_draw"][:2]  # other draws
    before, _, _ = load_model(path)
    record_heldout(path, res, "benchmarks/results/heldout-selection-x.json")
    after, _, meta = load_model(path)
    for (k, v), (_, w) in zip(before.state_dict().items(), after.state_dict().items()):
        torch.testing.assert_close(v, w, msg=k)  # weights untouched
    cell = meta["results"]["matrix"]["selection"]["ril"]
    assert cell["model_r"] == res["model_r"] and cell["fingerprint"] == fingerprint(path)
    assert cell["record"].endswith("heldout-selection-x.json") and cell["model_r_per_draw"] == res["model_r_per_draw"]
    text = card(path, meta)
    assert f"| GPFN (this model) | {res['model_r']:.3f} |" in text and f"| {res['gblup_r']:.3f} |" in text
    assert "3 draws of `ril` at its defaults, without this model's n_markers=300" in text
    assert f"hold {100 * res['coverage90']:.1f}% of the true values" in text


def test_a_restack_makes_recorded_results_stale(tmp_path, model_path, models_dir):
    """A result measured on other weights or another stacking is never shown as this model's."""
    path = models_dir / "ril.gpfn"
    shutil.copy(model_path, path)
    record_heldout(path, heldout(path, draws=2))
    record_benchmark(path, "wheat", {"data": "wheat", "gpfn": 0.5, "gblup": 0.4, "diff": 0.1, "diff_se": 0.01,
                                     "wins": 0.8, "n": 4})
    assert set(current(path)["matrix"]["selection"]) == {"ril"} and "wheat" in current(path)["benchmarks"]
    stack = read_metadata(path)["stack"]
    stack["sizes"][0]["weight"] = 1.0 - stack["sizes"][0]["weight"]  # a restack
    record_metadata(path, {"stack": stack})
    now = current(path)
    assert now["matrix"] == {} and now["benchmarks"] == {} and now["stale"] == 2
    text = card(path, read_metadata(path))
    assert "not measured since the last change" in text and "2 earlier result(s)" in text and "| wheat |" not in text
    r = CliRunner().invoke(main, ["models", "--brief"])
    assert "not measured since the last change" in r.output


def test_legacy_results_without_fingerprints_are_not_shown_and_go_on_the_next_record(tmp_path, model_path):
    path = tmp_path / "m.gpfn"
    shutil.copy(model_path, path)
    record_metadata(path, {"heldout": {"model_r": 0.9}, "matrix": {"ril": {"model_r": 0.9}}})
    assert current(path)["matrix"] == {} and current(path)["stale"] == 2
    assert "0.900" not in card(path, read_metadata(path))
    record_benchmark(path, "x", {"data": "x", "gpfn": 0.1, "gblup": 0.1, "diff": 0.0, "diff_se": 0.0, "wins": 0.5,
                                 "n": 2})
    meta = read_metadata(path)
    assert "heldout" not in meta and "matrix" not in meta and current(path)["stale"] == 0


def test_benchmark_results_are_recorded_beside_each_other_and_on_the_card(tmp_path, model_path):
    path = tmp_path / "m.gpfn"
    shutil.copy(model_path, path)
    a = {"data": "wheat", "gpfn": 0.46, "gblup": 0.464, "diff": -0.004, "diff_se": 0.006, "wins": 0.48, "n": 40}
    record_benchmark(path, "wheat", a, "benchmarks/results/real-1.json")
    record_benchmark(path, "small", {**a, "data": "30 lines", "diff": 0.01})
    b = current(path)["benchmarks"]
    assert {k: b["wheat"][k] for k in a} == a and b["small"]["diff"] == 0.01 and b["wheat"]["record"].endswith("-1.json")
    text = card(path, read_metadata(path))
    assert "| wheat | 0.460 | 0.464 | -0.004 ± 0.006 | 48% of 40 |" in text and "| 30 lines |" in text


def test_heldout_splits_by_architecture_and_scores_baselines_on_the_same_draws(model_path):
    from gpfn_core.linear.baselines import elastic_net

    res = heldout(model_path, draws=6, baselines={"ElasticNet": elastic_net})
    share = res["poly_share_per_draw"]
    assert len(share) == 6 and all(0 <= s < 1 for s in share) and len(set(share)) == 6
    assert len(res["baseline_r_per_draw"]["ElasticNet"]) == 6
    rows = _architecture_rows(res)
    assert "CV elastic net" in rows[0] and [r.split("(")[0].strip("| ") for r in rows[2:5]] == [
        "sparse third", "middle third", "polygenic third"]
    assert _architecture_rows({**res, "poly_share_per_draw": share[:3]}) == []  # lists that do not match: no rows
    fixed = heldout(model_path, draws=2, overrides={"poly_share": 0.3})
    assert fixed["poly_share_per_draw"] == [0.3, 0.3] and fixed["overrides"] == {"poly_share": 0.3}
    with pytest.raises(GpfnError, match="defaults"):
        record_heldout(model_path, fixed)


def test_matrix_scores_every_model_on_every_prior_and_records_rows(model_path, models_dir):
    a, b = models_dir / "ril.gpfn", models_dir / "other.gpfn"
    shutil.copy(model_path, a)
    shutil.copy(model_path, b)
    m = matrix([a, b], priors=("ril", "universal"), draws=2, draws_from="final")
    assert set(m) == {"ril.gpfn", "other.gpfn"} and set(m["ril.gpfn"]) == {"ril", "universal"}
    for q in ("ril", "universal"):  # same weights, same draws: the same numbers; GBLUP shared
        assert m["ril.gpfn"][q]["model_r_per_draw"] == m["other.gpfn"][q]["model_r_per_draw"]
        assert m["ril.gpfn"][q]["draws"] == 2 and m["ril.gpfn"][q]["prior"] == q
        assert m["ril.gpfn"][q]["prior_seed"] == FINAL_SEED
    record_matrix(a, m["ril.gpfn"], "final")
    cells = read_metadata(a)["results"]["matrix"]["final"]
    assert set(cells) == {"ril", "universal"} and "model_r_per_draw" not in cells["universal"]
    assert "model_r_per_draw" in cells["ril"]  # its own prior keeps the per-draw lists
    text = card(a, read_metadata(a))
    assert "| ril (own) |" in text and "| universal |" in text and "final draws" in text
    table = matrix_table([(a, read_metadata(a)), (b, read_metadata(b))])
    assert "| model | ril | universal |" in table and "| other | - | - |" in table
    assert f"| ril | {cells['ril']['model_r']:.3f} ({cells['ril']['diff']:+.3f})" in table
    r = CliRunner().invoke(main, ["models", "--brief"])
    assert r.exit_code == 0 and "| model | ril | universal |" in r.output and "| other | " in r.output


def test_default_population_type_follows_the_selection_matrix_only(tmp_path, model_path, models_dir):
    """universal only where it is at least each type's own model on that type's prior, on
    the selection draws; the final draws never decide; the reason is printed."""
    from gpfn_core.models.lookup import default_population_type

    def cells(path, draws_from, **rs):
        record_matrix(path, {q: {"model_r": v, "gblup_r": 0.3} for q, v in rs.items()}, draws_from)

    for name in ("nam", "ril"):
        shutil.copy(model_path, models_dir / f"{name}.gpfn")
        record_metadata(models_dir / f"{name}.gpfn", {"prior": name})
    assert default_population_type() == ("nam", "no universal model is installed")
    shutil.copy(model_path, models_dir / "universal.gpfn")
    record_metadata(models_dir / "universal.gpfn", {"prior": "universal"})
    assert default_population_type() == ("nam", "the universal model is not measured since its last change")
    cells(models_dir / "ril.gpfn", "selection", ril=0.70)
    cells(models_dir / "nam.gpfn", "selection", nam=0.40)
    cells(models_dir / "universal.gpfn", "final", ril=0.80, nam=0.50)  # final draws: not read by the decision
    assert default_population_type()[0] == "nam"
    cells(models_dir / "universal.gpfn", "selection", ril=0.69, nam=0.41)
    kind, why = default_population_type()
    assert kind == "nam" and "ril (0.69000 < 0.70000)" in why and "nam" not in why.split("on ")[-1]
    cells(models_dir / "universal.gpfn", "selection", ril=0.70, nam=0.41)
    assert default_population_type()[0] == "universal"
    draw = get_registry().make_prior("ril", seed=5, founders="random",
                                     overrides={"pop_size": 80, "n_markers": 300}).draw(1)
    tr, tg, _ = setup(tmp_path, draw, n_train=50)
    r = CliRunner().invoke(main, ["predict", "--train", str(tr), "--target", str(tg), "-o", str(tmp_path / "p.csv")])
    assert r.exit_code == 0, r.output
    assert "universal.gpfn (shipped, population type universal, the default: the universal model is at least" in r.output
