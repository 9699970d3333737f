"""The breeding simulator and the priors over it.

Owns: meiosis, crosses and mating (:mod:`~gpfn_core.sim.engine`), founder populations
(:mod:`~gpfn_core.sim.founders`), quantitative traits (:mod:`~gpfn_core.sim.trait`),
the generic prior that samples a breeding scheme's hyperparameters
(:mod:`~gpfn_core.sim.prior`) and the draw store of preprocessed draws
(:mod:`~gpfn_core.sim.store`).

May import: the contracts (:mod:`gpfn_core.types`, ``interfaces``, ``bits``, ``errors``,
``threads``) and nothing else of gpfn_core.  No torch.
"""
