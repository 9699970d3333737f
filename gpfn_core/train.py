"""Fitting a PFN on prior draws: ``gpfn fit``.

Draws are generated on the fly by DataLoader workers; draw ``i`` is a pure function of
``(seed, i)``, and each micro-batch's training-set size comes from a schedule seeded
by its step, so the data a run sees does not depend on the number of workers, and a
run resumed from a checkpoint continues exactly where it stopped (model, optimiser,
scheduler, torch RNG and step are checkpointed).  Several GPUs: launch with torchrun;
each rank takes its own slice of every step's draws and DDP averages the gradients.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from gpfn_core.bar import BarDistribution, bar_loss, estimate_borders
from gpfn_core.draws import DrawDataset, FitConfig, Schedule, _world, build  # noqa: F401 (re-exported)
from gpfn_core.errors import GpfnError, ValidationError
from gpfn_core.gblup import gblup
from gpfn_core.inference import combine_members, member_outputs, model_context, resolve_device
from gpfn_core.interfaces import Prior
from gpfn_core.model import PFN, grow_smoother_inputs
from gpfn_core.modelfile import save_model
from gpfn_core.preprocess import loo_choice, parse_smoothers, prepare

BORDER_INDEX = 3_000_000_000  # prior draws used for bucket borders start here
VALIDATION_INDEX = 4_000_000_000  # held-out validation draws start here (training uses 0..num_samples-1)


class StoreDataset(Dataset):
    """Draws read from a draw store (see :mod:`gpfn_core.store`).

    ``follow``: wait for shards that are not committed yet.  ``delete_consumed``: remove
    a shard once reading has moved past it (draws are read in order).
    """

    def __init__(self, path: str, follow: bool = False, delete_consumed: bool = False) -> None:
        from gpfn_core.store import StoreReader

        self.reader = StoreReader(path, delete_consumed=delete_consumed)
        self.follow = follow

    def __len__(self) -> int:
        return int(self.reader.meta["num_draws"]) if self.follow else self.reader.available()

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray, int]:
        if self.follow:
            self.reader.wait_for(index)
        return self.reader[index]


def collate(items: list[tuple[np.ndarray, np.ndarray, int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stack draws, trimmed to the batch's smallest training and evaluation sets."""
    nt = min(it[2] for it in items)
    ne = min(len(it[1]) - it[2] for it in items)
    x = np.stack([np.concatenate([it[0][:nt], it[0][it[2] : it[2] + ne]]) for it in items])
    y = np.stack([np.concatenate([it[1][:nt], it[1][it[2] : it[2] + ne]]) for it in items])
    return torch.from_numpy(x), torch.from_numpy(y[:, :nt]), torch.from_numpy(y[:, nt:])


def _worker_init(_: int) -> None:
    """DataLoader workers are the parallelism: each gets its share of the cores (one thread
    per worker with as many workers as cores; a user's OMP_NUM_THREADS wins).  Without
    this every worker's numpy starts a thread pool as wide as the machine, and draw
    generation on 2 cores ran at a quarter of its single-thread speed."""
    from gpfn_core.threads import limit_threads, threads_for

    limit_threads(threads_for(torch.utils.data.get_worker_info().num_workers)[0])


class StepSampler(Sampler):
    """Indices of micro-steps ``start..stop`` for this rank: step s, rank r, slot b -> s*B*W + r*B + b."""

    def __init__(self, start: int, stop: int, batch: int, rank: int, world: int) -> None:
        self.start, self.stop, self.batch, self.rank, self.world = start, stop, batch, rank, world

    def __iter__(self):
        for s in range(self.start, self.stop):
            base = s * self.batch * self.world + self.rank * self.batch
            yield from range(base, base + self.batch)

    def __len__(self) -> int:
        return (self.stop - self.start) * self.batch


class Validation:
    """Held-out prior draws: mean Pearson r of the model and of GBLUP on the same draws."""

    def __init__(self, prior: Prior, selector_cls: type, cfg: FitConfig, start: int = VALIDATION_INDEX,
                 draws: int | None = None, baselines: dict[str, Any] | None = None,
                 fixed: dict[str, Any] | None = None, scores: bool = True) -> None:
        """``baselines``: further methods to score on the same draws, name ->
        ``fn(dosage_train, y_train, dosage_target) -> predictions`` (e.g. the elastic net).
        ``fixed``: the hyperparameters every draw takes (default: the population size the
        model is trained for, ``cfg.validation_pop_size``, with the prior's own split).
        ``scores=False`` skips GBLUP and the baselines (for :meth:`network_outputs` alone,
        as the stacking fit uses it; :meth:`evaluate` needs them)."""
        self.items, self.gblup_r, self.params, self.loo_choice_r = [], [], [], []
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
                p = prepare(raw.x[:nt], raw.y[:nt], raw.x[nt:], selector_cls(cfg.feature_max_size, seed=i),
                            cfg.smoothers)
            except ValidationError:
                continue
            # true values on the standardised scale of the training phenotypes (as the model predicts them)
            self.items.append((p.train, p.y_train, p.target, p.scale.transform(truth[nt:]), p.anchors))
            self.params.append(raw.params)
            if not scores:
                continue
            self.loo_choice_r.append(_loo_choice_r(p.train, p.y_train, p.target, truth[nt:], cfg))
            self.gblup_r.append(_pearson(gblup(raw.x[:nt], raw.y[:nt], raw.x[nt:]).prediction, truth[nt:]))
            for name, fn in (baselines or {}).items():
                self.baseline_r[name].append(_pearson(fn(raw.x[:nt], raw.y[:nt], raw.x[nt:]), truth[nt:]))

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
        architecture the benchmarks split by).  ``stack``: a :class:`~gpfn_core.stacking.Stack`
        (a model file's ``stack_weights``) blending the network's mean with the closed-form
        anchors and scaling its intervals, as ``gpfn predict`` applies it at each draw's
        training-set size; the network alone is then reported too (``network_r``,
        ``network_diff``)."""
        from gpfn_core.stacking import stacked

        rs, net_rs, inside, total, width_ratio, used = [], [], 0, 0, [], []
        for j, (ft, yt, fv, truth, anchors) in enumerate(self.items):
            members = self._members(model, bar, j, (0.05, 0.95))
            net_rs.append(_pearson(combine_members(members)["mean"], truth))
            p, weights, widen = stacked(members, anchors, stack, len(yt))
            if weights is not None:
                used.append([*weights, widen])
            rs.append(_pearson(p["mean"], truth))
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
    return float("nan") if choice is None else _pearson(choice, truth)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.size < 2 or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])



def _cosine(warmup: int, total: int):
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return f


def fit(cfg: FitConfig, progress: bool = True, log=print) -> dict[str, Any]:
    """Train a model per ``cfg``; writes ``cfg.save_path`` and returns the training statistics."""
    if cfg.store and cfg.follow:
        cfg = follow_store(cfg)
    elif cfg.store:
        cfg = config_from_store(cfg)
    init = None
    if cfg.init_from:
        cfg, init = config_from_model(cfg, log)
    prior, selector_cls = build(cfg)
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if distributed and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() and cfg.device != "cpu" else "gloo"
        torch.distributed.init_process_group(backend)
    rank, world = _world()
    device = resolve_device(cfg.device)
    if device.type == "cuda" and distributed:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    torch.backends.cuda.matmul.allow_tf32 = cfg.allow_tf32
    torch.backends.cudnn.allow_tf32 = cfg.allow_tf32
    torch.manual_seed(cfg.seed)

    model = PFN(cfg.model_config())
    lineage: list[dict[str, Any]] = []
    if init is not None:
        state, width = init[0].state_dict(), init[0].config.smoother_features
        if model.config.smoother_features != width:
            log(f"--init-from {cfg.init_from}: adding smoothers ({width} -> {model.config.smoother_features} "
                "columns, their weights zero-initialised)")
            state = grow_smoother_inputs(state, width, model.config.smoother_features)
        missing, unexpected = model.load_state_dict(state, strict=False)
        grown = {k for k in missing if k.startswith("smoother_stats_encoder.")}  # zero-initialised: same function
        if unexpected or set(missing) - grown:
            raise ValidationError(f"{cfg.init_from}: weights do not fit the architecture (missing "
                                  f"{sorted(set(missing) - grown)}, unexpected {sorted(unexpected)})")
        if grown:
            log(f"--init-from {cfg.init_from}: adding smoother statistics (zero-initialised)")
        lineage = init[2]
    schedule = Schedule(cfg)
    per_step = cfg.batch_size * world
    live = DrawDataset(prior, selector_cls, cfg, schedule, per_step)
    data = StoreDataset(cfg.store, cfg.follow, cfg.delete_consumed) if cfg.store else live
    total = cfg.total_steps
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _cosine(cfg.warmup_steps, total))
    step, history, seconds_before, state_draws = 0, [], 0.0, 0
    if cfg.resume:
        state = torch.load(cfg.resume, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        torch.set_rng_state(state["rng"])
        borders = state["borders"].numpy()
        step, history = int(state["step"]), json.loads(state["history"])
        seconds_before = float(state["seconds"])
        state_draws = int(state.get("draws", 0))
        log(f"resumed from {cfg.resume} at step {step}")
    elif init is not None:
        borders = init[1].borders.numpy()
        log(f"starting from {cfg.init_from} ({sum(r.get('draws', 0) for r in lineage):,} draws of training so far)")
    else:
        values = []
        for j in range(cfg.border_draws):
            # a finished store's first draws; otherwise (also when following) fresh prior draws
            x, y, nt = data[j] if cfg.store and not cfg.follow else live[BORDER_INDEX + j]
            values.append(y[nt:])
        borders = estimate_borders(np.concatenate(values), cfg.num_buckets)
    bar = BarDistribution(borders).to(device)
    model.to(device)
    for s in opt.state.values():  # optimiser state follows the model's device
        for k, v in s.items():
            if torch.is_tensor(v) and k != "step":
                s[k] = v.to(device)
    net = torch.nn.parallel.DistributedDataParallel(model) if distributed else model
    validation = Validation(prior, selector_cls, cfg) if rank == 0 and cfg.val_draws > 0 else None
    writer = _tensorboard(cfg.tensorboard) if rank == 0 else None
    stop = total if cfg.max_steps is None else min(total, cfg.max_steps)
    acc = cfg.accumulation_steps
    loader = DataLoader(data, batch_size=cfg.batch_size, sampler=StepSampler(step * acc, stop * acc, cfg.batch_size, rank, world),
                        num_workers=cfg.num_workers, collate_fn=collate, persistent_workers=False,
                        worker_init_fn=_worker_init if cfg.num_workers else None,
                        prefetch_factor=4 if cfg.num_workers else None,
                        # its own generator: creating the iterator must not consume the global RNG (dropout)
                        generator=torch.Generator().manual_seed(cfg.seed))
    autocast = device.type == "cuda" and cfg.bf16
    bar_iter = _progress(stop, step, progress and rank == 0)
    t0, draws, running = time.perf_counter(), 0, {"loss": [], "r": []}
    net.train()
    for micro, (x, y_train, y_eval) in enumerate(loader, start=step * acc):
        x, y_train, y_eval = x.to(device), y_train.to(device), y_eval.to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            logits = net(x, y_train)
        loss = bar_loss(bar, logits.float(), y_eval, cfg.loss_function)
        (loss / acc).backward()
        draws += x.shape[0] * world
        running["loss"].append(loss.item())
        with torch.no_grad():
            running["r"].append(float(np.nanmean([_pearson(m, t) for m, t in
                                                  zip(bar.mean(logits.float()).cpu().numpy(), y_eval.cpu().numpy())])))
        if (micro + 1) % acc:
            continue
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        if bar_iter is not None:
            bar_iter.update(1)
            bar_iter.set_postfix(loss=f"{np.mean(running['loss'][-50:]):.3f}", r=f"{np.nanmean(running['r'][-50:]):.3f}")
        if rank == 0 and cfg.log_steps and step % cfg.log_steps == 0:
            rec = {"step": step, "loss": float(np.mean(running["loss"][-cfg.log_steps * acc:])),
                   "train_r": float(np.nanmean(running["r"][-cfg.log_steps * acc:])), "lr": sched.get_last_lr()[0]}
            history.append(rec)
            if writer:
                for k in ("loss", "train_r", "lr"):
                    writer.add_scalar(f"train/{k}", rec[k], step)
            if bar_iter is None:
                log(json.dumps(rec))
        if validation and cfg.val_every and step % cfg.val_every == 0:
            v = validation.evaluate(model, bar)
            history.append({"step": step, **{f"val_{k}": val for k, val in v.items()}})
            if writer:
                writer.add_scalar("val/model_r", v["model_r"], step)
                writer.add_scalar("val/gblup_r", v["gblup_r"], step)
            log(f"step {step}: validation r model {v['model_r']:.3f} vs GBLUP {v['gblup_r']:.3f} ({v['draws']} draws)")
        if rank == 0 and cfg.checkpoint_steps and step % cfg.checkpoint_steps == 0:
            save_checkpoint(cfg, model, opt, sched, borders, step, history, seconds_before + time.perf_counter() - t0,
                            state_draws + draws)
        if step >= stop:
            break
    if bar_iter is not None:
        bar_iter.close()
    seconds = time.perf_counter() - t0
    stats: dict[str, Any] = {}
    if rank == 0:
        stats = {
            "steps": step, "draws_seen": draws + state_draws, "seconds": seconds_before + seconds,
            "draws_per_second": draws / seconds if seconds > 0 else None,
            "device": str(device) + (f" x{world}" if world > 1 else ""),
            "hardware": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({os.cpu_count()} cores)",
            "final_loss": float(np.mean(running["loss"][-50:])) if running["loss"] else None,
            "history": history,
        }
        this_run = {"prior": cfg.prior, "seed": cfg.seed, "draws": draws + state_draws,
                    "steps": step, "seconds": stats["seconds"], "hardware": stats["hardware"],
                    "finished": time.strftime("%Y-%m-%d", time.gmtime()),
                    "init_from": Path(cfg.init_from).name if cfg.init_from else None}
        runs = lineage + [this_run]
        stats["cumulative"] = {"runs": len(runs), "draws": sum(r["draws"] for r in runs),
                               "steps": sum(r["steps"] for r in runs),
                               "hours": sum(r["seconds"] for r in runs) / 3600,
                               "hardware": sorted({r["hardware"] for r in runs})}
        from gpfn_core.stacking import fit_stack, stack_weights

        stack = fit_stack(model, bar, cfg, draws=cfg.stack_draws, log=log) if cfg.stack_draws > 0 else None
        if validation:
            stats["validation"] = validation.evaluate(model, bar, stack=stack_weights({"stack": stack}))
            log(f"final validation r: model {stats['validation']['model_r']:.3f} vs GBLUP "
                f"{stats['validation']['gblup_r']:.3f} on {stats['validation']['draws']} held-out draws")
        info = {
            "prior": cfg.prior, "prior_seed": cfg.seed, "founders": cfg.founders,
            "prior_hyperparameters": {p.name: p.range() for p in prior.hyperparameter_space()},
            "feature_selection": cfg.feature_selection, "n_features": cfg.feature_max_size,
            "pop_max_size": cfg.pop_max_size, "target": cfg.target, "fit_config": _jsonable(asdict(cfg)),
            "n_parameters": model.n_parameters(), "training": stats, "lineage": runs,
            **({"stack": stack} if stack else {}),
        }
        save_model(cfg.save_path, model, bar, info)
        if cfg.checkpoint_steps:
            save_checkpoint(cfg, model, opt, sched, borders, step, history, seconds_before + seconds, state_draws + draws)
        if writer:
            writer.close()
    if distributed:
        torch.distributed.barrier()
    return stats


ARCHITECTURE_FIELDS = ("emb_size", "num_layers", "num_heads", "hidden_dim", "dropout", "num_buckets", "input_norm",
                       "relationship_bias", "kernel_features")


def config_from_model(cfg: FitConfig, log=print) -> tuple[FitConfig, tuple[PFN, BarDistribution, list[dict[str, Any]]]]:
    """``--init-from``: ``cfg`` with the model file's architecture and preprocessing, and the
    model, its bucket borders and its training lineage (every earlier run, for the card)."""
    from dataclasses import replace

    from gpfn_core.modelfile import load_model

    model, bar, meta = load_model(cfg.init_from)
    arch, fc = meta["architecture"], meta.get("fit_config") or {}
    # smoothers: the file's, or more of them when the request extends the file's list (the model grows,
    # starting as the file's: the new columns' weights are zero, see model.grow_smoother_inputs)
    has, wants = parse_smoothers(fc.get("smoothers", "")), parse_smoothers(cfg.smoothers)
    smoothers = wants if has and len(wants) > len(has) and wants[: len(has)] == has else has
    new = replace(cfg, feature_selection=meta["feature_selection"], feature_max_size=int(arch["n_features"]),
                  smoothers=",".join(smoothers), **{k: arch[k] for k in ARCHITECTURE_FIELDS if k in arch})
    # smoother_stats may be switched on for a file without them (the model grows, starting as the file's)
    new.smoother_stats = cfg.smoother_stats or model.config.smoother_stats
    if replace(new.model_config(), smoother_stats=model.config.smoother_stats,
               smoother_features=model.config.smoother_features) != model.config:
        raise ValidationError(f"{cfg.init_from}: its architecture {model.config} cannot be rebuilt from its "
                              f"fit settings ({new.model_config()})")
    changed = [f"{k} {getattr(cfg, k)!r} -> {getattr(new, k)!r}" for k in ("feature_selection", "feature_max_size",
               "smoothers", *ARCHITECTURE_FIELDS) if getattr(cfg, k) != getattr(new, k)]
    if changed:
        log(f"--init-from {cfg.init_from}: using its settings ({'; '.join(changed)})")
    lineage = meta.get("lineage")
    if lineage is None:  # a file from before lineages: its one run
        tr = meta.get("training", {})
        lineage = [{"prior": meta.get("prior"), "draws": tr.get("draws_seen", 0), "steps": tr.get("steps", 0),
                    "seconds": tr.get("seconds", 0.0), "hardware": tr.get("hardware"), "finished": None,
                    "init_from": None}]
    return new, (model.cpu(), bar.cpu(), list(lineage))


def config_from_store(cfg: FitConfig) -> FitConfig:
    """``cfg`` with the prior and preprocessing of the store (its metadata decides them)."""
    from dataclasses import replace

    from gpfn_core.store import StoreReader, settings

    reader = StoreReader(cfg.store)
    meta = reader.meta
    available = reader.available()
    if available < cfg.batch_size:
        raise ValidationError(f"{cfg.store}: only {available} draws are committed; need at least one batch "
                              f"({cfg.batch_size})")
    fixed = settings(meta)
    if fixed.pop("batch_size") != cfg.batch_size:
        raise ValidationError(f"batch_size {cfg.batch_size} differs from the store's ({meta['batch_size']}), whose "
                              f"training-set schedule is per batch of {meta['batch_size']} draws")
    return replace(cfg, **fixed, num_samples=min(cfg.num_samples, available) if cfg.num_samples else available)


def follow_store(cfg: FitConfig) -> FitConfig:
    """Follow mode: create the store with this run's settings (metadata first), or adopt an existing one's."""
    from dataclasses import replace

    from gpfn_core.store import create_store, read_metadata, settings, store_metadata

    if cfg.delete_consumed and cfg.num_workers:
        raise ValidationError("--delete-consumed reads shards in order: use it with --num-workers 0")
    if Path(cfg.store, "zarr.json").exists() and not cfg.prior:
        meta = read_metadata(cfg.store)
        return replace(cfg, **settings(meta), num_samples=min(cfg.num_samples, int(meta["num_draws"])))
    if not cfg.prior:
        raise ValidationError(f"{cfg.store}: no store yet; give --prior so the trainer can write its metadata")
    build(cfg)
    k = cfg.shard_size
    total = math.ceil(cfg.num_samples / k) * k
    create_store(cfg.store, store_metadata(cfg, total, k))
    return replace(cfg, num_samples=total)


def checkpoint_path(cfg: FitConfig) -> Path:
    return Path(cfg.checkpoint_path or f"{cfg.save_path}.ckpt")


def save_checkpoint(cfg, model, opt, sched, borders, step, history, seconds, draws=0) -> Path:
    """Everything needed to continue exactly; loads with ``torch.load(weights_only=True)``."""
    path = checkpoint_path(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                "rng": torch.get_rng_state(), "borders": torch.as_tensor(np.asarray(borders)), "step": step,
                "history": json.dumps(history), "seconds": seconds, "draws": int(draws), "config": json.dumps(_jsonable(asdict(cfg)))}, tmp)
    os.replace(tmp, path)
    return path


def _jsonable(d: dict) -> dict:
    return json.loads(json.dumps(d, default=str))


def _progress(total: int, initial: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True)


def _tensorboard(logdir: str | None):
    if not logdir:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise GpfnError("--tensorboard needs the tensorboard package: pip install tensorboard") from None
    return SummaryWriter(logdir)
