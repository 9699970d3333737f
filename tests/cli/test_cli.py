import json

from click.testing import CliRunner

from gpfn_cli.main import main


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_version_and_help():
    from gpfn_core import __version__

    r = run("--version")
    assert r.exit_code == 0 and __version__ in r.output
    r = run("--help")
    assert r.exit_code == 0 and "plugins" in r.output and "prior" in r.output


def test_plugins_table_lists_builtins_with_their_distribution():
    r = run("plugins")
    assert r.exit_code == 0
    lines = [line.split() for line in r.output.splitlines()]
    assert ["kind", "name", "from", "description"] == lines[0]
    for name in ["wild", "nam", "ril", "silva", "recurrent"]:
        assert any(row[:4] == ["scheme", name, "gpfn", row[3]] for row in lines[2:] if len(row) > 3)
        assert any(row[:2] == ["prior", name] for row in lines[2:])


def test_prior_show_prints_hyperparameters_and_a_draw():
    r = run("prior", "show", "ril", "--founders", "random", "--set", "pop_size=100", "--set", "n_markers=300")
    assert r.exit_code == 0, r.output
    assert "ssd_generations" in r.output and "realized_h2_train" in r.output


def test_prior_show_json():
    r = run("prior", "show", "nam", "--founders", "random", "--json", "--seed", "4", "--set", "pop_size=120",
            "--set", "n_markers=200")
    out = json.loads(r.output)
    assert out["params"]["scheme"] == "nam" and out["stats"]["individuals"] <= 120


def test_prior_list():
    r = run("prior", "list")
    assert r.exit_code == 0 and "silva" in r.output


def test_bad_input_is_a_clear_error_with_nonzero_exit():
    r = run("prior", "show", "nosuch", "--founders", "random")
    assert r.exit_code == 1 and "unknown prior 'nosuch'; available:" in r.output and "Traceback" not in r.output
    r = run("prior", "show", "nam", "--founders", "random", "--set", "h2=2")
    assert r.exit_code == 1 and "h2 must be in" in r.output
    r = run("prior", "show", "nam", "--founders", "random", "--set", "h2")
    assert r.exit_code == 1 and "NAME=VALUE" in r.output


def test_prior_show_with_a_selector():
    r = run("prior", "show", "ril", "--founders", "random", "--set", "pop_size=100", "--set", "n_markers=300",
            "--selector", "pca", "--features", "12", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["stats"]["features"] == "12 (pca)"
    r = run("prior", "show", "ril", "--founders", "random", "--set", "pop_size=100", "--selector", "nope")
    assert r.exit_code == 1 and "unknown feature selector 'nope'; available:" in r.output


def test_fit_init_from_continues_the_models_schedule(tmp_path):
    """A continuation trains on the training-set sizes its model was trained on unless the command
    line chooses a schedule (then the other schedule options keep their defaults)."""
    from gpfn_core.net.modelfile import read_metadata

    tiny = ["--prior", "ril", "--founders", "random", "--set", "n_markers=300", "--feature-max-size", "8",
            "--emb-size", "16", "--num-layers", "1", "--num-heads", "2", "--hidden-dim", "16", "--num-buckets", "20",
            "--batch-size", "2", "--border-draws", "4", "--val-draws", "0", "--stack-draws", "0", "--no-progress"]
    first = tmp_path / "a.gpfn"
    r = run("fit", *tiny, "-o", str(first), "--max-steps", "2", "--pop-max-size", "70", "--context", "24",
            "--size-distribution", "loguniform", "--max-training-samples", "50")
    assert r.exit_code == 0, r.output
    schedule = ("pop_max_size", "min_training_samples", "max_training_samples", "size_distribution", "context")
    want = {k: read_metadata(first)["fit_config"][k] for k in schedule}
    assert want == {"pop_max_size": 70, "min_training_samples": 20, "max_training_samples": 50,
                    "size_distribution": "loguniform", "context": 24}
    cont = tmp_path / "b.gpfn"
    r = run("fit", *tiny, "-o", str(cont), "--max-steps", "1", "--init-from", str(first))
    assert r.exit_code == 0, r.output
    assert "continuing its training-set schedule" in r.output
    assert {k: read_metadata(cont)["fit_config"][k] for k in schedule} == want
    # one schedule option given: a new schedule, the rest at their defaults
    new = tmp_path / "c.gpfn"
    r = run("fit", *tiny, "-o", str(new), "--max-steps", "1", "--init-from", str(first), "--pop-max-size", "64")
    assert r.exit_code == 0, r.output
    fc = read_metadata(new)["fit_config"]
    assert (fc["pop_max_size"], fc["context"], fc["size_distribution"], fc["max_training_samples"]) == (64, None, "uniform", 54)
