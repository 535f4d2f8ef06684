"""AttFind wall time: the blocked/vmapped effect tensor (blocks of images x edits, about
``--chunk`` renders per call, on the default one-device mesh) vs. a per-coordinate Python
loop (one jitted call per coordinate and direction, all images batched), in the same run.

Generator: the committed StylEx fixture (``tests/fixtures/trained/stylex_shapes``) when
present, else a random classifier-conditioned generator of the same architecture (R=32,
z/w 64, channel_max 64); classifier: ``classifier_shapes_circle_and_sun`` (or a random one).
Both paths render the same ``N x 2 x |S'|`` images; the timed runs follow a warm-up call
(compile time is reported separately).

    .venv/bin/python benchmarks/bench_attfind.py                     # 250 images, 64 coordinates
    .venv/bin/python benchmarks/bench_attfind.py --coords 0          # every coordinate (slow on CPU)
    .venv/bin/python benchmarks/bench_attfind.py --resolution 64     # on a GPU (random G)

With ``--coords K`` (a subset, evenly spaced) the full-|S| time is extrapolated linearly
(the work is exactly proportional to the number of coordinates) and printed as such.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import model
from jaxgan.nets.configs import ClassifierConfig, GeneratorConfig
from jaxgan.sharding import one_device_mesh
from jaxgan.stylex import attfind as af

FIXTURE = Path("tests/fixtures/trained/stylex_shapes")
CLASSIFIER = Path("tests/fixtures/trained/classifier_shapes_circle_and_sun")


def _setup(res: int, n: int, seed: int = 0):
    from jaxgan.nets.classifier import classifier_logits, init_classifier  # noqa: PLC0415
    if res == 32 and FIXTURE.is_dir():
        from jaxgan.stylex.explainer import load_stylex  # noqa: PLC0415
        sx = load_stylex(FIXTURE)
        G, g, clf = sx.G, sx.g, sx.logits
        src = "fixture"
    else:
        cfg = GeneratorConfig(img_resolution=res, z_dim=64, w_dim=64, mapping_layers=2,
                              channel_base=2048 * res // 32, channel_max=64, style_cond_dim=2)
        G, g = model.init_generator(cfg, jax.random.key(seed))
        if res == 32 and CLASSIFIER.is_dir():
            from jaxgan.classify import load_model  # noqa: PLC0415
            cm, cv = load_model(CLASSIFIER)
        else:
            cm, cv = init_classifier(ClassifierConfig(img_resolution=res, num_classes=2),
                                     jax.random.key(seed + 1))
        clf = lambda x: classifier_logits(cm, cv, x)  # noqa: E731
        src = "random"
    z = jax.random.normal(jax.random.key(seed + 2), (n, G.cfg.z_dim))
    ws = model.mapping(G, g, z)
    cond = jnp.tile(jnp.array([[2.0, -2.0]]), (n, 1))
    st = model.styles(G, g, model.condition_ws(ws, cond))
    layout = af.style_layout(st)
    return af.make_attfind_model(G, g, clf, layout), np.asarray(af.flatten_styles(st, layout)), src


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--resolution", type=int, default=32)
    p.add_argument("--images", type=int, default=250)
    p.add_argument("--coords", type=int, default=64, help="coordinate subset (0 = all)")
    p.add_argument("--chunk", type=int, default=500)
    a = p.parse_args(argv)
    m, flat, src = _setup(a.resolution, a.images)
    s_all = m.layout.size
    coords = np.arange(s_all) if a.coords in (0, None) or a.coords >= s_all else \
        np.linspace(0, s_all - 1, a.coords).round().astype(int)
    smin, smax = af.style_min_max(flat)
    base = af.base_outputs(m, jnp.asarray(flat))[0]
    kw = dict(smin=smin, smax=smax, base=base, shift=1.0)
    warm = coords[:1]
    # Both kernels are built once and compiled by a warm-up call on the timed shapes.
    vfn = af.make_effect_fn(m, smin, smax, 1.0, "prob")
    lfn = af.make_loop_fn(m, flat, base, 1.0, "prob")

    t = time.perf_counter()
    af.attfind_effects(m, flat, coords=warm, chunk=a.chunk, progress=False, effect_fn=vfn, **kw)
    compile_v = time.perf_counter() - t
    t = time.perf_counter()
    ev = af.attfind_effects(m, flat, coords=coords, chunk=a.chunk, progress=False, effect_fn=vfn,
                            **kw)
    t_v = time.perf_counter() - t

    t = time.perf_counter()
    af.attfind_effects_loop(m, flat, coords=warm, loop_fn=lfn, **kw)
    compile_l = time.perf_counter() - t
    t = time.perf_counter()
    el = af.attfind_effects_loop(m, flat, coords=coords, loop_fn=lfn, **kw)
    t_l = time.perf_counter() - t
    scale = s_all / len(coords)
    res = {"device": str(jax.devices()[0].platform), "generator": src, "resolution": a.resolution,
           "images": a.images, "style_coords_total": s_all, "coords_timed": int(len(coords)),
           "renders_timed": int(a.images * 2 * len(coords)),
           "block_images_x_edits": list(af.effect_blocks(a.images, 2 * len(coords), a.chunk,
                                                         one_device_mesh())),
           "vmapped_s": round(t_v, 2), "loop_s": round(t_l, 2), "speedup": round(t_l / t_v, 2),
           "vmapped_full_s_extrapolated": round(t_v * scale, 1),
           "loop_full_s_extrapolated": round(t_l * scale, 1),
           "vmapped_renders_per_s": round(a.images * 2 * len(coords) / t_v, 1),
           "warmup_vmapped_s": round(compile_v, 1), "warmup_loop_s": round(compile_l, 1),
           "max_abs_diff": float(np.abs(ev - el).max())}
    print(json.dumps(res, indent=2))
    return res


if __name__ == "__main__":
    main()
