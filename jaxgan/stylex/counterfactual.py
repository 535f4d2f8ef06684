"""Counterfactual explanations: an image's top attributes, each shown as original | attribute
changed with the classifier probability before and after, and an attribute's effect across
many images as a strip. Pure array functions plus matplotlib sheet writers."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.stylex.attfind import apply_attributes


def counterfactuals(render: Callable, classify: Callable, flat_row, attrs, smin, smax,
                    shift: float, class_index: int):
    """One image's counterfactuals, one per attribute.

    Args:
      render: ``[B, S] -> images``; classify: ``images -> logits``.
      flat_row: ``[S]`` the image's styles.
      attrs: ``[(direction, coordinate, ...), ...]``.
      class_index: the class whose probability is reported.

    Returns:
      ``(original [R, R, C], changed [A, R, R, C], p_before float, p_after [A])``.
    """
    rows = [jnp.asarray(flat_row)[None]]
    rows += [apply_attributes(jnp.asarray(flat_row)[None], [a], smin, smax, shift) for a in attrs]
    batch = jnp.concatenate(rows)                                         # [1 + A, S]
    imgs = render(batch)
    p = jax.nn.softmax(classify(imgs), -1)[:, class_index]
    imgs, p = np.asarray(imgs), np.asarray(p)
    return imgs[0], imgs[1:], float(p[0]), p[1:]


def attribute_strip(render: Callable, classify: Callable, flat_styles, attr, smin, smax,
                    shift: float, class_index: int):
    """One attribute across many images.

    Returns:
      ``(originals [N, R, R, C], changed [N, R, R, C], p_before [N], p_after [N])``.
    """
    flat = jnp.asarray(flat_styles)
    changed = apply_attributes(flat, [attr], smin, smax, shift)
    a, b = render(flat), render(changed)
    pa = jax.nn.softmax(classify(a), -1)[:, class_index]
    pb = jax.nn.softmax(classify(b), -1)[:, class_index]
    return np.asarray(a), np.asarray(b), np.asarray(pa), np.asarray(pb)


def _show(ax, img, title=None):
    x = np.clip((np.asarray(img) + 1) / 2, 0, 1)
    ax.imshow(x if x.shape[-1] == 3 else x[..., 0], cmap=None if x.shape[-1] == 3 else "gray",
              interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=7)


def save_image_explanation(path, original, changed, p_before, p_after,
                           attr_names: Sequence[str], class_name: str):
    """Sheet for one image: per attribute a row ``original | changed`` with P(class)."""
    import matplotlib  # noqa: PLC0415
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    n = len(changed)
    fig, axes = plt.subplots(n, 2, figsize=(3.2, 1.6 * max(n, 1)), squeeze=False)
    for i in range(n):
        _show(axes[i, 0], original, f"original P({class_name})={p_before:.2f}")
        _show(axes[i, 1], changed[i], f"{attr_names[i]}: {p_after[i]:.2f}")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def save_strips(path, strips, attr_names: Sequence[str], class_name: str):
    """Sheet of attribute strips: per attribute two rows (originals, changed) with
    probabilities; ``strips`` is a list of :func:`attribute_strip` outputs."""
    import matplotlib  # noqa: PLC0415
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    n = len(strips)
    m = max((len(s[0]) for s in strips), default=1)
    fig, axes = plt.subplots(2 * n, m, figsize=(1.1 * m, 2.4 * max(n, 1)), squeeze=False)
    for i, (a, b, pa, pb) in enumerate(strips):
        for j in range(m):
            if j < len(a):
                _show(axes[2 * i, j], a[j], f"{pa[j]:.2f}")
                _show(axes[2 * i + 1, j], b[j], f"→{pb[j]:.2f}")
            else:
                axes[2 * i, j].axis("off")
                axes[2 * i + 1, j].axis("off")
        axes[2 * i, 0].set_ylabel(attr_names[i], fontsize=7, rotation=0, ha="right")
    fig.suptitle(f"P({class_name}) before (odd rows) and after (even rows)", fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
