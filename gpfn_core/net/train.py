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
from torch.utils.data import DataLoader

from gpfn_core.atomic import remove_stale, temp_path
from gpfn_core.errors import GpfnError, ValidationError
from gpfn_core.net.bar import BarDistribution, bar_loss, estimate_borders
from gpfn_core.net.batches import StepSampler, StoreDataset, _worker_init, collate, config_from_store, follow_store
from gpfn_core.net.config import BORDER_INDEX, FitConfig, Schedule, _world
from gpfn_core.net.draws import DrawDataset, build
from gpfn_core.net.inference import resolve_device
from gpfn_core.net.model import PFN, grow_smoother_inputs
from gpfn_core.net.modelfile import load_model, save_model
from gpfn_core.net.preprocess import parse_smoothers
from gpfn_core.net.stackfit import fit_stack
from gpfn_core.net.stacking import stack_weights
from gpfn_core.metrics import pearson
from gpfn_core.net.validation import Validation


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

    schedule = Schedule(cfg)
    per_step = cfg.batch_size * world
    live = DrawDataset(prior, selector_cls, cfg, schedule, per_step)
    data = StoreDataset(cfg.store, cfg.follow, cfg.delete_consumed) if cfg.store else live
    resumed = torch.load(cfg.resume, map_location="cpu", weights_only=True) if cfg.resume else None
    if resumed is not None:
        borders = resumed["borders"].numpy()
    elif init is not None:
        borders = init[1].borders.numpy()
    else:
        values = []
        for j in range(cfg.border_draws):
            # a finished store's first draws; otherwise (also when following) fresh prior draws
            x, y, nt = data[j] if cfg.store and not cfg.follow else live[BORDER_INDEX + j]
            values.append(y[nt:])
        values = np.concatenate(values) if values else np.zeros(0)
        borders = estimate_borders(values, bucket_count(cfg.num_buckets, values.size, cfg.border_draws))
    if cfg.num_buckets is None or cfg.num_buckets != len(borders) - 1:
        if cfg.num_buckets is not None:
            raise ValidationError(f"--num-buckets {cfg.num_buckets} differs from the {len(borders) - 1} buckets of "
                                  f"{cfg.resume or cfg.init_from}")
        from dataclasses import replace

        cfg = replace(cfg, num_buckets=len(borders) - 1)

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
    total = cfg.total_steps
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _cosine(cfg.warmup_steps, total))
    step, history, seconds_before, state_draws = 0, [], 0.0, 0
    if resumed is not None:
        model.load_state_dict(resumed["model"])
        opt.load_state_dict(resumed["opt"])
        sched.load_state_dict(resumed["sched"])
        torch.set_rng_state(resumed["rng"])
        step, history = int(resumed["step"]), json.loads(resumed["history"])
        seconds_before = float(resumed["seconds"])
        state_draws = int(resumed.get("draws", 0))
        log(f"resumed from {cfg.resume} at step {step}")
    elif init is not None:
        log(f"starting from {cfg.init_from} ({sum(r.get('draws', 0) for r in lineage):,} draws of training so far)")
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
            running["r"].append(float(np.nanmean([pearson(m, t) for m, t in
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
    agree = _ranks_agree(model) if distributed else None
    stats: dict[str, Any] = {}
    if rank == 0:
        stats = {
            **({"ranks_agree": agree} if distributed else {}),
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


DEFAULT_BUCKETS = 1000


def bucket_count(requested: int | None, values: int, border_draws: int) -> int:
    """The bar distribution's buckets: ``--num-buckets`` where given (it needs at least that many
    target values from the ``--border-draws`` draws), else 1,000, or half the values where the
    border draws hold fewer (a tiny run)."""
    if requested is None:
        return max(2, min(DEFAULT_BUCKETS, values // 2))
    if requested > values:
        raise ValidationError(f"--num-buckets {requested} needs at least as many target values, but --border-draws "
                              f"{border_draws} gave {values}: raise --border-draws or lower --num-buckets")
    return requested


def _ranks_agree(model: PFN) -> bool:
    """Whether every rank ends with the same parameters (DDP keeps them equal; a rank that
    drifted would mean its gradients were not averaged): a checksum of the parameters,
    gathered from all ranks.  A disagreement stops the fit before anything is written."""
    with torch.no_grad():
        flat = torch.cat([p.detach().double().flatten().cpu() for p in model.parameters()])
        mine = torch.stack([flat.sum(), (flat * torch.arange(1, flat.numel() + 1, dtype=torch.float64)).sum()])
    every = [torch.zeros_like(mine) for _ in range(torch.distributed.get_world_size())]
    torch.distributed.all_gather(every, mine)
    if not all(torch.equal(e, every[0]) for e in every):
        raise GpfnError(f"the ranks' parameters differ after training ({[e.tolist() for e in every]})")
    return True


ARCHITECTURE_FIELDS = ("emb_size", "num_layers", "num_heads", "hidden_dim", "dropout", "num_buckets", "input_norm",
                       "relationship_bias", "kernel_features")


def config_from_model(cfg: FitConfig, log=print) -> tuple[FitConfig, tuple[PFN, BarDistribution, list[dict[str, Any]]]]:
    """``--init-from``: ``cfg`` with the model file's architecture and preprocessing, and the
    model, its bucket borders and its training lineage (every earlier run, for the card)."""
    from dataclasses import replace

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


def checkpoint_path(cfg: FitConfig) -> Path:
    return Path(cfg.checkpoint_path or f"{cfg.save_path}.ckpt")


def save_checkpoint(cfg, model, opt, sched, borders, step, history, seconds, draws=0) -> Path:
    """Everything needed to continue exactly; loads with ``torch.load(weights_only=True)``."""
    path = checkpoint_path(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path)
    tmp = temp_path(path)
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
