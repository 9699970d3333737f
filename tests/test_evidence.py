"""Every number the project quotes comes from a recorded run, and says the same everywhere.

README's result blocks are rendered from the records and the model files
(``benchmarks/report.py``); each shipped model's card is its file's metadata; each result
a model file holds names a record that holds the same number.  And the project's own
files speak of the project, not of how it was built.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import report  # noqa: E402

from gpfn_core.models.scoring import current  # noqa: E402


def test_readme_blocks_are_the_records():
    text = (ROOT / "README.md").read_text()
    blocks = report.BLOCK.findall(text)
    assert {b[1] for b in blocks} >= {"heldout", "real", "time"}, "README has lost a result block"
    assert report.render(text) == text, "README's result blocks differ from the records: run benchmarks/report.py --write"


def test_every_shipped_card_is_its_model_file():
    for path, text in report.cards().items():
        assert path.exists(), f"{path.name}: no card beside the model"
        assert path.read_text() == text, f"{path.name} differs from its model file: run benchmarks/report.py --write"


@pytest.mark.parametrize("path", [p for p, _ in report.installed()], ids=lambda p: p.stem)
def test_a_model_files_results_are_in_their_records(path):
    res = current(path)
    checked = 0
    for draws_from, cells in res["matrix"].items():
        for prior, cell in cells.items():
            rec = json.loads((ROOT / cell["record"]).read_text())
            assert rec["models"][path.name]["fingerprint"] == cell["fingerprint"]
            found = rec["results"][path.name]
            found = found.get(prior, found) if "model_r" not in found else found
            assert found["model_r"] == pytest.approx(cell["model_r"]) and found["gblup_r"] == pytest.approx(cell["gblup_r"])
            checked += 1
    for name, b in res["benchmarks"].items():
        if "record" in b:
            assert (ROOT / b["record"]).exists(), f"{path.name}: {name} names a missing record"
            checked += 1
    if res["matrix"] or res["benchmarks"]:
        assert checked


HISTORY = re.compile(r"\bsessions?\b|\bruns? \d+\b|\bissues? \d+\b|\bstop \d+\b", re.I)


def test_the_project_files_speak_of_the_project_not_of_how_it_was_built():
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for folder in ("gpfn_core", "plugins", "cli", "benchmarks", "examples"):
        files += [p for p in sorted((ROOT / folder).rglob("*")) if p.suffix in (".py", ".md") and "build" not in p.parts]
    found = []
    for p in files:
        for i, line in enumerate(p.read_text().splitlines(), 1):
            if HISTORY.search(line):
                found.append(f"{p.relative_to(ROOT)}:{i}: {line.strip()[:100]}")
    assert found == []
