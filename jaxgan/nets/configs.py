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
    # StylEx: the synthesis affines read [w, style condition] (e.g. classifier logits tiled
    # across layers), w_dim + style_cond_dim wide; the mapping still outputs w_dim.
    style_cond_dim: int = 0

    def __post_init__(self):
        _check_resolution(self.img_resolution)
        if self.architecture not in ("orig", "skip", "resnet"):
            raise ValueError(f"architecture must be 'orig', 'skip' or 'resnet', got {self.architecture!r}")
        sc = self.style_cond_dim
        if isinstance(sc, bool) or not isinstance(sc, int) or sc < 0:
            raise ValueError(f"style_cond_dim must be an int >= 0, got {sc!r}")
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
    def synthesis_w_dim(self) -> int:
        """Width of each ws row the synthesis consumes: ``w_dim + style_cond_dim``."""
        return self.w_dim + self.style_cond_dim

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


#: Concepts the segmenter predicts by default (a subset of ``jaxgan.data.MASK_NAMES``).
SEGMENTER_CONCEPTS = ("sky", "ground", "object", "circle", "square", "triangle", "sun", "texture")


def _check_small_net(cfg, min_res: int) -> None:
    name = type(cfg).__name__
    r = cfg.img_resolution
    if isinstance(r, bool) or not isinstance(r, int) or r < min_res:
        raise ValueError(f"{name}: img_resolution must be an int >= {min_res}, got {r!r}")
    if cfg.img_channels not in (1, 3):
        raise ValueError(f"{name}: img_channels must be 1 or 3, got {cfg.img_channels!r}")
    w = cfg.widths
    if (not isinstance(w, tuple) or not w
            or not all(isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in w)):
        raise ValueError(f"{name}: widths must be a non-empty tuple of positive ints, got {w!r}")
    g = cfg.groups
    if isinstance(g, bool) or not isinstance(g, int) or g < 0:
        raise ValueError(f"{name}: groups must be an int >= 0 (0 = no normalisation), got {g!r}")
    bad = [c for c in w if g and c % g]
    if bad:
        raise ValueError(f"{name}: every width must be divisible by groups={g}, got widths {w}")


@dataclasses.dataclass(frozen=True)
class ClassifierConfig(_Config):
    """Small CNN classifier (``jaxgan.nets.classifier.Classifier``).

    A 3x3 stem at ``widths[0]``, then one stage per further width (stride-2 3x3 conv +
    ``depth`` residual 3x3 convs), SiLU (after optional GroupNorm) after every conv,
    global pool (mean, max or both concatenated), linear. No normalisation by default:
    on the shapes tasks GroupNorm delayed learning by hundreds of steps.
    ``task`` / ``class_names`` are provenance metadata (e.g. ``'shapes:shape'``).
    """
    img_resolution: int = 32
    img_channels: int = 3
    num_classes: int = 2
    widths: tuple[int, ...] = (16, 32, 64)
    depth: int = 1
    groups: int = 0                       # GroupNorm groups; 0 = no normalisation
    pool: str = "avgmax"                  # 'avg' | 'max' | 'avgmax' (concatenated)
    task: str = ""
    class_names: tuple[str, ...] = ()

    def __post_init__(self):
        _check_small_net(self, 8)
        n = self.num_classes
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise ValueError(f"ClassifierConfig: num_classes must be an int >= 2, got {n!r}")
        if isinstance(self.depth, bool) or not isinstance(self.depth, int) or self.depth < 0:
            raise ValueError(f"ClassifierConfig: depth must be an int >= 0, got {self.depth!r}")
        if self.pool not in ("avg", "max", "avgmax"):
            raise ValueError(f"ClassifierConfig: pool must be 'avg', 'max' or 'avgmax', "
                             f"got {self.pool!r}")
        if not isinstance(self.task, str):
            raise ValueError(f"ClassifierConfig: task must be a string, got {self.task!r}")
        if not isinstance(self.class_names, tuple) or (
                self.class_names and len(self.class_names) != n):
            raise ValueError(f"ClassifierConfig: class_names must be () or a tuple of "
                             f"num_classes={n} names, got {self.class_names!r}")


@dataclasses.dataclass(frozen=True)
class SegmenterConfig(_Config):
    """Small U-Net concept segmenter (``jaxgan.nets.segmenter.Segmenter``).

    One encoder level per width (the first at full resolution, each further one halves
    it), a mirrored decoder with skip connections, and a 1x1 head with one sigmoid logit
    per concept (multi-label: concept masks may overlap). ``global_context`` adds an MLP of
    the globally pooled bottleneck to every bottleneck position and a per-concept
    image-level "presence" logit to every pixel's logit, so image-level cues (which shape
    the object is) reach every pixel directly.
    """
    img_resolution: int = 32
    img_channels: int = 3
    concepts: tuple[str, ...] = SEGMENTER_CONCEPTS
    widths: tuple[int, ...] = (16, 32, 64)
    groups: int = 0                       # GroupNorm groups; 0 = no normalisation
    global_context: bool = True           # add pooled bottleneck features everywhere

    def __post_init__(self):
        _check_small_net(self, 8)
        c = self.concepts
        if (not isinstance(c, tuple) or not c or not all(isinstance(s, str) and s for s in c)
                or len(set(c)) != len(c)):
            raise ValueError("SegmenterConfig: concepts must be a non-empty tuple of distinct "
                             f"names, got {c!r}")
        if not isinstance(self.global_context, bool):
            raise ValueError(f"SegmenterConfig: global_context must be a bool, got "
                             f"{self.global_context!r}")
        f = 2 ** (len(self.widths) - 1)
        if self.img_resolution % f:
            raise ValueError(f"SegmenterConfig: img_resolution {self.img_resolution} must be "
                             f"divisible by 2**(len(widths)-1) = {f}")


CONFIG_KINDS.update({c.__name__: c for c in (ClassifierConfig, SegmenterConfig)})


# ----------------------------------------------------------------------------- precision

PRECISIONS = ("float32", "float16", "bfloat16")
"""Inference precisions a user may ask for (``--precision``; ``precision=`` in Python)."""

CONFIG_PRECISION = "config"
"""Training's precision: the config's ``num_fp16_res`` blocks in ``low_precision_dtype``."""

RELEASED_NUM_FP16_RES = 4
"""``num_fp16_res`` of every released NVIDIA configuration; reduced precision uses it for
networks whose own ``num_fp16_res`` is 0."""


def check_precision(precision: str) -> str:
    """Validate a precision name (one of :data:`PRECISIONS` or ``'config'``).

    Raises:
      ValueError: naming the valid choices.
    """
    if precision not in PRECISIONS + (CONFIG_PRECISION,):
        raise ValueError(f"precision must be one of {list(PRECISIONS)} (or 'config' for the "
                         f"network's training setting), got {precision!r}")
    return precision


def block_dtype(cfg, res: int, precision: str = "float32") -> str:
    """Compute dtype of the block at resolution ``res`` of a generator/discriminator.

    Args:
      cfg: a :class:`GeneratorConfig` or :class:`DiscriminatorConfig`.
      res: the block's resolution.
      precision: ``'float32'``: every block in float32 (the official float32 result, the
        default for inference). ``'float16'`` / ``'bfloat16'``: the official mixed-precision
        layout (the top ``num_fp16_res`` blocks, or the released 4 when the config says 0,
        in that dtype; the rest, ToRGB outputs and the D epilogue in float32; clamping at
        ``conv_clamp``). ``'config'``: the config's ``num_fp16_res`` blocks in its
        ``low_precision_dtype`` (training).

    Returns:
      ``'float32'``, ``'float16'`` or ``'bfloat16'``.
    """
    check_precision(precision)
    if precision == "float32":
        return "float32"
    if precision == CONFIG_PRECISION:
        n, dtype = cfg.num_fp16_res, cfg.low_precision_dtype
    else:
        n, dtype = cfg.num_fp16_res or RELEASED_NUM_FP16_RES, precision
    if n <= 0:
        return "float32"
    fp16_resolution = max(2 ** (int(math.log2(cfg.img_resolution)) + 1 - n), 8)
    return dtype if res >= fp16_resolution else "float32"
