"""Discovery through real entry points: fake distributions written to a folder on sys.path."""

import sys
import textwrap

import pytest

from gpfn_core import UnknownPluginError
from gpfn_core.registry import GpfnPluginWarning, Registry


@pytest.fixture
def fake_dist(tmp_path, monkeypatch):
    """Write an installed distribution (dist-info + modules) and put it on sys.path."""
    made = []

    def make(dist, entry_points, modules):
        info = tmp_path / f"{dist.replace('-', '_')}-1.2.dist-info"  # as wheels name them
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2\n")
        eps = "\n".join(f"{k} = {v}" for k, v in entry_points.items())
        (info / "entry_points.txt").write_text(f"[gpfn]\n{eps}\n")
        for mod, src in modules.items():
            (tmp_path / f"{mod}.py").write_text(textwrap.dedent(src))
            made.append(mod)

    monkeypatch.syspath_prepend(str(tmp_path))
    yield make
    for mod in made:
        sys.modules.pop(mod, None)


SCHEME_SRC = """
    from gpfn_core import BreedingScheme, hookimpl

    class S(BreedingScheme):
        name = "{name}"
        description = "a test scheme"
        def n_founders(self, **p): return 2
        def forward(self, founders, trait, rng, **p): raise NotImplementedError

    @hookimpl
    def gpfn_breeding_schemes():
        return [S]
"""


def test_third_party_plugin_is_discovered(fake_dist):
    fake_dist("gpfn-thirdparty", {"tp": "tp_plugin"}, {"tp_plugin": SCHEME_SRC.format(name="mycustom")})
    reg = Registry.discover()
    e = reg.entry("scheme", "mycustom")
    assert (e.distribution, e.version, e.plugin, e.description) == ("gpfn-thirdparty", "1.2", "tp", "a test scheme")
    assert "mycustom" in reg.prior_names()
    assert reg.make_prior("mycustom", founders="random").name == "mycustom"
    assert "nam" in reg.names("scheme")  # the built-ins are still there


def test_plugin_raising_on_import_is_reported_and_others_work(fake_dist):
    fake_dist(
        "gpfn-broken",
        {"broken": "broken_plugin", "fine": "fine_plugin"},
        {"broken_plugin": "raise RuntimeError('kaboom')\n", "fine_plugin": SCHEME_SRC.format(name="fine")},
    )
    with pytest.warns(GpfnPluginWarning, match="broken.*kaboom"):
        reg = Registry.discover()
    assert "fine" in reg.names("scheme") and "nam" in reg.names("scheme")
    [problem] = [p for p in reg.problems if p.plugin == "broken"]
    assert problem.distribution == "gpfn-broken" and "RuntimeError" in problem.message


def test_hook_that_raises_is_reported(fake_dist):
    src = "from gpfn_core import hookimpl\n@hookimpl\ndef gpfn_feature_selectors():\n    raise ValueError('bad hook')\n"
    fake_dist("gpfn-badhook", {"badhook": "badhook_plugin"}, {"badhook_plugin": src})
    reg = Registry.discover(warn=False)
    assert any(p.plugin == "badhook" and "bad hook" in p.message for p in reg.problems)
    assert "nam" in reg.names("scheme")


def test_duplicate_name_keeps_the_builtin_and_reports_the_newcomer(fake_dist):
    fake_dist("gpfn-dup", {"dup": "dup_plugin"}, {"dup_plugin": SCHEME_SRC.format(name="nam")})
    with pytest.warns(GpfnPluginWarning, match="'nam' is already provided by plugin 'schemes'"):
        reg = Registry.discover()
    assert reg.entry("scheme", "nam").distribution == "gpfn"


def test_wrong_return_type_and_bad_name_are_refused(fake_dist):
    src = """
        from gpfn_core import BreedingScheme, hookimpl
        class Bad(BreedingScheme):
            name = "Has Spaces"
            def n_founders(self, **p): return 1
            def forward(self, *a, **k): pass
        @hookimpl
        def gpfn_breeding_schemes():
            return [Bad, 42]
    """
    fake_dist("gpfn-bad", {"bad": "bad_plugin"}, {"bad_plugin": src})
    reg = Registry.discover(warn=False)
    msgs = [p.message for p in reg.problems if p.plugin == "bad"]
    assert any("invalid name 'Has Spaces'" in m for m in msgs)
    assert any("returned 42" in m for m in msgs)


def test_unknown_names_list_what_is_available():
    reg = Registry.discover(warn=False)
    with pytest.raises(UnknownPluginError, match=r"unknown breeding scheme 'nope'; available: .*nam.*ril"):
        reg.get("scheme", "nope")
    with pytest.raises(UnknownPluginError, match=r"unknown prior 'nope'; available: .*silva.*wild"):
        reg.make_prior("nope")
    with pytest.raises(UnknownPluginError, match="unknown plugin kind"):
        reg.get("widget", "x")


def test_registry_from_explicit_plugins():
    import types

    from gpfn_core import hookimpl
    from gpfn_core.interfaces import FeatureSelector

    class Sel(FeatureSelector):
        name = "first"

        def fit(self, x, y):
            return self

        def transform(self, x):
            return x[:, : self.n_features]

    mod = types.SimpleNamespace(gpfn_feature_selectors=hookimpl(lambda: [Sel]))
    reg = Registry()
    reg.add_plugin(mod, "local")
    reg.add_plugin(mod, "local")  # same plugin name twice
    assert reg.names("selector") == ["first"]
    assert any("plugin name" in p.message for p in reg.problems)
