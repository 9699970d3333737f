"""Interruption: SIGKILL at random points of parse, predict, generate (also under MPI) and fit.

Each command is run once to the end for reference and timed; then it is started again
and killed (the whole process group, as a cluster's scheduler or an OOM killer would) at
points spread over that time, and rerun as a user would (``--force`` for an output that
may exist, ``--resume`` where a checkpoint is there).  The rerun must end complete and
identical to the uninterrupted run, with no temporary file left.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import needs

from gpfn_core.data.dataset import read_dataset

POINTS = (0.15, 0.4, 0.65, 0.9)  # of the uninterrupted run's duration
GPFN = [sys.executable, "-m", "gpfn_cli.main"]


def run(args: list[str], cwd: Path, prefix: list[str] = GPFN) -> subprocess.CompletedProcess:
    r = subprocess.run([*prefix, *args], cwd=cwd, capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def kill_during(args: list[str], cwd: Path, after: float, prefix: list[str] = GPFN) -> bool:
    """Start the command in a process group of its own and SIGKILL the group ``after`` seconds
    later; True if it was still running."""
    p = subprocess.Popen([*prefix, *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    time.sleep(after)
    alive = p.poll() is None
    if alive:
        os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    if prefix is not GPFN:  # MPI ranks run under the launcher's proxy, outside its group: kill the job's
        _kill_matching(args)  # ranks too, as a cluster's scheduler ends every process of a job
    return alive


def _kill_matching(args: list[str], wait: float = 20.0) -> None:
    """SIGKILL every process whose command line holds ``args`` (this job's, by its unique
    store path), and wait until none is left."""
    def matching() -> list[int]:
        pids = []
        for d in Path("/proc").iterdir():
            if d.name.isdigit() and int(d.name) != os.getpid():
                try:
                    cmd = (d / "cmdline").read_bytes().split(b"\0")
                except OSError:
                    continue
                if all(a.encode() in cmd for a in args[-4:]):
                    pids.append(int(d.name))
        return pids

    deadline = time.monotonic() + wait
    while (pids := matching()) and time.monotonic() < deadline:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.2)


def timed(args: list[str], cwd: Path, prefix: list[str] = GPFN) -> float:
    t = time.perf_counter()
    run(args, cwd, prefix)
    return time.perf_counter() - t


def temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".tmp" in p.name]


@pytest.fixture(scope="module")
def vcf(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    n, m = 500, 6000
    g = rng.integers(0, 3, (n, m))
    gt = np.array(["0/0", "0/1", "1/1"])
    path = tmp_path_factory.mktemp("vcf") / "g.vcf"
    with open(path, "w") as f:
        f.write("##fileformat=VCFv4.2\n##contig=<ID=1>\n##FORMAT=<ID=GT,Number=1,Type=String,Description=\"GT\">\n"
                "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(f"s{i}" for i in range(n)) + "\n")
        for j in range(m):
            f.write(f"1\t{(j + 1) * 10}\tm{j}\tA\tG\t.\t.\t.\tGT\t" + "\t".join(gt[g[:, j]]) + "\n")
    return path


def same_dataset(a: Path, b: Path) -> None:
    x, y = read_dataset(a), read_dataset(b)
    np.testing.assert_array_equal(x.table.dosage, y.table.dosage)
    assert list(x.table.taxa) == list(y.table.taxa) and list(x.table.marker) == list(y.table.marker)


def test_parse(vcf, tmp_path, tally):
    ref = tmp_path / "ref.zip"
    seconds = timed(["parse", str(vcf), "-o", str(ref)], tmp_path)
    for point in POINTS:
        out = tmp_path / f"out{point}.zip"
        killed = kill_during(["parse", str(vcf), "-o", str(out)], tmp_path, point * seconds)
        assert not out.exists() or read_dataset(out)  # whole or absent, never half
        run(["parse", str(vcf), "-o", str(out), "--force"], tmp_path)
        same_dataset(ref, out)
        assert temporaries(tmp_path) == []
        tally("kills survived: parse", int(killed))
        tally("runs: parse")


def test_predict(tmp_path, tally, model_path, draw):
    from helpers import setup

    tr, tg, _ = setup(tmp_path, draw, n_train=100)
    args = ["predict", "--model", str(model_path), "--train", str(tr), "--target", str(tg), "--ensemble", "6"]
    seconds = timed([*args, "-o", str(tmp_path / "ref.csv")], tmp_path)
    for point in POINTS:
        out = tmp_path / f"p{point}.csv"
        killed = kill_during([*args, "-o", str(out)], tmp_path, point * seconds)
        run([*args, "-o", str(out), "--force"], tmp_path)
        assert out.read_text() == (tmp_path / "ref.csv").read_text()
        assert temporaries(tmp_path) == []
        tally("kills survived: predict", int(killed))
        tally("runs: predict")


GENERATE = ["generate", "--prior", "ril", "--founders", "random", "--set", "n_markers=300", "--num-draws", "24",
            "--shard-size", "2", "--feature-max-size", "8", "--pop-max-size", "80", "--batch-size", "2", "--no-progress"]


def same_store(a: Path, b: Path) -> None:
    from gpfn_core.sim.store import StoreReader, committed_shards

    assert committed_shards(a) == committed_shards(b)
    ra, rb = StoreReader(a), StoreReader(b)
    assert ra.available() == rb.available() == ra.meta["num_draws"]
    for i in range(ra.available()):
        for u, v in zip(ra[i], rb[i]):
            np.testing.assert_array_equal(u, v)


def test_generate(tmp_path, tally):
    seconds = timed([*GENERATE, "--store", str(tmp_path / "ref")], tmp_path)
    for point in POINTS:
        store = tmp_path / f"s{point}"
        killed = kill_during([*GENERATE, "--store", str(store)], tmp_path, point * seconds)
        run([*GENERATE, "--store", str(store)], tmp_path)
        same_store(tmp_path / "ref", store)
        assert temporaries(store) == []
        tally("kills survived: generate", int(killed))
        tally("runs: generate")


@needs("mpiexec", modules=("mpi4py",))
def test_generate_under_mpi(tmp_path, tally):
    mpi = [shutil.which("mpiexec"), "-n", "2", *GPFN]
    run([*GENERATE, "--store", str(tmp_path / "ref")], tmp_path)
    seconds = timed([*GENERATE, "--store", str(tmp_path / "warm"), "--mpi"], tmp_path, mpi)
    for point in POINTS[1:3]:
        store = tmp_path / f"s{point}"
        killed = kill_during([*GENERATE, "--store", str(store), "--mpi"], tmp_path, point * seconds, mpi)
        run([*GENERATE, "--store", str(store), "--mpi"], tmp_path, mpi)
        same_store(tmp_path / "ref", store)
        assert temporaries(store) == []
        tally("kills survived: generate --mpi", int(killed))
        tally("runs: generate --mpi")


FIT = ["fit", "--prior", "ril", "--founders", "random", "--set", "n_markers=300", "--feature-max-size", "8",
       "--pop-max-size", "60", "--emb-size", "16", "--num-layers", "1", "--num-heads", "2", "--hidden-dim", "16",
       "--batch-size", "2", "--num-samples", "60", "--border-draws", "5", "--val-draws", "2", "--stack-draws", "3",
       "--stack-sizes", "10,20", "--checkpoint-steps", "2", "--no-progress", "--seed", "3"]


def test_fit(tmp_path, tally):
    from safetensors.torch import load_file

    seconds = timed([*FIT, "-o", str(tmp_path / "ref.gpfn")], tmp_path)
    ref = load_file(str(tmp_path / "ref.gpfn"))
    for point in POINTS:
        out = tmp_path / f"m{point}.gpfn"
        killed = kill_during([*FIT, "-o", str(out)], tmp_path, point * seconds)
        ckpt = Path(f"{out}.ckpt")
        run([*FIT, "-o", str(out), *(["--resume", str(ckpt)] if ckpt.exists() else [])], tmp_path)
        got = load_file(str(out))
        assert got.keys() == ref.keys() and all(np.array_equal(got[k].numpy(), ref[k].numpy()) for k in ref)
        assert temporaries(tmp_path) == []
        tally("kills survived: fit", int(killed))
        tally("runs: fit")
