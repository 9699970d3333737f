"""The example third-party plugin, installed into a fresh virtual environment."""

import json
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "gpfn-example-plugin"


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory):
    """A venv that sees the installed gpfn plus the example plugin.

    gpfn may live in the base interpreter or in a virtual environment the tests run
    in; a nested venv's "system" packages are only the base interpreter's, so a .pth
    file adds this interpreter's own site-packages as well."""
    env = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env)
    py = env / "bin" / "python"
    nested = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 capture_output=True, text=True, check=True).stdout.strip())
    # an "import" line, so the .pth files there (an editable install's finder) are processed too; map, not a
    # list comprehension: before Python 3.12 a comprehension is a scope of its own, which does not see the
    # `site` that the line's import binds in site.addpackage's exec
    (nested / "outer.pth").write_text(f"import site; list(map(site.addsitedir, {site.getsitepackages()!r}))\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", str(EXAMPLE)],
        check=True,
    )
    return py


def gpfn(py, *args):
    return subprocess.run([str(py), "-m", "gpfn_cli.main", *args], capture_output=True, text=True)


def test_example_plugin_is_discovered_without_changing_gpfn(plugin_env):
    r = gpfn(plugin_env, "plugins")
    assert r.returncode == 0, r.stderr
    rows = [line.split() for line in r.stdout.splitlines()]
    assert ["scheme", "example", "gpfn-example-plugin", "0.1.0"] in [row[:4] for row in rows]
    assert ["prior", "example"] in [row[:2] for row in rows]


def test_example_prior_draws(plugin_env):
    r = gpfn(plugin_env, "prior", "show", "example", "--founders", "random", "--json",
             "--set", "pop_size=100", "--set", "n_markers=300")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["params"]["scheme"] == "example"
    assert out["stats"]["heterozygosity"] == 0  # doubled haploids


def test_gpfn_itself_does_not_know_the_example_scheme():
    """gpfn was not changed to know the plugin: none of gpfn's own entry points provides it (in
    this environment it is either absent or provided by the plugin's own distribution), and
    gpfn's sources never name it."""
    from gpfn_core.registry import Registry

    reg = Registry.discover(warn=False)
    own = [e for e in reg.entries() if e.distribution == "gpfn"]
    assert own and "example" not in {e.name for e in own}
    if "example" in reg.names("scheme"):
        assert reg.entry("scheme", "example").distribution == "gpfn-example-plugin"
    sources = [p for d in ("gpfn_core", "plugins", "cli") for p in (ROOT / d).rglob("*.py")]
    assert not [p for p in sources if 'name = "example"' in p.read_text()]


def test_fit_on_the_example_prior(plugin_env, tmp_path):
    out = tmp_path / "example.gpfn"
    r = gpfn(plugin_env, "fit", "--prior", "example", "--founders", "random", "--set", "n_markers=300",
             "--feature-max-size", "8", "--pop-max-size", "60", "--emb-size", "16", "--num-layers", "1",
             "--num-heads", "2", "--hidden-dim", "16", "--num-buckets", "20", "--batch-size", "2",
             "--num-samples", "12", "--border-draws", "5", "--val-draws", "2", "--stack-draws", "2", "--no-progress", "-o", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout)["steps"] == 6 and out.exists()
