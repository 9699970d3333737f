import json
import os
import subprocess
import sys

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from gpfn_core import GpfnError, UnknownPluginError, ValidationError
from gpfn_core.net.modelfile import load_model, read_metadata
from gpfn_core.net.config import FitConfig, Schedule
from gpfn_core.net.draws import build, DrawDataset
from gpfn_core.net.train import fit

TINY = dict(prior="ril", founders="random", overrides={"n_markers": 300, "n_qtl": "5:20"}, feature_max_size=8,
            num_samples=10_000, pop_max_size=60, emb_size=16, num_layers=2, num_heads=2, hidden_dim=32,
            num_buckets=20, batch_size=4, warmup_steps=2, lr=3e-3, border_draws=10, val_draws=4, log_steps=5,
            stack_draws=0)


def tiny(tmp_path, **kw):
    return FitConfig(**(TINY | {"save_path": str(tmp_path / "m.gpfn")} | kw))


def quiet(*a):
    pass


def test_tiny_model_loss_falls_and_model_file_round_trips(tmp_path):
    cfg = tiny(tmp_path, max_steps=40)
    stats = fit(cfg, progress=False, log=quiet)
    losses = [h["loss"] for h in stats["history"] if "loss" in h]
    assert len(losses) == 8 and losses[-1] < losses[0]
    assert set(stats["validation"]) >= {"model_r", "gblup_r", "draws"}
    model, bar, meta = load_model(cfg.save_path)
    assert meta["prior"] == "ril" and meta["feature_selection"] == "pca" and meta["n_features"] == 8
    assert meta["training"]["steps"] == 40 and len(meta["borders"]) == 21
    assert meta["n_parameters"] == model.n_parameters()
    x, y = torch.randn(1, 30, 8 + model.config.smoother_features), torch.randn(1, 20)
    assert model.config.smoother_features == 32  # gblup + sparse at 8 heritabilities, mean and sd each
    reloaded, _, _ = load_model(cfg.save_path)
    torch.testing.assert_close(model(x, y), reloaded(x, y))


def test_init_from_continues_a_model_and_keeps_its_history(tmp_path):
    a = tiny(tmp_path, save_path=str(tmp_path / "a.gpfn"), max_steps=4, val_draws=0, smoother_stats=False)
    fit(a, progress=False, log=quiet)
    # its architecture and preprocessing are adopted (the smoother statistics are added, starting at
    # zero); a near-zero learning rate leaves its weights
    b = tiny(tmp_path, save_path=str(tmp_path / "b.gpfn"), max_steps=3, val_draws=0, lr=1e-12, emb_size=32,
             init_from=str(tmp_path / "a.gpfn"))
    fit(b, progress=False, log=quiet)
    wa, wb = load_file(str(tmp_path / "a.gpfn")), load_file(str(tmp_path / "b.gpfn"))
    assert set(wb) - set(wa) == {"smoother_stats_encoder.weight", "smoother_stats_encoder.bias"}
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], atol=1e-6, rtol=1e-6)
    assert float(wb["smoother_stats_encoder.weight"].abs().max()) < 1e-6
    meta = read_metadata(tmp_path / "b.gpfn")
    assert meta["architecture"]["emb_size"] == 16 and meta["borders"] == read_metadata(tmp_path / "a.gpfn")["borders"]
    assert [r["steps"] for r in meta["lineage"]] == [4, 3] and meta["lineage"][1]["init_from"] == "a.gpfn"
    assert meta["training"]["cumulative"]["steps"] == 7 and meta["training"]["cumulative"]["draws"] == 7 * 4
    # more smoothers than the file's (its list extended): the model grows, the new columns' weights start at zero
    c = tiny(tmp_path, save_path=str(tmp_path / "c.gpfn"), max_steps=2, val_draws=0, lr=1e-12,
             smoothers="gblup,sparse,bma", init_from=str(tmp_path / "b.gpfn"))
    fit(c, progress=False, log=quiet)
    wc, mc = load_file(str(tmp_path / "c.gpfn")), read_metadata(tmp_path / "c.gpfn")
    assert mc["architecture"]["smoother_features"] == 42 and mc["fit_config"]["smoothers"] == "gblup,sparse,bma"
    torch.testing.assert_close(wc["smoother_skip.weight"][:, :32], wb["smoother_skip.weight"], atol=1e-6, rtol=1e-6)
    assert float(wc["smoother_skip.weight"][:, 32:].abs().max()) < 1e-6
    # a list that does not extend the file's keeps the file's
    d = tiny(tmp_path, save_path=str(tmp_path / "d.gpfn"), max_steps=1, val_draws=0, smoothers="bma",
             init_from=str(tmp_path / "b.gpfn"))
    fit(d, progress=False, log=quiet)
    assert read_metadata(tmp_path / "d.gpfn")["fit_config"]["smoothers"] == "gblup,sparse"


def test_resume_is_exact(tmp_path):
    whole = tiny(tmp_path, save_path=str(tmp_path / "whole.gpfn"), max_steps=12, dropout=0.1, accumulation_steps=2,
                 val_draws=0)
    fit(whole, progress=False, log=quiet)
    part = tiny(tmp_path, save_path=str(tmp_path / "part.gpfn"), max_steps=6, dropout=0.1, accumulation_steps=2,
                val_draws=0, checkpoint_steps=3)
    fit(part, progress=False, log=quiet)
    rest = tiny(tmp_path, save_path=str(tmp_path / "part.gpfn"), max_steps=12, dropout=0.1, accumulation_steps=2,
                val_draws=0, resume=str(tmp_path / "part.gpfn.ckpt"))
    fit(rest, progress=False, log=quiet)
    a, b = load_file(str(tmp_path / "whole.gpfn")), load_file(str(tmp_path / "part.gpfn"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # the draws counted before the interruption are not lost
    seen = [read_metadata(tmp_path / f)["training"]["draws_seen"] for f in ("whole.gpfn", "part.gpfn")]
    assert seen == [12 * 2 * 4, 12 * 2 * 4]


def test_data_does_not_depend_on_workers(tmp_path):
    from gpfn_core.net.draws import DrawDataset

    cfg = tiny(tmp_path)
    prior, sel = build(cfg)
    ds = DrawDataset(prior, sel, cfg, Schedule(cfg), 4)
    loader = torch.utils.data.DataLoader(ds, batch_size=None, sampler=range(8), num_workers=2)
    for i, (x, y, nt) in enumerate(loader):
        x0, y0, nt0 = ds[i]
        assert nt == nt0 and np.array_equal(np.asarray(x), x0) and np.array_equal(np.asarray(y), y0)


def test_schedule_is_shared_and_within_bounds(tmp_path):
    cfg = tiny(tmp_path, min_training_samples=20, max_training_samples=50, nonuniform_eval_pos=True)
    s1, s2 = Schedule(cfg), Schedule(cfg)
    sizes = [s1.n_train(i) for i in range(300)]
    assert sizes == [s2.n_train(i) for i in range(300)]
    assert 20 <= min(sizes) and max(sizes) <= 50
    assert np.mean(sizes) > 35  # nonuniform favours large training sets


def test_loguniform_schedule_with_context_grows_the_population(tmp_path):
    cfg = tiny(tmp_path, pop_max_size=400, min_training_samples=10, max_training_samples=300,
               size_distribution="loguniform", context=40)
    s = Schedule(cfg)
    splits = [s.split(i) for i in range(400)]
    sizes = np.array([n for n, _ in splits])
    pops = np.array([p for _, p in splits])
    assert 10 <= sizes.min() and sizes.max() <= 300
    assert np.median(sizes) < 80  # log-uniform: median near sqrt(10 * 300) ~ 55, uniform's would be ~155
    assert (pops >= 50).all() and (pops <= 400).all() and (pops > sizes).all()
    big = sizes > 100
    assert (pops[big] >= sizes[big] / 0.9 - 1).all()  # the population grows with the training set
    assert Schedule(tiny(tmp_path)).split(3)[1] == 60  # without a context: always pop_max_size


def test_context_keeps_the_draws_smoothers_and_caps_the_tokens(tmp_path):
    cfg = tiny(tmp_path, pop_max_size=120, min_training_samples=60, max_training_samples=100, context=25)
    prior, sel = build(cfg)
    ds = DrawDataset(prior, sel, cfg, Schedule(cfg), 4)
    x, y, nt = ds[0]
    assert nt == 25 and len(y) - nt <= 25 and x.shape[1] == cfg.input_width
    # the same draw uncapped (same split): the capped one is its first rows, smoother columns included,
    # so the smoothers saw every training individual, not only the 25 tokens
    from dataclasses import replace

    x_all, y_all, nt_all = DrawDataset(prior, sel, replace(cfg, context=None), Schedule(cfg), 4)[0]
    assert nt_all > 25
    keep = np.r_[0:25, nt_all : nt_all + len(y) - nt]
    assert np.array_equal(x, x_all[keep]) and np.array_equal(y, y_all[keep])


@pytest.mark.parametrize("kw,err,match", [
    ({"prior": "nope"}, UnknownPluginError, "unknown prior 'nope'; available"),
    ({"feature_max_size": 500}, ValidationError, "feature_max_size"),
    ({"min_training_samples": 70}, ValidationError, "cannot hold a training/evaluation split"),
    ({"feature_selection": "nope"}, UnknownPluginError, "unknown feature selector"),
    ({"emb_size": 15}, ValidationError, "divisible"),
    ({"size_distribution": "normal"}, ValidationError, "size_distribution"),
    ({"context": 1}, ValidationError, "context must be >= 2"),
    ({"device": "cuda:7"} if not torch.cuda.is_available() else {"lr": -1}, ValidationError, "CUDA|lr"),
])
def test_bad_options_fail_before_training(tmp_path, kw, err, match):
    with pytest.raises(err, match=match):
        fit(tiny(tmp_path, **kw), progress=False, log=quiet)
    assert not (tmp_path / "m.gpfn").exists()


def test_model_file_refuses_foreign_and_newer_files(tmp_path):
    junk = tmp_path / "junk.gpfn"
    junk.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(GpfnError, match="not a gpfn model file"):
        read_metadata(junk)
    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(other))
    with pytest.raises(GpfnError, match="not a gpfn model"):
        read_metadata(other)
    newer = tmp_path / "newer.gpfn"
    save_file({"w": torch.zeros(2)}, str(newer), metadata={"gpfn": json.dumps({"format": 99, "gpfn_version": "9.0"})})
    with pytest.raises(GpfnError, match="newer than this gpfn"):
        read_metadata(newer)


def test_fit_cli_and_ddp_with_two_gloo_processes(tmp_path):
    """torchrun --nproc_per_node 2 on CPU (gloo): the DDP code path end to end."""
    out = tmp_path / "ddp.gpfn"
    args = ["--prior", "ril", "--founders", "random", "--set", "n_markers=300", "--feature-max-size", "8",
            "--pop-max-size", "60", "--emb-size", "16", "--num-layers", "1", "--num-heads", "2", "--hidden-dim", "16",
            "--num-buckets", "20", "--batch-size", "2", "--num-samples", "24", "--border-draws", "5",
            "--val-draws", "2", "--stack-draws", "3", "--device", "cpu", "--no-progress", "-o", str(out)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    import socket

    with socket.socket() as s:  # a free port, so parallel or leftover runs cannot collide
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                        port, "-m", "gpfn_cli.main", "fit", *args], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    meta = read_metadata(out)
    assert meta["training"]["device"] == "cpu x2" and meta["training"]["steps"] == 6  # 24 draws / (2 x 2)
    assert meta["training"]["ranks_agree"] is True  # every rank ended with the same parameters (checked by all_gather)


def test_loo_choice_picks_the_smoother_column_that_fits_the_training_rows_best(rng):
    from gpfn_core.linear.smoothers import H2_GRID
    from gpfn_core.net.config import FitConfig
    from gpfn_core.net.validation import _loo_choice_r

    cfg = FitConfig(prior="nam", feature_max_size=3, smoothers="gblup,sparse")
    g = len(H2_GRID)
    y, truth = rng.standard_normal(40), rng.standard_normal(30)
    ft, fv = rng.standard_normal((40, 3 + 4 * g)), rng.standard_normal((30, 3 + 4 * g))
    best = 3 + 2 * g + 5  # the sparse smoother's sixth h2: a mean column, not an sd column
    ft[:, best] = y + 0.01 * rng.standard_normal(40)
    ft[:, 3 + g] = y  # an sd column fits perfectly but is never a candidate
    fv[:, best] = truth
    assert _loo_choice_r(ft, y, fv, truth, cfg) == pytest.approx(1.0)
    assert np.isnan(_loo_choice_r(ft, y, fv, truth, FitConfig(prior="nam", feature_max_size=3, smoothers="")))


def test_loo_choice_weighs_columns_that_fit_equally_well_about_equally(rng):
    """pseudo-BMA+: two columns whose leave-one-out values fit the phenotypes equally well
    share the weight (the argmin picked one of them), a column that fits far worse gets
    none, and the weights are a fixed function of the data (the bootstrap has a seed)."""
    from gpfn_core.linear.smoothers import H2_GRID
    from gpfn_core.net.preprocess import loo_choice

    g, n = len(H2_GRID), 200
    y = rng.standard_normal(n)
    ft, fv = rng.standard_normal((n, 2 * g)) * 5, rng.standard_normal((30, 2 * g))
    a, b = y + 0.5 * rng.standard_normal(n), y + 0.5 * rng.standard_normal(n)
    ft[:, 0], ft[:, 1] = a, b * np.sqrt(((a - y) ** 2).mean() / ((b - y) ** 2).mean()) + y * (
        1 - np.sqrt(((a - y) ** 2).mean() / ((b - y) ** 2).mean()))  # the same leave-one-out error as column 0
    fv[:, 0], fv[:, 1] = 1.0, -1.0
    pred = loo_choice(ft, y, fv, 0, "gblup")
    assert np.allclose(pred, pred[0]) and abs(pred[0]) < 0.5  # near the mean of +1 and -1: both weighed
    np.testing.assert_array_equal(pred, loo_choice(ft, y, fv, 0, "gblup"))
    ft[:, 1] = y + 3 * rng.standard_normal(n)  # now far worse than column 0
    assert loo_choice(ft, y, fv, 0, "gblup") == pytest.approx(np.ones(30), abs=1e-6)


def test_stacking_needs_the_gblup_smoother(tmp_path):
    """Without a kinship there are no anchors: fit stores no stacking weights (the network
    alone predicts) and `gpfn stack` says why instead of writing anything."""
    from gpfn_core.net.stackfit import stack_model_file

    cfg = tiny(tmp_path, max_steps=1, val_draws=0, smoothers="sparse", stack_draws=2)
    fit(cfg, progress=False, log=quiet)
    assert "stack" not in read_metadata(cfg.save_path)
    before = open(cfg.save_path, "rb").read()
    with pytest.raises(GpfnError, match="no gblup smoother"):
        stack_model_file(cfg.save_path, draws=2)
    assert open(cfg.save_path, "rb").read() == before


def test_a_stacking_size_added_beyond_the_population_keeps_the_others(tmp_path, model_path):
    """`gpfn stack --sizes N --add` fits N only (drawn beyond the model's population where N is
    larger: the anchors see every training individual, the network subsets) and keeps the
    fitted sizes; sizes added on another prior than the stacking's are refused, file unchanged."""
    import shutil

    from gpfn_core.net.stackfit import stack_model_file, stack_sizes

    assert stack_sizes(SimpleNamespace(pop_max_size=1250, stack_sizes=(30, 1000)), (1000, 2500)) == [
        (1000, 1200), (2500, 2700)]
    path = tmp_path / "m.gpfn"
    shutil.copy(model_path, path)
    before = read_metadata(path)["stack"]["sizes"]
    res = stack_model_file(path, draws=2, sizes=(80,), add=True)
    after = read_metadata(path)["stack"]
    assert after == res and [e["n_train"] for e in after["sizes"][:2]] == [e["n_train"] for e in before]
    assert after["sizes"][:2] == before and after["sizes"][2]["pop_size"] == 80 + 200  # beyond pop_max_size 60
    assert after["sizes"][2]["start_index"] > max(e["start_index"] for e in before)  # draws after theirs
    with open(path, "rb") as f:
        data = f.read()
    with pytest.raises(GpfnError, match="same"):
        stack_model_file(path, draws=2, sizes=(80,), add=True, overrides={"h2": "0.5"})
    assert open(path, "rb").read() == data


def test_cli_resume_is_exact_with_validation_and_stacking(tmp_path):
    """`gpfn fit --resume` from a checkpoint ends with the same weights and the same stacking as an
    uninterrupted run, validation and stacking on."""
    from click.testing import CliRunner

    from gpfn_cli.main import main

    common = ["--prior", "ril", "--founders", "random", "--set", "n_markers=300", "--feature-max-size", "8",
              "--pop-max-size", "60", "--emb-size", "16", "--num-layers", "1", "--num-heads", "2", "--hidden-dim",
              "16", "--num-buckets", "20", "--batch-size", "2", "--num-samples", "40", "--border-draws", "5",
              "--val-draws", "2", "--stack-draws", "3", "--stack-sizes", "10,20", "--dropout", "0.1", "--no-progress"]
    run = CliRunner().invoke
    r = run(main, ["fit", *common, "--max-steps", "8", "-o", str(tmp_path / "whole.gpfn")])
    assert r.exit_code == 0, r.output
    r = run(main, ["fit", *common, "--max-steps", "4", "--checkpoint-steps", "2", "-o", str(tmp_path / "part.gpfn")])
    assert r.exit_code == 0, r.output
    r = run(main, ["fit", *common, "--max-steps", "8", "--resume", str(tmp_path / "part.gpfn.ckpt"), "-o",
                   str(tmp_path / "part.gpfn")])
    assert r.exit_code == 0 and "resumed from" in r.output, r.output
    a, b = load_file(str(tmp_path / "whole.gpfn")), load_file(str(tmp_path / "part.gpfn"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    ma, mb = read_metadata(tmp_path / "whole.gpfn"), read_metadata(tmp_path / "part.gpfn")
    assert ma["stack"] == mb["stack"] and ma["training"]["validation"] == mb["training"]["validation"]
    assert ma["training"]["steps"] == mb["training"]["steps"] == 8


def test_tiny_runs_get_a_workable_bucket_count_and_an_explicit_one_is_checked(tmp_path):
    small = tiny(tmp_path, save_path=str(tmp_path / "s.gpfn"), num_buckets=None, border_draws=2, max_steps=1,
                 val_draws=0)
    fit(small, progress=False, log=quiet)
    meta = read_metadata(tmp_path / "s.gpfn")
    assert 2 <= meta["architecture"]["num_buckets"] < 1000 and len(meta["borders"]) == meta["architecture"]["num_buckets"] + 1
    with pytest.raises(ValidationError, match=r"--num-buckets 1000 needs .* --border-draws 2 gave"):
        fit(tiny(tmp_path, num_buckets=1000, border_draws=2, max_steps=1, val_draws=0), progress=False, log=quiet)
