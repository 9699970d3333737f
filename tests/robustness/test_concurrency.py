"""Concurrency: two generators on one store, a trainer following a store being written, and
two predictions racing for one output file."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from test_interruption import GENERATE, GPFN, run, same_store, temporaries


def start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([*GPFN, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))


def test_two_generators_on_one_store_write_each_draw_once(tmp_path, tally):
    run([*GENERATE, "--store", str(tmp_path / "ref")], tmp_path)
    for attempt in range(2):
        store = tmp_path / f"s{attempt}"
        procs = [start([*GENERATE, "--store", str(store)], tmp_path) for _ in range(2)]
        outs = [p.communicate(timeout=600) for p in procs]
        assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
        reports = [json.loads(o[0]) for o in outs]
        assert all(r["draws"] == 24 for r in reports)
        shards = sorted(p.name for p in (store / "shards").iterdir())
        assert shards == [f"{s:08d}" for s in range(12)]  # every shard once, no leftovers
        same_store(tmp_path / "ref", store)
        assert temporaries(store) == []
        tally("concurrent generators: pairs")


def test_a_trainer_follows_a_store_while_it_is_written(tmp_path, tally):
    store = tmp_path / "live"
    fit = start(["fit", "--prior", "ril", "--founders", "random", "--set", "n_markers=300", "--feature-max-size", "8",
                 "--pop-max-size", "80", "--batch-size", "2", "--emb-size", "16", "--num-layers", "1", "--num-heads",
                 "2", "--hidden-dim", "16", "--num-samples", "24", "--shard-size", "2", "--border-draws", "4",
                 "--val-draws", "0", "--stack-draws", "0", "--store", str(store), "--follow", "--delete-consumed",
                 "--no-progress", "-o", str(tmp_path / "m.gpfn")], tmp_path)
    import time

    t0 = time.time()
    while not (store / "zarr.json").exists() and time.time() - t0 < 120:  # the trainer writes the metadata first
        time.sleep(0.1)
    gen = start(["generate", "--store", str(store), "--no-progress"], tmp_path)
    out_gen, out_fit = gen.communicate(timeout=600), fit.communicate(timeout=600)
    assert gen.returncode == 0 and fit.returncode == 0, (out_gen[1][-2000:], out_fit[1][-2000:])
    assert json.loads(out_fit[0])["steps"] == 12 and (tmp_path / "m.gpfn").exists()
    assert len(list((store / "shards").iterdir())) <= 1  # consumed shards deleted as it went
    tally("followed stores")


def test_two_predictions_racing_for_one_output(tmp_path, tally, model_path, draw):
    from helpers import setup

    tr, tg, _ = setup(tmp_path, draw, n_train=100)
    out = tmp_path / "p.csv"
    args = ["predict", "--model", str(model_path), "--train", str(tr), "--target", str(tg), "-o", str(out)]
    for attempt in range(3):
        out.unlink(missing_ok=True)
        procs = [start(args, tmp_path) for _ in range(2)]
        outs = [p.communicate(timeout=600) for p in procs]
        codes = sorted(p.returncode for p in procs)
        assert codes[0] == 0, [o[1][-2000:] for o in outs]
        if codes[1] != 0:  # both ran to the end: one published, the other was told
            loser = outs[[p.returncode for p in procs].index(1)][1]
            assert f"Error: {out}: already exists" in loser
        assert len(out.read_text().splitlines()) == draw.n - 100 + 1 and temporaries(tmp_path) == []
        tally("racing predictions")


