"""Every option of every command is honoured or refused: none is accepted and then ignored.

For each command a base invocation runs with the task it calls replaced by a recorder
(or, for the quick read-only commands, for real).  Each option is then given a value
other than its default, alone: the run must differ from the base run in what reaches
the task, in its output, or in its exit status.  An option that changes none of these
is silently ignored, and fails.  Combinations that make no sense exit 2 naming both
options (tested beside the walk).
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from gpfn_cli.main import main


class Recorder:
    """Stands in for a task function: records every call and returns ``value``."""

    def __init__(self, value=None):
        self.calls: list = []
        self.value = value

    def __call__(self, *args, **kwargs):
        self.calls.append((_plain(args), _plain(kwargs)))
        return self.value(*args, **kwargs) if callable(self.value) else self.value


def _plain(v):
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return _plain(dataclasses.asdict(v))
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return str(v) if isinstance(v, Path) else v


def command(path: list[str]) -> click.Command:
    cmd = main
    for name in path:
        cmd = cmd.commands[name]
    return cmd


def options(cmd: click.Command) -> list[click.Option]:
    return [p for p in cmd.params if isinstance(p, click.Option) and p.name not in ("help",)]


def changed(opt: click.Option, special: dict, tmp: Path) -> list[str]:
    """Arguments that set ``opt`` to a value other than its default."""
    if opt.name in special:
        return list(special[opt.name])
    if opt.is_flag:
        if opt.secondary_opts and opt.default:  # --x/--no-x defaulting to on: turn it off
            return [opt.secondary_opts[0]]
        return [opt.opts[0]]
    name = next(o for o in opt.opts if o.startswith("--"))
    t = opt.type
    if isinstance(t, click.Choice):
        return [name, next(c for c in t.choices if c != opt.default)]
    if isinstance(t, click.types.IntParamType):
        return [name, str((opt.default or 2) + 1)]
    if isinstance(t, click.types.FloatParamType):
        return [name, str(round((opt.default or 0) + 0.1, 3) if (opt.default or 0) < 0.9 else 0.5)]
    if isinstance(t, click.Path):
        return [name, str(tmp / f"{opt.name}.out")]
    return [name, "x"]


def outcome(args: list[str], recorders: dict[str, Recorder]) -> tuple:
    for r in recorders.values():
        r.calls.clear()
    res = CliRunner().invoke(main, args)
    return res.exit_code, res.output, {k: list(r.calls) for k, r in recorders.items()}


def walk(monkeypatch, base: list[str], recorders: dict[str, Recorder], special: dict, tmp: Path,
         skip: tuple[str, ...] = ()) -> None:
    for target, rec in recorders.items():
        monkeypatch.setattr(target, rec)
    ref = outcome(base, recorders)
    assert ref[0] == 0, ref[1]
    ignored = []
    for opt in options(command(base[:2] if base[0] == "prior" else base[:1])):
        if opt.name in skip:
            continue
        args = base + changed(opt, special, tmp)
        got = outcome(args, recorders)
        if got == ref:
            ignored.append(f"{opt.opts[-1]} ({' '.join(changed(opt, special, tmp))})")
        elif got[0] == 2:
            assert any(o in got[1] for o in opt.opts), f"{opt.opts}: refused without naming the option:\n{got[1]}"
    assert ignored == [], f"accepted and ignored: {ignored}"


@pytest.fixture
def files(tmp_path, model_path):
    model = tmp_path / "m.gpfn"
    shutil.copy(model_path, model)
    for name in ("train.gpfn", "target.gpfn", "data.gpfn", "geno.vcf", "pheno.csv", "ckpt"):
        (tmp_path / name).write_text("x")
    return tmp_path, model


def test_parse_options(monkeypatch, files):
    tmp, _ = files
    from gpfn_core.data import textio

    monkeypatch.setattr(textio, "SHOW_PROGRESS", False)
    rec = Recorder(lambda *a, **k: (Path(a[1]), {"taxa": 1, "progress": textio.SHOW_PROGRESS}))
    walk(monkeypatch, ["parse", str(tmp / "geno.vcf"), "-o", str(tmp / "o.gpfn")], {"gpfn_core.tasks.parse.parse": rec},
         {"phenotypes": ["--phenotypes", str(tmp / "pheno.csv")], "progress": ["--progress"]}, tmp)


def test_predict_options(monkeypatch, files):
    tmp, model = files
    report = {"ensemble_members": 1, "training_taxa": 3, "context": 10}
    recs = {"gpfn_core.tasks.predict.predict": Recorder(report),
            "gpfn_core.models.lookup.shipped_model": Recorder(lambda t: (model, f"model {t}"))}
    walk(monkeypatch, ["predict", "--train", str(tmp / "train.gpfn"), "--target", str(tmp / "target.gpfn"), "-o",
                       str(tmp / "p.csv")], recs, {"model": ["--model", str(model)], "population_type":
                                                   ["--population-type", "ril"]}, tmp)


def test_evaluate_options(monkeypatch, files):
    tmp, model = files
    per = {"summary": {m: {"pearson": 0.1, "spearman": 0.1, "rmse": 1.0, "seconds": 0.1}
                       for m in ("GPFN", "GBLUP", "ridge", "BayesB")}, "folds": {}}
    summary = {**per, "traits": {"y": per}, "fold_info": [{"fold": 0, "size": 3, "groups": ["a"]}]}
    recs = {"gpfn_core.tasks.evaluate.evaluate": Recorder(summary), "gpfn_core.tasks.evaluate.plot": Recorder("x.png"),
            "gpfn_core.models.lookup.shipped_model": Recorder(lambda t: (model, f"model {t}"))}
    walk(monkeypatch, ["evaluate", str(tmp / "data.gpfn")], recs,
         {"model": ["--model", str(model)], "population_type": ["--population-type", "ril"],
          "methods": ["--methods", "gpfn,gblup,ridge,bayesb"], "groups": ["--groups", "family"],
          "covariates": ["--covariates", "location,year"],
          # these two make a split of their own: refused beside DATASET (tested below)
          "train": ["--train", str(tmp / "train.gpfn")], "target": ["--target", str(tmp / "target.gpfn")]}, tmp)


def test_fit_options(monkeypatch, files):
    tmp, model = files
    rec = Recorder(lambda cfg, **k: {"steps": 1})
    walk(monkeypatch, ["fit", "--prior", "ril"], {"gpfn_core.net.train.fit": rec},
         {"store": ["--store", str(tmp / "st")], "init_from": ["--init-from", str(model)],
          "resume": ["--resume", str(tmp / "ckpt")], "stack_sizes": ["--stack-sizes", "10,20"],
          "overrides": ["--set", "h2=0.5"], "smoothers": ["--smoothers", "gblup"], "feature_selection":
          ["--feature-selection", "rp"], "shard_size": ["--store", str(tmp / "st"), "--follow", "--shard-size", "8"],
          "delete_consumed": ["--store", str(tmp / "st"), "--follow", "--delete-consumed"]}, tmp)


def test_stack_options(monkeypatch, files):
    tmp, model = files
    walk(monkeypatch, ["stack", str(model)], {"gpfn_core.net.stackfit.stack_model_file": Recorder({"w": 1})},
         {"sizes": ["--sizes", "10,20"], "overrides": ["--set", "h2=0.5"], "add": ["--sizes", "40", "--add"]}, tmp)


def test_generate_options(monkeypatch, files):
    tmp, _ = files
    recs = {"gpfn_core.tasks.generate.generate": Recorder({"draws": 8}),
            "gpfn_core.tasks.generate.generate_mpi": Recorder({"draws": 8, "rank": 0})}
    walk(monkeypatch, ["generate", "--prior", "ril", "--store", str(tmp / "st"), "--num-draws", "8"], recs,
         {"overrides": ["--set", "h2=0.5"], "smoothers": ["--smoothers", "gblup"],
          "feature_selection": ["--feature-selection", "rp"], "prior": ["--prior", "nam"]}, tmp)


def test_read_only_commands_options(monkeypatch, files):
    tmp, model = files
    walk(monkeypatch, ["models"], {}, {}, tmp)
    walk(monkeypatch, ["plugins"], {}, {"kind": ["--kind", "reader"]}, tmp)
    walk(monkeypatch, ["inspect", str(model)], {}, {}, tmp)
    walk(monkeypatch, ["prior", "show", "ril", "--founders", "random", "--set", "n_markers=300", "--set",
                       "pop_size=60"], {},
         {"selector": ["--selector", "rp", "--features", "5"], "features": ["--selector", "rp", "--features", "7"],
          "founders": ["--founders", "msprime", "--no-draw"], "overrides": ["--set", "h2=0.5"]}, tmp)


class DrawRecorder(Recorder):
    """Stands in for export_draw: records what identifies the draw, not its arrays."""

    def __call__(self, d, out, overwrite=False):
        return super().__call__(d.params, d.seed, d.index, list(d.x.shape), out, overwrite=overwrite)


def test_prior_draw_options(monkeypatch, files):
    tmp, _ = files
    walk(monkeypatch, ["prior", "draw", "ril", "-o", str(tmp / "draw"), "--founders", "random", "--set",
                       "n_markers=300", "--set", "pop_size=60"],
         {"gpfn_core.tasks.generate.export_draw": DrawRecorder({"train": 45, "target": 15, "markers": 300})},
         {"founders": ["--founders", "msprime"], "overrides": ["--set", "h2=0.5"]}, tmp)


def test_demo_options(monkeypatch, files):
    """The demo runs for real; predict is watched, so --device (cpu and auto are one machine
    here) is seen to reach it."""
    from gpfn_core.tasks import predict

    tmp, model = files
    walk(monkeypatch, ["demo", "-o", str(tmp / "demo")], {"gpfn_core.tasks.predict.predict": Recorder(predict.predict)},
         {"model": ["--model", str(model)], "population_type": ["--population-type", "ril"]}, tmp)


@pytest.mark.parametrize("args, names", [
    (["fit", "--prior", "ril", "--follow"], ["--follow"]),
    (["fit", "--store", "s", "--delete-consumed"], ["--delete-consumed"]),
    (["generate", "--prior", "ril", "--store", "s", "--num-draws", "4", "--mpi", "--workers", "2"], ["--workers"]),
    (["predict", "--model", "m.gpfn", "--population-type", "nam", "--train", "a", "--target", "b", "-o", "c"],
     ["--population-type"]),
    (["evaluate", "--model", "m.gpfn", "--population-type", "nam", "d"], ["--population-type"]),
    (["evaluate", "--train", "a", "--target", "b", "--folds", "3"], ["--folds"]),
])
def test_combinations_that_make_no_sense_are_usage_errors(tmp_path, args, names):
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2 and all(n in r.output for n in names), r.output


def test_generate_following_a_store_refuses_the_options_the_store_decides(tmp_path):
    from gpfn_core.net.config import FitConfig
    from gpfn_core.sim.store import create_store, store_metadata

    cfg = FitConfig(prior="ril", founders="random", overrides={"n_markers": 300}, feature_max_size=8, pop_max_size=60)
    create_store(tmp_path / "st", store_metadata(cfg, 8, 4))
    for extra in (["--seed", "3"], ["--set", "h2=0.5"], ["--feature-max-size", "5"], ["--smoothers", "gblup"],
                  ["--pop-max-size", "50"], ["--batch-size", "4"], ["--target", "y"], ["--founders", "random"],
                  ["--shard-size", "8"]):
        r = CliRunner().invoke(main, ["generate", "--store", str(tmp_path / "st"), *extra])
        assert r.exit_code == 2 and extra[0] in r.output and "metadata" in r.output, (extra, r.output)
