"""What a user asks gpfn to do: parse files into a Dataset (:mod:`~gpfn_core.tasks.parse`),
generate prior draws into a store (:mod:`~gpfn_core.tasks.generate`), predict breeding
values (:mod:`~gpfn_core.tasks.predict`), rank planned crosses by their simulated progeny
(:mod:`~gpfn_core.tasks.cross`), choose the lines to phenotype
(:mod:`~gpfn_core.tasks.trainset`), compare methods on the same folds
(:mod:`~gpfn_core.tasks.evaluate`), and the scikit-learn estimator
(:mod:`~gpfn_core.tasks.estimator`).  The CLI's commands call these.

May import: everything below it in gpfn_core (contracts, registry, sim, data, linear,
net, models).
"""
