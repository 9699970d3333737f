"""The PFN's architecture options (:class:`ModelConfig`), with no torch, so that option
checks (:func:`gpfn_core.net.draws.build`) and draw generation do not import it;
:mod:`gpfn_core.net.model` builds the network from them and re-exports the class."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from gpfn_core.errors import ValidationError


@dataclass
class ModelConfig:
    n_features: int = 100
    emb_size: int = 256
    num_layers: int = 6
    num_heads: int = 4
    hidden_dim: int = 1024
    dropout: float = 0.0
    num_buckets: int = 1000
    input_norm: str = "global"  # "global", "feature" or "none"
    relationship_bias: bool = True  # add beta_h * x_i.x_j / F to the attention logits
    kernel_features: int = 8  # relationship-weighted phenotype means fed to every token (0: none)
    smoother_features: int = 0  # trailing columns of x that are smoother predictions (see prepare())
    smoother_stats: bool = False  # add each smoother column's leave-one-out fit to the training phenotypes

    def __post_init__(self) -> None:
        for name in ("n_features", "emb_size", "num_layers", "num_heads", "hidden_dim", "num_buckets"):
            if int(getattr(self, name)) < 1:
                raise ValidationError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.emb_size % self.num_heads:
            raise ValidationError(f"emb_size ({self.emb_size}) must be divisible by num_heads ({self.num_heads})")
        if self.input_norm is True or self.input_norm is False:  # older spelling
            self.input_norm = "global" if self.input_norm else "none"
        if self.input_norm not in ("global", "feature", "none"):
            raise ValidationError(f"input_norm must be 'global', 'feature' or 'none', got {self.input_norm!r}")
        if int(self.smoother_features) < 0:
            raise ValidationError(f"smoother_features must be >= 0, got {self.smoother_features!r}")
        if int(self.kernel_features) < 0:
            raise ValidationError(f"kernel_features must be >= 0, got {self.kernel_features!r}")
        if not 0 <= self.dropout < 1:
            raise ValidationError(f"dropout must be in [0, 1), got {self.dropout!r}")

    def to_dict(self) -> dict:
        return asdict(self)
