"""Scoring a network on held-out prior draws: :class:`Validation` preprocesses draws once
(as ``gpfn predict`` would) and reports the model's and GBLUP's Pearson r with the true
genetic values, with or without a model's stacking.  What fit validation, the stacking
fit and the model cards' held-out rows all use."""

from __future__ import annotations

from typing import Any

import numpy as np

from gpfn_core.errors import GpfnError, ValidationError
from gpfn_core.interfaces import Prior
from gpfn_core.linear.gblup import gblup
from gpfn_core.metrics import pearson
from gpfn_core.net.bar import BarDistribution
from gpfn_core.net.config import VALIDATION_INDEX, FitConfig
from gpfn_core.net.inference import combine_members, member_outputs, model_context
from gpfn_core.net.model import PFN
from gpfn_core.net.preprocess import STACK_ANCHORS, anchors_at, loo_choice, prepare
from gpfn_core.net.stacking import stacked


class Validation:
    """Held-out prior draws: mean Pearson r of the model and of GBLUP on the same draws."""

    def __init__(self, prior: Prior, selector_cls: type, cfg: FitConfig, start: int = VALIDATION_INDEX,
                 draws: int | None = None, baselines: dict[str, Any] | None = None,
                 fixed: dict[str, Any] | None = None, scores: bool = True,
                 anchors: bool | tuple[str, ...] = True) -> None:
        """``baselines``: further methods to score on the same draws, name ->
        ``fn(dosage_train, y_train, dosage_target) -> predictions`` (e.g. the elastic net).
        ``fixed``: the hyperparameters every draw takes (default: the population size the
        model is trained for, ``cfg.validation_pop_size``, with the prior's own split).
        ``scores=False`` skips GBLUP and the baselines (for :meth:`network_outputs` alone,
        as the stacking fit uses it; :meth:`evaluate` needs them).  ``anchors``: the stacking
        anchors to compute (:func:`~gpfn_core.net.preprocess.prepare`'s; True: those a
        stacking fitted at the draw's training-set size tries,
        :func:`~gpfn_core.net.preprocess.anchors_at`, and :meth:`evaluate` refuses a stacking
        that weighs another there)."""
        self.items, self.gblup_r, self.params, self.loo_choice_r = [], [], [], []
        self.computed: list[set[str]] = []  # per item, the anchors computed
        self.baseline_r: dict[str, list[float]] = {name: [] for name in baselines or {}}
        self.context = model_context(cfg.context, cfg.max_training_samples, cfg.pop_max_size)  # as predict's
        fixed = {"pop_size": cfg.validation_pop_size} if fixed is None else fixed
        for j in range(cfg.val_draws if draws is None else draws):
            i = start + j
            try:  # the population size the model is trained for (its context's); the prior's own split
                raw = prior.draw(i, fixed=fixed)
            except TypeError:
                raw = prior.draw(i)
            truth = raw.g if raw.g is not None else raw.y
            nt = raw.n_train
            try:  # the preprocessing of preprocess_draw, keeping the stacking anchors
                wanted = anchors_at(nt) if anchors is True else tuple(anchors or ())
                p = prepare(raw.x[:nt], raw.y[:nt], raw.x[nt:], selector_cls(cfg.feature_max_size, seed=i),
                            cfg.smoothers, anchors=wanted)
            except ValidationError:
                continue
            # true values on the standardised scale of the training phenotypes (as the model predicts them)
            self.items.append((p.train, p.y_train, p.target, p.scale.transform(truth[nt:]), p.anchors))
            self.computed.append(set(wanted))
            self.params.append(raw.params)
            if not scores:
                continue
            self.loo_choice_r.append(_loo_choice_r(p.train, p.y_train, p.target, truth[nt:], cfg))
            self.gblup_r.append(pearson(gblup(raw.x[:nt], raw.y[:nt], raw.x[nt:]).prediction, truth[nt:]))
            for name, fn in (baselines or {}).items():
                self.baseline_r[name].append(pearson(fn(raw.x[:nt], raw.y[:nt], raw.x[nt:]), truth[nt:]))

    def _members(self, model: PFN, bar: BarDistribution, j: int, quantiles: tuple[float, ...] = ()):
        """The network's ensemble members on draw ``j`` (as ``gpfn predict`` runs them)."""
        ft, yt, fv, _, _ = self.items[j]
        return member_outputs(model, bar, ft, yt, fv, self.context, seed=j, quantiles=quantiles)

    def network_outputs(self, model: PFN, bar: BarDistribution) -> list[dict[str, Any]]:
        """Per draw, on the standardised scale (what the stacking is fitted on): the network's
        predictive ``mean``, ``q0.05`` and ``q0.95`` (its ensemble's, as ``gpfn predict``
        combines them), the stacking ``anchors`` (None without them), the ``truth`` and
        ``n_train``."""
        out = []
        for j, (ft, _, _, truth, anchors) in enumerate(self.items):
            c = combine_members(self._members(model, bar, j, (0.05, 0.95)))
            out.append({"mean": c["mean"], "q0.05": c["q0.05"], "q0.95": c["q0.95"], "anchors": anchors,
                        "truth": truth, "n_train": len(ft)})
        return out

    def evaluate(self, model: PFN, bar: BarDistribution, per_draw: bool = False, stack=None) -> dict[str, Any]:
        """Mean and sd over draws of Pearson r (model, GBLUP), the paired difference
        model - GBLUP with its standard error, and the share of targets whose true value
        lies in the predicted [q05, q95] (``coverage90``); ``per_draw`` adds both r lists and
        each draw's polygenic share of the genetic variance (``poly_share_per_draw``, the
        architecture the benchmarks split by).  ``stack``: a :class:`~gpfn_core.net.stacking.Stack`
        (a model file's ``stack_weights``) blending the network's mean with the closed-form
        anchors and scaling its intervals, as ``gpfn predict`` applies it at each draw's
        training-set size; the network alone is then reported too (``network_r``,
        ``network_diff``)."""
        rs, net_rs, inside, total, width_ratio, used = [], [], 0, 0, [], []
        for j, (ft, yt, fv, truth, anchors) in enumerate(self.items):
            members = self._members(model, bar, j, (0.05, 0.95))
            net_rs.append(pearson(combine_members(members)["mean"], truth))
            p, weights, widen = stacked(members, anchors, stack, len(yt))
            if weights is not None and anchors is not None:
                missing = [a for a, w in zip(STACK_ANCHORS, weights[1:]) if w != 0 and a not in self.computed[j]]
                if missing:
                    raise GpfnError(f"the stacking weighs {missing} at {len(yt)} training individuals, which this "
                                    f"validation did not compute (Validation(anchors=...))")
            if weights is not None:
                used.append([*weights, widen])
            rs.append(pearson(p["mean"], truth))
            inside += int(((p["q0.05"] <= truth) & (truth <= p["q0.95"])).sum())
            total += len(truth)
            # (q95 - q05) / (2 * 1.645 sd): 1 when sd and quantiles tell the same (normal) story
            width_ratio.append(np.median((p["q0.95"] - p["q0.05"]) / np.maximum(3.2897 * p["sd"], 1e-12)))
        rs = np.array(rs)
        gs = np.array(self.gblup_r)

        def paired(r: np.ndarray) -> tuple[np.ndarray, float, float]:
            """Finite paired differences r - GBLUP, their mean and its SE."""
            d = (r - gs)[np.isfinite(r - gs)]
            return (d, float(d.mean()) if d.size else float("nan"),
                    float(d.std(ddof=1) / np.sqrt(d.size)) if d.size > 1 else float("nan"))

        diff, diff_mean, diff_se = paired(rs)
        out = {"model_r": float(np.nanmean(rs)), "model_r_sd": float(np.nanstd(rs)),
               "gblup_r": float(np.nanmean(gs)), "gblup_r_sd": float(np.nanstd(gs)),
               "diff": diff_mean, "diff_se": diff_se,
               "draws": len(rs), "coverage90": inside / total if total else float("nan"),
               "interval_to_sd": float(np.mean(width_ratio)) if width_ratio else float("nan"),
               "wins": float(np.mean(diff > 0)) if diff.size else float("nan")}
        if used:  # the weights (and interval scale) applied, averaged over the draws
            _, net_mean, net_se = paired(np.array(net_rs))
            avg = np.mean(used, axis=0)
            out.update({"stack_weights": [float(v) for v in avg[:-1]], "interval_scale": float(avg[-1]),
                        "network_r": float(np.nanmean(net_rs)), "network_diff": net_mean, "network_diff_se": net_se})
        if per_draw:
            out["model_r_per_draw"], out["gblup_r_per_draw"] = rs.tolist(), gs.tolist()
            out["poly_share_per_draw"] = [float(p.get("poly_share", float("nan"))) for p in self.params]
            if used:
                out["network_r_per_draw"] = list(net_rs)
            if any(np.isfinite(self.loo_choice_r)):
                out["loo_choice_r_per_draw"] = list(self.loo_choice_r)
            if self.baseline_r:
                out["baseline_r_per_draw"] = {k: list(v) for k, v in self.baseline_r.items()}
        return out


def _loo_choice_r(f_train: np.ndarray, y_train: np.ndarray, f_target: np.ndarray, truth: np.ndarray,
                  cfg: FitConfig) -> float:
    """r with ``truth`` of the smoother column (a BLUP at one h2 of one smoother) whose
    leave-one-out values fit the training phenotypes best: what cross-validated model
    selection among the model's own inputs gives (nan without smoothers)."""
    choice = loo_choice(f_train, y_train, f_target, cfg.feature_max_size, cfg.smoothers)
    return float("nan") if choice is None else pearson(choice, truth)
