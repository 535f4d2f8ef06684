"""Architecture descriptions of the networks: frozen, hashable, JSON round-trippable.

The field names and defaults follow the constructor arguments of stylegan2-ada-pytorch's
``training/networks.py`` (flattened: ``mapping_kwargs.num_layers`` is ``mapping_layers``).
"""
from __future__ import annotations

import dataclasses
import json
import math
from typing import Any


def _check_resolution(res: int, name: str = "img_resolution") -> None:
    if not isinstance(res, int) or res < 4 or res > 1024 or (res & (res - 1)) != 0:
        raise ValueError(f"{name} must be a power of two in [4, 1024], got {res!r}")


class _Config:
    """Mixin: strict ``from_dict`` (unknown keys are an error) and JSON helpers."""

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown key(s) {unknown}; valid keys: {sorted(names)}")
        d = dict(d)
        for k, v in d.items():
            if isinstance(v, list):
                d[k] = tuple(v)
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps({"kind": type(self).__name__, **self.to_dict()}, indent=2)

    def replace(self, **kw):
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(kw) - names)
        if unknown:
            raise ValueError(f"{type(self).__name__}: unknown key(s) {unknown}")
        return dataclasses.replace(self, **kw)


@dataclasses.dataclass(frozen=True)
class GeneratorConfig(_Config):
    """StyleGAN2 generator (mapping + synthesis)."""
    img_resolution: int = 256
    img_channels: int = 3
    z_dim: int = 512
    c_dim: int = 0
    w_dim: int = 512
    # Mapping network.
    mapping_layers: int = 8
    mapping_lr_multiplier: float = 0.01
    embed_features: int | None = None     # default w_dim
    layer_features: int | None = None     # default w_dim
    w_avg_beta: float = 0.995
    # Synthesis network.
    channel_base: int = 32768
    channel_max: int = 512
    architecture: str = "skip"            # 'orig' | 'skip' | 'resnet'
    num_fp16_res: int = 0                 # highest resolutions run in low precision
    conv_clamp: float | None = None
    use_noise: bool = True
    resample_filter: tuple[float, ...] = (1, 3, 3, 1)
    low_precision_dtype: str = "bfloat16"

    def __post_init__(self):
        _check_resolution(self.img_resolution)
        if self.architecture not in ("orig", "skip", "resnet"):
            raise ValueError(f"architecture must be 'orig', 'skip' or 'resnet', got {self.architecture!r}")
        if self.img_channels < 1:
            raise ValueError(f"img_channels must be >= 1, got {self.img_channels}")
        if self.z_dim == 0 and self.c_dim == 0:
            raise ValueError("z_dim and c_dim cannot both be 0")
        if self.mapping_layers < 1:
            raise ValueError(f"mapping_layers must be >= 1, got {self.mapping_layers}")

    @property
    def block_resolutions(self) -> list[int]:
        return [2 ** i for i in range(2, int(math.log2(self.img_resolution)) + 1)]

    def channels(self, res: int) -> int:
        return min(self.channel_base // res, self.channel_max)

    @property
    def num_ws(self) -> int:
        """Number of w vectors the synthesis network consumes (2·log2(R) − 2)."""
        return 2 * int(math.log2(self.img_resolution)) - 2

    @property
    def fp16_resolution(self) -> int:
        return max(2 ** (int(math.log2(self.img_resolution)) + 1 - self.num_fp16_res), 8)


@dataclasses.dataclass(frozen=True)
class DiscriminatorConfig(_Config):
    """StyleGAN2 discriminator (blocks + epilogue, optional conditional projection)."""
    img_resolution: int = 256
    img_channels: int = 3
    c_dim: int = 0
    architecture: str = "resnet"          # 'orig' | 'skip' | 'resnet'
    channel_base: int = 32768
    channel_max: int = 512
    num_fp16_res: int = 0
    conv_clamp: float | None = None
    cmap_dim: int | None = None           # default channels at 4x4
    mbstd_group_size: int | None = 4
    mbstd_num_channels: int = 1
    mapping_layers: int = 8               # conditioning mapping (c_dim > 0)
    mapping_lr_multiplier: float = 0.01
    resample_filter: tuple[float, ...] = (1, 3, 3, 1)
    low_precision_dtype: str = "bfloat16"

    def __post_init__(self):
        _check_resolution(self.img_resolution)
        if self.img_resolution < 8:
            raise ValueError("discriminator img_resolution must be >= 8")
        if self.architecture not in ("orig", "skip", "resnet"):
            raise ValueError(f"architecture must be 'orig', 'skip' or 'resnet', got {self.architecture!r}")

    @property
    def block_resolutions(self) -> list[int]:
        return [2 ** i for i in range(int(math.log2(self.img_resolution)), 2, -1)]

    def channels(self, res: int) -> int:
        return min(self.channel_base // res, self.channel_max)

    @property
    def resolved_cmap_dim(self) -> int:
        if self.c_dim == 0:
            return 0
        return self.channels(4) if self.cmap_dim is None else self.cmap_dim

    @property
    def fp16_resolution(self) -> int:
        return max(2 ** (int(math.log2(self.img_resolution)) + 1 - self.num_fp16_res), 8)


@dataclasses.dataclass(frozen=True)
class EncoderConfig(_Config):
    """ResNet-style encoder image -> W+ (``[N, num_ws, w_dim]``)."""
    img_resolution: int = 256
    img_channels: int = 3
    w_dim: int = 512
    num_ws: int | None = None             # default: the generator's for img_resolution
    channel_base: int = 32768
    channel_max: int = 512
    resample_filter: tuple[float, ...] = (1, 3, 3, 1)

    def __post_init__(self):
        _check_resolution(self.img_resolution)
        if self.img_resolution < 8:
            raise ValueError("encoder img_resolution must be >= 8")

    @property
    def resolved_num_ws(self) -> int:
        return self.num_ws if self.num_ws is not None else 2 * int(math.log2(self.img_resolution)) - 2


CONFIG_KINDS = {c.__name__: c for c in (GeneratorConfig, DiscriminatorConfig, EncoderConfig)}


def config_from_json(text: str):
    """Parse a config written by ``to_json`` (the ``kind`` field picks the class)."""
    d = json.loads(text)
    kind = d.pop("kind", None)
    if kind not in CONFIG_KINDS:
        raise ValueError(f"config JSON has kind {kind!r}; expected one of {sorted(CONFIG_KINDS)}")
    return CONFIG_KINDS[kind].from_dict(d)
