import os

import pytest
import torch

from gpfn_core import ValidationError
from gpfn_core.net.model import PFN, ModelConfig


ARCHITECTURES = {  # plain attention (the original's), relationship-biased, biased + kernel features (default)
    "plain": {"relationship_bias": False, "kernel_features": 0},
    "bias": {"relationship_bias": True, "kernel_features": 0},
    "default": {},
    "smoothers": {"smoother_features": 4},  # 4 trailing smoother columns (preprocessing version 2)
    "smoother_stats": {"smoother_features": 4, "smoother_stats": True},
}


def width(m):
    return m.config.n_features + m.config.smoother_features


@pytest.fixture(params=list(ARCHITECTURES))
def model(request):
    torch.manual_seed(0)
    m = PFN(ModelConfig(n_features=6, emb_size=16, num_layers=2, num_heads=2, hidden_dim=32, num_buckets=10,
                        **ARCHITECTURES[request.param])).eval()
    if m.config.smoother_stats:  # zero-initialised; give it weights so the tests see its effect
        torch.nn.init.normal_(m.smoother_stats_encoder.weight)
    return m


def test_targets_never_attend_to_each_other(model):
    x, y = torch.randn(1, 25, width(model)), torch.randn(1, 15)
    out = model(x, y)
    x2 = x.clone()
    x2[0, 20] += 5.0  # change one target
    out2 = model(x2, y)
    changed = (out - out2).abs().amax(-1)[0]
    assert changed[5] > 1e-3
    assert torch.all(changed[torch.arange(10) != 5] < 1e-5)


def test_chunked_prediction_equals_full(model):
    x, y = torch.randn(2, 40, width(model)), torch.randn(2, 30)
    full = model(x, y)
    chunks = torch.cat([model(torch.cat([x[:, :30], x[:, 30 + i : 30 + i + 4]], 1), y) for i in range(0, 10, 4)], 1)
    torch.testing.assert_close(full, chunks, atol=1e-5, rtol=1e-5)


def test_training_tokens_matter(model):
    x, y = torch.randn(1, 25, width(model)), torch.randn(1, 15)
    assert (model(x, y) - model(x, -y)).abs().max() > 1e-3


@pytest.mark.parametrize("mode", ["global", "feature", "none"])
def test_input_normalisation_uses_training_rows_only(mode):
    torch.manual_seed(0)
    m = PFN(ModelConfig(n_features=4, emb_size=8, num_layers=1, num_heads=2, hidden_dim=8, num_buckets=5,
                        input_norm=mode))
    x = torch.randn(1, 12, 4) * torch.tensor([5.0, 1.0, 0.1, 2.0]) + 3.0
    z = m.normalise(x, 8)
    x2 = x.clone()
    x2[0, 10] += 100.0  # a target's values never change how anyone else is scaled
    z2 = m.normalise(x2, 8)
    keep = torch.arange(12) != 10
    torch.testing.assert_close(z[0, keep], z2[0, keep])
    if mode == "global":
        assert z[0, :8].pow(2).mean().item() == pytest.approx(1.0, rel=1e-4)
        ratio = z[0, :8].std(0) / x[0, :8].std(0)
        torch.testing.assert_close(ratio, ratio[0].expand(4))  # relative scales kept
    elif mode == "feature":
        torch.testing.assert_close(z[0, :8].std(0, unbiased=False), torch.ones(4), atol=1e-4, rtol=1e-4)


def test_bad_config_and_input(model):
    with pytest.raises(ValidationError, match="divisible"):
        ModelConfig(emb_size=10, num_heads=3)
    with pytest.raises(ValidationError, match="input_norm"):
        ModelConfig(input_norm="both")
    with pytest.raises(ValidationError, match="kernel_features"):
        ModelConfig(kernel_features=-1)
    with pytest.raises(ValidationError, match="x must be"):
        model(torch.randn(1, 5, 7), torch.randn(1, 3))


def test_kernel_features_are_leave_one_out_softmax_means():
    torch.manual_seed(0)
    m = PFN(ModelConfig(n_features=5, emb_size=8, num_layers=1, num_heads=2, hidden_dim=8, num_buckets=5,
                        kernel_features=3)).eval()
    x, y = torch.randn(2, 14, 5), torch.randn(2, 10)
    xn = m.normalise(x, 10)
    s = m.kernel_means(m.relationships(xn, 10), y)
    assert s.shape == (2, 14, 3)
    b = m.kernel_log_scale.exp()
    for d in range(2):
        for i in (0, 7, 12):  # two training individuals, one target
            others = [j for j in range(10) if j != i]
            r = xn[d, i] @ xn[d, others].T / 5
            for k in range(3):
                w = torch.softmax(b[k] * r, 0)
                assert s[d, i, k].item() == pytest.approx((w * y[d, others]).sum().item(), abs=1e-5)
    y2 = y.clone()
    y2[:, 3] += 10.0  # a training individual's own phenotype never enters its own kernel features
    s2 = m.kernel_means(m.relationships(xn, 10), y2)
    torch.testing.assert_close(s[:, 3], s2[:, 3])
    assert (s[:, 4] - s2[:, 4]).abs().min() > 1e-4


def test_relationship_scales_get_gradients():
    torch.manual_seed(0)
    m = PFN(ModelConfig(n_features=5, emb_size=8, num_layers=2, num_heads=2, hidden_dim=8, num_buckets=5))
    m(torch.randn(2, 12, 5), torch.randn(2, 8)).sum().backward()
    for p in (m.kernel_log_scale, *(layer.rel_scale for layer in m.layers)):
        assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0


def test_files_from_before_the_options_load_as_plain_attention(tmp_path):
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    from gpfn_core.net.bar import BarDistribution
    from gpfn_core.net.modelfile import load_model, save_model

    torch.manual_seed(0)
    plain = PFN(ModelConfig(n_features=4, emb_size=8, num_layers=1, num_heads=2, hidden_dim=8, num_buckets=5,
                            relationship_bias=False, kernel_features=0))
    path = tmp_path / "old.gpfn"
    old_mask = os.umask(0o022)
    try:
        save_model(path, plain, BarDistribution(torch.linspace(-3, 3, 6)), {})
    finally:
        os.umask(old_mask)
    assert path.stat().st_mode & 0o777 == 0o644  # readable by others, as files the user writes are
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
        state = {k: f.get_tensor(k) for k in f.keys()}
    info = json.loads(meta["gpfn"])
    for key in ("relationship_bias", "kernel_features"):
        del info["architecture"][key]
    save_file(state, str(path), metadata={**meta, "gpfn": json.dumps(info)})
    loaded, _, _ = load_model(path)
    assert not loaded.config.relationship_bias and loaded.config.kernel_features == 0
    x, y = torch.randn(1, 9, 4), torch.randn(1, 6)
    torch.testing.assert_close(loaded(x, y), plain.eval()(x, y))


def test_smoother_columns_reach_the_targets_directly():
    """A target's own smoother columns move its prediction, and bypass the feature normalisation."""
    torch.manual_seed(0)
    m = PFN(ModelConfig(n_features=6, emb_size=16, num_layers=1, num_heads=2, hidden_dim=32, num_buckets=10,
                        smoother_features=4)).eval()
    x, y = torch.randn(1, 25, 10), torch.randn(1, 15)
    x2 = x.clone()
    x2[0, 20, 6:] += 1.0
    assert (m(x, y) - m(x2, y)).abs()[0, 5].max() > 1e-3
    with pytest.raises(ValidationError, match="10"):
        m(x[..., :6], y)


def test_smoother_statistics_are_the_training_rows_fit():
    s = torch.tensor([[[1.0, 0.0], [2.0, 1.0], [3.0, 0.0]]])
    y = torch.tensor([[1.0, 2.0, 4.0]])
    st = PFN.smoother_fit(s, y)[0, 0]
    assert st[0].item() == pytest.approx(1 / 3) and st[1].item() == pytest.approx((1 + 1 + 16) / 3)
    assert st[2].item() == pytest.approx(float(torch.corrcoef(torch.stack([s[0, :, 0], y[0]]))[0, 1]), abs=1e-5)


def test_a_model_grown_with_more_smoother_columns_computes_the_same_until_trained():
    from gpfn_core.net.model import grow_smoother_inputs

    torch.manual_seed(0)
    base = dict(n_features=6, emb_size=16, num_layers=1, num_heads=2, hidden_dim=32, num_buckets=10,
                smoother_stats=True)
    old = PFN(ModelConfig(**base, smoother_features=4)).eval()
    torch.nn.init.normal_(old.smoother_stats_encoder.weight)  # non-zero, so the statistics' layout matters
    new = PFN(ModelConfig(**base, smoother_features=7)).eval()
    new.load_state_dict(grow_smoother_inputs(old.state_dict(), 4, 7))
    x, y = torch.randn(1, 25, 10), torch.randn(1, 15)
    extra = torch.randn(1, 25, 3)
    torch.testing.assert_close(old(x, y), new(torch.cat([x, extra], -1), y))
    new.train()
    new(torch.cat([x, extra], -1), y).logsumexp(-1).sum().backward()
    assert new.smoother_skip.weight.grad[:, 4:].abs().max() > 0  # the new columns can learn
    with pytest.raises(ValidationError, match="shrink"):
        grow_smoother_inputs(new.state_dict(), 7, 4)


@pytest.mark.parametrize("biased", [False, True])
def test_target_attention_equals_masked_attention(biased):
    """The written-out softmax of target tokens (training keys plus their own key) equals
    attention over every token with the other targets masked out, relationship bias included."""
    import torch.nn.functional as F

    from gpfn_core.net.model import Layer

    torch.manual_seed(1)
    layer = Layer(ModelConfig(emb_size=16, num_heads=4, hidden_dim=8, relationship_bias=biased)).eval()
    n_train, n_t = 9, 5
    h = torch.randn(2, n_train + n_t, 16)
    rel = torch.randn(2, n_train + n_t, n_train + n_t) if biased else None
    _, k, v = layer.train_tokens(h[:, :n_train], rel[:, :n_train, :n_train] if biased else None)
    own = torch.cat([rel[:, n_train:, :n_train], rel[:, n_train:, n_train:].diagonal(dim1=1, dim2=2)[..., None]],
                    -1) if biased else None
    got = layer.target_tokens(h[:, n_train:], k, v, own)
    q, kk, vv = layer._qkv(h)
    allowed = torch.cat([torch.ones(n_t, n_train, dtype=torch.bool), torch.eye(n_t, dtype=torch.bool)], 1)
    mask = torch.zeros(n_t, n_train + n_t).masked_fill(~allowed, float("-inf"))
    if biased:
        mask = mask + rel[:, None, n_train:] * layer.rel_scale.view(1, -1, 1, 1)
    a = F.scaled_dot_product_attention(q[:, :, n_train:], kk, vv, attn_mask=mask)
    torch.testing.assert_close(got, layer._update(h[:, n_train:], a), atol=1e-5, rtol=1e-5)
