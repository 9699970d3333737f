"""gpfn from Python: GPFNRegressor on the bundled NAM example, next to GBLUP.

    python examples/estimator.py

Reads the example's HapMap files into 0/1/2 dosage matrices (NaN = missing), predicts the
90 targets with the shipped NAM model, and scores GPFN and GBLUP against the simulated
true genetic values; then runs scikit-learn's cross-validation on the training lines.
"""

import csv

import numpy as np
from sklearn.model_selection import KFold, cross_val_score

from gpfn import GPFNRegressor
from gpfn_core.example_data import FILES
from gpfn_core.linear.gblup import gblup
from gpfn_core.tasks.parse import choose_reader


def dosages(path):
    table = choose_reader(path, None).read(path)  # the same readers `gpfn parse` uses
    return table.taxa, np.where(table.dosage < 0, np.nan, table.dosage).astype(float)


def column(path, name):
    with open(path, newline="") as f:
        return {row["taxon"]: float(row[name]) for row in csv.DictReader(f)}


taxa_train, X_train = dosages(FILES["train"])
taxa_target, X_target = dosages(FILES["target"])
pheno = column(FILES["phenotypes"], "yield")
truth = column(FILES["truth"], "genetic_value")
y_train = np.array([pheno[t] for t in taxa_train])
g_target = np.array([truth[t] for t in taxa_target])

est = GPFNRegressor(model="nam").fit(X_train, y_train)  # stores the population; nothing is fitted
mean, sd = est.predict(X_target, return_std=True)
q05, q95 = est.predict_quantiles(X_target, [0.05, 0.95]).T
gb = gblup(np.nan_to_num(X_train, nan=-1).astype(np.int8), y_train,
           np.nan_to_num(X_target, nan=-1).astype(np.int8)).prediction

print(f"{len(y_train)} training lines, {len(mean)} targets, {X_train.shape[1]} markers")
print(f"GPFN  r with true genetic values: {np.corrcoef(mean, g_target)[0, 1]:.3f}")
print(f"GBLUP r with true genetic values: {np.corrcoef(gb, g_target)[0, 1]:.3f}")
print(f"90% intervals cover {np.mean((q05 <= g_target) & (g_target <= q95)):.0%} of the true values; "
      f"mean sd {sd.mean():.2f}")
scores = cross_val_score(GPFNRegressor(model="nam"), X_train, y_train, cv=KFold(5, shuffle=True, random_state=0),
                         scoring="r2")
print(f"5-fold cross-validated R^2 on the training lines (observed yields): {scores.mean():.3f} ± {scores.std():.3f}")
