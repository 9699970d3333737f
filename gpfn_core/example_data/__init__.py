"""The bundled example: one NAM draw of gpfn's own simulator (prior seed 2024, draw 0).

210 phenotyped training and 90 target individuals (unseen families) x 2,000 SNPs:
``train.hmp.txt``, ``train_phenotypes.csv``, ``target.hmp.txt`` and the targets' true
genetic values ``target_true_values.csv``.  Made by ``examples/make_example_data.py``;
``gpfn demo`` parses it and predicts the targets with the shipped model.
"""

from pathlib import Path

DIR = Path(__file__).parent
FILES = {"train": DIR / "train.hmp.txt", "phenotypes": DIR / "train_phenotypes.csv",
         "target": DIR / "target.hmp.txt", "truth": DIR / "target_true_values.csv"}
