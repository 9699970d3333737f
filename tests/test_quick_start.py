"""README's quick start, run exactly as README states it, and its example commands.

The quick start is the first code block of README.md (after ``<!-- quick-start -->``):
the install steps (the same as .ci/run's, which has already run them here), then the
``gpfn`` commands, which this test runs with the installed console script in a fresh
folder, so they need nothing but the installed package (shipped model, bundled data).
"""

import csv
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from gpfn_core.example_data import FILES

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def block_after(marker: str) -> list[str]:
    """The lines of the first ```bash block after ``marker``."""
    m = re.search(re.escape(marker) + r"\s*```bash\n(.*?)```", README, re.S)
    assert m, f"README.md has no ```bash block after {marker}"
    return [ln for ln in m.group(1).splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def run_gpfn(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("gpfn")
    assert exe, "the gpfn console script is not installed"
    return subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def test_quick_start_is_readmes_first_command_and_installs_as_ci_does():
    first = README.index("```bash")
    assert README.index("<!-- quick-start -->") < first
    (line,) = block_after("<!-- quick-start -->")
    steps = [s.strip() for s in line.split("&&")]
    ci = (ROOT / ".ci" / "run").read_text()
    installs = [s for s in steps if s.startswith("pip install")]
    assert installs and all(arg in ci for s in installs for arg in shlex.split(s)[2:])
    assert any(s.startswith("gpfn ") for s in steps)


def test_quick_start_predicts_the_example_with_the_shipped_model(tmp_path):
    (line,) = block_after("<!-- quick-start -->")
    commands = [shlex.split(s.strip()) for s in line.split("&&") if s.strip().startswith("gpfn ")]
    for cmd in commands:
        r = run_gpfn(cmd[1:], tmp_path)
        assert r.returncode == 0, r.stderr
    assert "(shipped, population type nam)" in r.stderr
    m = re.search(r"^predictions: (.+)$", r.stdout, re.M)
    assert m, r.stdout
    out = tmp_path / m.group(1)
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    with open(FILES["truth"], newline="") as f:
        truth = {row["taxon"]: float(row["genetic_value"]) for row in csv.DictReader(f)}
    assert [r["taxon"] for r in rows] == list(truth)  # every target, in the target file's order
    mean, sd, q05, q95 = (np.array([float(r[k]) for r in rows]) for k in ("mean", "sd", "q05", "q95"))
    assert np.isfinite(mean).all() and (sd > 0).all() and (q05 <= mean).all() and (mean <= q95).all()
    r_model = np.corrcoef(mean, [truth[r["taxon"]] for r in rows])[0, 1]
    reported = re.search(r"GPFN (-?[0-9.]+), GBLUP (-?[0-9.]+)", r.stderr)
    assert reported and float(reported.group(1)) == pytest.approx(r_model, abs=5e-4)
    r_gblup = float(reported.group(2))
    # one draw of one trait: GPFN within 0.05 of GBLUP on the same draw (the tables in README are over 200 draws)
    assert r_model > r_gblup - 0.05 and r_gblup > 0.1


def test_readme_example_commands_run(tmp_path):
    """README's step-by-step version (parse, predict with the shipped model, evaluate)."""
    lines = block_after("<!-- example-commands -->")
    data = str(FILES["train"].parent.relative_to(ROOT))
    for line in lines:
        args = shlex.split(line.replace(data, str(FILES["train"].parent)))
        assert args[0] == "gpfn", line
        r = run_gpfn(args[1:], tmp_path)
        assert r.returncode == 0, f"{line}\n{r.stderr}"
    with open(tmp_path / "predictions.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 90
