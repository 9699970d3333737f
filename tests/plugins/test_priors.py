import collections

import numpy as np
import pytest

from gpfn_core import ValidationError
from gpfn_core.registry import get_registry


def universal(**kw):
    return get_registry().make_prior("universal", founders="random", **kw)


def test_universal_is_registered_as_a_plugin_prior():
    reg = get_registry()
    assert "universal" in reg.names("prior") and "universal" in reg.prior_names()
    assert reg.entry("prior", "universal").plugin == "priors"


def test_universal_draw_is_the_chosen_schemes_own_draw():
    """Draw i of universal is draw i of one scheme's prior (same seed), the scheme recorded."""
    p = universal(seed=3, overrides={"n_markers": "300:400"})
    seen = set()
    for i in range(6):
        d = p.draw(i, fixed={"pop_size": 60})
        name = d.params["scheme"]
        seen.add(name)
        assert name == p.components[p.component(i)]
        own = get_registry().make_prior(name, seed=3, founders="random", overrides={"n_markers": "300:400"})
        ref = own.draw(i, fixed={"pop_size": 60})
        assert d.n_train == ref.n_train and np.array_equal(d.x, ref.x) and np.array_equal(d.y, ref.y)
    assert len(seen) >= 2


def test_universal_mixes_every_scheme_about_evenly():
    p = universal(seed=0)
    counts = collections.Counter(p.component(i) for i in range(2000))
    assert sorted(counts) == list(range(7)) and min(counts.values()) > 2000 / 7 * 0.8


def test_universal_overrides_plain_and_per_scheme():
    p = universal(overrides={"h2": "0.3:0.4", "nam:n_families": "4:5"})
    space = {q.name: q for q in p.hyperparameter_space()}
    assert (space["h2"].low, space["h2"].high) == (0.3, 0.4)
    assert (space["nam:n_families"].low, space["nam:n_families"].high) == (4, 5)
    assert space["silva:n_families"].high > 5  # silva keeps its own families
    for bad, match in (({"bogus": 1}, "unknown hyperparameter 'bogus'"),
                       ({"ril:n_families": 3}, "unknown hyperparameter 'ril:n_families'"),
                       ({"nowhere:h2": 0.5}, "unknown hyperparameter 'nowhere:h2'")):
        with pytest.raises(ValidationError, match=match):
            universal(overrides=bad)
