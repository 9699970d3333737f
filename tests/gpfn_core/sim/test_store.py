import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from helpers import needs

from gpfn_core import GpfnError
from gpfn_core.tasks.generate import generate
from gpfn_core.sim.store import StoreReader, committed_shards, read_metadata
from gpfn_core.net.config import FitConfig, Schedule
from gpfn_core.net.draws import build, DrawDataset
from gpfn_core.net.train import fit

CFG = dict(prior="ril", founders="random", overrides={"n_markers": 300}, feature_max_size=8, pop_max_size=60,
           batch_size=4)


def cfg(**kw):
    return FitConfig(**(CFG | kw))


def shards_equal(a, b):
    ra, rb = StoreReader(a), StoreReader(b)
    assert ra.available() == rb.available()
    for i in range(ra.available()):
        xa, ya, na = ra[i]
        xb, yb, nb = rb[i]
        assert na == nb and np.array_equal(xa, xb) and np.array_equal(ya, yb)


def test_store_draws_equal_on_the_fly_draws_whatever_the_workers(tmp_path):
    c = cfg()
    generate(c, tmp_path / "one", 16, shard_size=4, workers=1)
    generate(c, tmp_path / "two", 16, shard_size=4, workers=2)
    shards_equal(tmp_path / "one", tmp_path / "two")
    prior, sel = build(c)
    live = DrawDataset(prior, sel, c, Schedule(c), c.batch_size)
    r = StoreReader(tmp_path / "one")
    for i in (0, 5, 15):
        x, y, nt = r[i]
        lx, ly, lnt = live[i]
        assert nt == lnt and np.allclose(x, lx.astype(np.float16).astype(np.float32)) and np.allclose(y, ly)


def test_resume_fills_gaps_and_removes_stale_temporaries(tmp_path):
    c = cfg()
    generate(c, tmp_path / "ref", 12, shard_size=4)
    generate(c, tmp_path / "s", 12, shard_size=4, shards=[0, 2])
    from gpfn_core.sim.store import _host

    (tmp_path / "s" / "shards" / f".tmp-00000001-{_host()}-999999999").mkdir()  # a crashed writer's half shard
    (tmp_path / "s" / "shards" / ".tmp-00000001-othernode-12").mkdir()  # another node's: never touched
    r = StoreReader(tmp_path / "s")
    assert committed_shards(tmp_path / "s") == [0, 2] and r.available() == 4  # never past a gap
    rep = generate(c, tmp_path / "s", 12, shard_size=4)
    assert rep["shards_written"] == 1 and rep["shards_already_there"] == 2 and rep["stale_removed"] == 1
    assert (tmp_path / "s" / "shards" / ".tmp-00000001-othernode-12").is_dir()
    shards_equal(tmp_path / "ref", tmp_path / "s")


def test_two_generators_on_disjoint_ranges(tmp_path):
    c = cfg()
    generate(c, tmp_path / "ref", 16, shard_size=4)
    script = ("import sys; from gpfn_core.tasks.generate import generate; from gpfn_core.net.config import FitConfig; "
              f"c = FitConfig(**{CFG!r}); generate(c, sys.argv[1], 16, shard_size=4, shards=eval(sys.argv[2]))")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "s"), rng], stderr=subprocess.PIPE,
                              text=True) for rng in ("[0, 1]", "[2, 3]")]  # both start on a store not yet made
    codes = [p.wait(timeout=120) for p in procs]
    assert codes == [0, 0], [p.stderr.read()[-1500:] for p in procs]
    shards_equal(tmp_path / "ref", tmp_path / "s")


def test_sigkilled_generator_is_completed_by_a_rerun(tmp_path):
    store = tmp_path / "s"
    args = [sys.executable, "-m", "gpfn_cli.main", "generate", "--prior", "ril", "--founders", "random", "--set",
            "n_markers=300", "--store", str(store), "--num-draws", "400", "--shard-size", "4", "--feature-max-size",
            "8", "--pop-max-size", "60", "--batch-size", "4", "--no-progress"]
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while len(committed_shards(store) if (store / "shards").is_dir() else []) < 2 and time.time() - t0 < 60:
        time.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert 2 <= len(committed_shards(store)) < 100
    r = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert committed_shards(store) == list(range(100)) and not list((store / "shards").glob(".tmp-*"))
    generate(cfg(), tmp_path / "ref", 400, shard_size=4, shards=[0, 50, 99])
    ref, got = StoreReader(tmp_path / "ref"), StoreReader(store)
    for i in (0, 201, 399):
        assert np.array_equal(ref[i][1], got[i][1])


def test_store_refuses_other_settings_and_newer_versions(tmp_path):
    generate(cfg(), tmp_path / "s", 4, shard_size=4)
    with pytest.raises(GpfnError, match="other settings.*feature_max_size"):
        generate(cfg(feature_max_size=6), tmp_path / "s", 4, shard_size=4)
    meta = json.loads((tmp_path / "s" / "zarr.json").read_text())
    meta["attributes"]["format_version"] = 99
    (tmp_path / "s" / "zarr.json").write_text(json.dumps(meta))
    with pytest.raises(GpfnError, match="format version 99"):
        read_metadata(tmp_path / "s")
    with pytest.raises(GpfnError, match="not a gpfn draw store"):
        read_metadata(tmp_path / "nothing")


def test_fit_from_a_store(tmp_path):
    generate(cfg(), tmp_path / "s", 24, shard_size=8)
    kw = dict(prior="", store=str(tmp_path / "s"), batch_size=4, emb_size=16, num_layers=1, num_heads=2, hidden_dim=16,
              num_buckets=20, border_draws=4, val_draws=2, log_steps=0, stack_draws=0, save_path=str(tmp_path / "m.gpfn"))
    stats = fit(FitConfig(**kw, num_samples=0), progress=False, log=lambda m: None)  # 0: every draw in the store
    assert stats["steps"] == 6 and stats["draws_seen"] == 24
    with pytest.raises(GpfnError, match="--num-samples 32 asks for more draws than the 24 committed"):
        fit(FitConfig(**kw, num_samples=32), progress=False, log=lambda m: None)  # never fewer draws than asked, silently
    with pytest.raises(GpfnError, match="batch_size 8 differs"):
        fit(FitConfig(prior="", store=str(tmp_path / "s"), batch_size=8), progress=False, log=lambda m: None)


needs_mpi = needs("mpiexec", modules=("mpi4py",))


@needs_mpi
def test_mpi_generation_with_three_ranks(tmp_path):
    args = ["mpiexec", "-n", "3", sys.executable, "-m", "gpfn_cli.main", "generate", "--prior", "ril", "--founders",
            "random", "--set", "n_markers=300", "--store", str(tmp_path / "s"), "--num-draws", "20", "--shard-size",
            "4", "--feature-max-size", "8", "--pop-max-size", "60", "--batch-size", "4", "--mpi"]
    r = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    rep = json.loads(r.stdout)
    assert rep["ranks"] == 3 and rep["shards_written"] == 5
    generate(cfg(), tmp_path / "ref", 20, shard_size=4, workers=1)
    shards_equal(tmp_path / "ref", tmp_path / "s")


def test_fit_follows_a_store_being_generated_and_deletes_consumed_shards(tmp_path):
    import threading

    from gpfn_core.tasks.generate import config_of_store

    store = tmp_path / "s"
    trainer = FitConfig(**(CFG | dict(store=str(store), follow=True, delete_consumed=True, shard_size=4,
                                      num_samples=16, emb_size=16, num_layers=1, num_heads=2, hidden_dim=16,
                                      num_buckets=20, border_draws=4, val_draws=0, log_steps=0, stack_draws=0,
                                      save_path=str(tmp_path / "m.gpfn"))))
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("stats", fit(trainer, progress=False, log=lambda m: None)))
    t.start()
    t0 = time.time()
    while not (store / "zarr.json").exists() and time.time() - t0 < 60:  # the trainer writes the metadata first
        time.sleep(0.05)
    assert not committed_shards(store)  # the trainer is waiting: nothing generated yet
    c, total, k = config_of_store(store)
    assert (total, k, c.prior, c.feature_max_size) == (16, 4, "ril", 8)
    generate(c, store, total, shard_size=k)
    t.join(timeout=120)
    assert not t.is_alive() and out["stats"]["steps"] == 4 and (tmp_path / "m.gpfn").exists()
    assert len(committed_shards(store)) <= 1  # read shards were deleted as training moved on


def test_extending_a_store_records_the_new_size(tmp_path):
    """generate 4 draws, then 8 into the same store: the metadata says 8 and every shard is there."""
    from click.testing import CliRunner

    from gpfn_cli.main import main

    generate(cfg(), tmp_path / "s", 4, shard_size=2)
    assert read_metadata(tmp_path / "s")["num_draws"] == 4
    r = CliRunner().invoke(main, ["generate", "--store", str(tmp_path / "s"), "--num-draws", "8", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert read_metadata(tmp_path / "s")["num_draws"] == 8 and committed_shards(tmp_path / "s") == [0, 1, 2, 3]
    r = CliRunner().invoke(main, ["inspect", str(tmp_path / "s")])
    assert "num_draws: 8" in r.output and "progress: 100.0%" in r.output
    generate(cfg(), tmp_path / "s", 6, shard_size=2)  # asking for fewer never shrinks it
    assert read_metadata(tmp_path / "s")["num_draws"] == 8
    assert not list((tmp_path / "s").glob(".zarr.json.tmp*"))
