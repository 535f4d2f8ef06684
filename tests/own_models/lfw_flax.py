"""A user's own Flax face / non-face classifier, trained outside jaxgan, plugged in by
reference (``own_models.lfw_flax:classifier``). The docs walkthrough (docs/own-data.md)
trains it with ``python -m own_models.lfw_flax FOLDER PARAMS`` and points the factory at the
saved parameters with ``LFW_FLAX_PARAMS=PARAMS`` (default ``out/own/flax_face.msgpack``).
It expects 24x24 grey images in [0, 1] - not jaxgan's 32x32 RGB in [-1, 1]: the contract's
adapter converts."""
from __future__ import annotations

import os
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import serialization

CLASSES = ("face", "non-face")


class FaceNet(nn.Module):
    """Two convs, mean pool, dense: logits of (face, non-face)."""

    @nn.compact
    def __call__(self, x):                                       # [N, 24, 24, 1] in [0, 1]
        x = nn.relu(nn.Conv(16, (3, 3), strides=2)(x))           # [N, 12, 12, 16]
        x = nn.relu(nn.Conv(32, (3, 3), strides=2)(x))           # [N, 6, 6, 32]
        return nn.Dense(2)(jnp.mean(x, axis=(1, 2)))             # [N, 2]


def classifier():
    """The factory: ``(FaceNet().apply, variables, meta)``."""
    path = os.environ.get("LFW_FLAX_PARAMS", "out/own/flax_face.msgpack")
    target = FaceNet().init(jax.random.key(0), jnp.zeros((1, 24, 24, 1)))
    with open(path, "rb") as f:
        variables = serialization.from_bytes(target, f.read())
    return FaceNet().apply, variables, {"resolution": 24, "channels": 1,
                                        "value_range": "[0,1]", "class_names": CLASSES}


def train(folder, out, steps: int = 300, seed: int = 0) -> float:
    """Train FaceNet on a ``face/`` + ``non-face/`` folder (80% of it; the user's own loop);
    save the variables; return the accuracy on the other 20%."""
    from PIL import Image
    from pathlib import Path
    files = sorted(Path(folder).rglob("*.png"))
    x = np.stack([np.asarray(Image.open(f).convert("L").resize((24, 24)), np.float32) / 255
                  for f in files])[..., None]                    # [N, 24, 24, 1]
    y = np.array([CLASSES.index(f.parent.name) for f in files])
    order = np.random.default_rng(seed).permutation(len(y))
    te, tr = order[:len(y) // 5], order[len(y) // 5:]
    net, tx = FaceNet(), optax.adam(3e-3)
    variables = net.init(jax.random.key(seed), x[:1])
    opt = tx.init(variables)

    @jax.jit
    def step(v, o, xb, yb):
        loss = lambda v: optax.softmax_cross_entropy_with_integer_labels(  # noqa: E731
            net.apply(v, xb), yb).mean()
        g = jax.grad(loss)(v)
        u, o = tx.update(g, o)
        return optax.apply_updates(v, u), o

    rng = np.random.default_rng(seed)
    for _ in range(steps):
        b = rng.choice(tr, 32)
        variables, opt = step(variables, opt, x[b], y[b])
    acc = float(np.mean(np.argmax(net.apply(variables, x[te]), -1) == y[te]))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_bytes(serialization.to_bytes(variables))
    return acc


if __name__ == "__main__":
    acc = train(sys.argv[1], sys.argv[2])
    print(f"FaceNet held-out accuracy (its own 20% split): {acc:.4f}; saved {sys.argv[2]}")
