"""End-to-end StylEx explaining on a dataset: encode images, AttFind, per-class rankings.

:func:`encode_dataset` turns real images into the conditioned StyleSpace through the encoder
(``s = styles(condition_ws(E(x), C(x)))``), :func:`run_attfind` computes the effect tensor,
drops unstable images and ranks attributes per class (merged for two classes).
Results are plain dicts of NumPy arrays / JSON-able lists (written by :mod:`.report`).
"""
from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np

from jaxgan import assets, model
from jaxgan.sharding import map_rows, mesh_processes, process_rows, resolve_mesh
from jaxgan.stylex import attfind as af
from jaxgan.stylex import sufficiency
from jaxgan.stylex.explainer import Stylex
from jaxgan.data import make_task_dataset, to_float
from jaxgan.stylex.metrics import shapes_estimators
from jaxgan.stylex.report import write_report


def task_images(task: str, n: int, resolution: int, seed: int = 0, start: int = 10 ** 6):
    """Held-out shapes scenes of ``task`` (``'circle_and_sun'`` or ``'shapes:circle_and_sun'``)
    from scene index ``start`` on (the training sets use the first indices).

    Returns:
      ``(images [n, R, R, 3] float in [-1, 1], labels [n], factors dict)``.
    """
    name = task.split(":", 1)[1] if task.startswith("shapes:") else task
    d = make_task_dataset(name, n, resolution, seed, start=start)
    img = np.asarray(to_float(d.pop("image")), np.float32)
    return img, d.pop("label"), d


def encode_dataset(sx: Stylex, images, batch: int = 250, mesh=None):
    """Encode real images into StylEx latents (a vanilla generator, ``style_cond_dim = 0``,
    takes the encoder's ws unconditioned: the StyleSpace baseline).

    Returns:
      dict ``ws [N, num_ws, w_dim]``, ``cond_logits [N, K]`` (C(x)), ``styles [N, S]`` (flat,
      conditioned), ``layout`` (:class:`~jaxgan.stylex.attfind.StyleLayout`); in blocks of
      ``batch`` images on ``mesh`` (default one device).
    """
    w_avg = sx.g["buffers"]["mapping"]["w_avg"]

    @jax.jit
    def enc(x):
        logits = sx.logits(x)
        ws = model.encode(sx.E, sx.e, x, w_avg)
        cond = model.condition_ws(ws, logits) if sx.G.cfg.style_cond_dim else ws  # vanilla G: none
        st = model.styles(sx.G, sx.g, cond)
        return ws, logits, st

    ws, logits, st = map_rows(enc, np.asarray(images), batch=batch, mesh=mesh)
    layout = af.style_layout(st)
    flat = np.asarray(af.flatten_styles(st, layout))
    return {"ws": ws, "cond_logits": logits, "styles": flat, "layout": layout}


def attfind_model(sx: Stylex, layout) -> af.AttFindModel:
    return af.make_attfind_model(sx.G, sx.g, sx.logits, layout)


def run_attfind(sx: Stylex, enc: dict, *, shift: float = 2.0, measure: str = "prob",
                num_indices: int = 8, max_image_effect: float = 0.2, chunk: int = 512,
                disc_threshold: float | None = None, progress: bool = True,
                prefilter: int | None = None, mesh=None, layers=None):
    """AttFind over encoded images (module docstring of :mod:`jaxgan.stylex.attfind`).

    Args:
      sx: the trained StylEx; enc: :func:`encode_dataset` output.
      shift, measure, chunk: see :func:`~jaxgan.stylex.attfind.attfind_effects`.
      num_indices: attributes per class; max_image_effect: the cumulative-effect cap.
      disc_threshold: when set (and ``sx.D`` exists), reject attributes whose changed images
        score below it on the discriminator.
      prefilter: when set, only the coordinates kept by the first-order
        :func:`~jaxgan.stylex.attfind.linear_screen` (this many) get exact effects; the
        others' effects are recorded as 0. None (default): every coordinate, as the notebook.
      layers: optional style vectors to search (:func:`~jaxgan.stylex.attfind.layer_coords`:
        ``('conv0', 'conv1')`` leaves out the ToRGB colour channels, as StyleSpace analyses
        often do); None (default): every coordinate.
      mesh: the mesh (``'data'`` axis, possibly spanning processes; default one device):
        every process passes the same ``enc`` and renders only its own rows
        (:func:`jaxgan.sharding.process_rows`) of the images; the image count must
        divide over the processes. Every process gets the same result.

    Returns:
      dict with ``effects [N_stable, 2, S, K]``, ``stable [N]`` bool, ``labels [N_stable]``
      (classes of the regenerated images), ``smin``/``smax`` ``[S]``, ``base [N_stable, K]``,
      ``ranking {class: [(direction, coordinate, score), ...]}`` (merged for K = 2) and
      ``per_class`` (unmerged).
    """
    layout = enc["layout"]
    m = attfind_model(sx, layout)
    flat = enc["styles"]
    mesh = resolve_mesh(mesh)
    index, procs = mesh_processes(mesh)
    rows = process_rows(len(flat), index, procs)
    mine = flat[rows]                                                    # this process's rows
    smin, smax = af.style_min_max(mine, mesh)
    base, base_logits = af.base_outputs(m, mine, measure, mesh=mesh)
    stable = af.stable_mask(base_logits, enc["cond_logits"])
    if not stable.any():
        raise ValueError("attfind: no stable image (the regenerated class never matches the "
                         "classifier's): is the StylEx trained?")
    fl, bs = flat[stable], base[stable]
    labels = np.argmax(base_logits[stable], -1)
    coords = None if not layers else af.layer_coords(layout, layers)
    if prefilter:
        coords, _ = af.linear_screen(m, fl, smin, smax, shift, measure, num=prefilter,
                                     among=coords)
    # Each process renders its own rows. One process: only the stable images; several: equal
    # rows per process, so every image is rendered and the unstable ones dropped afterwards.
    pick = np.flatnonzero(stable) if procs == 1 else np.arange(len(flat))[rows]
    eff = af.attfind_effects(m, flat[pick], smin=smin, smax=smax, shift=shift, measure=measure,
                             chunk=chunk, base=base[pick], progress=progress, coords=coords,
                             mesh=mesh)
    if procs > 1:
        eff = eff[stable]
    if coords is not None:                       # back to the full coordinate axis
        full = np.zeros((eff.shape[0], 2, layout.size, eff.shape[-1]), eff.dtype)
        full[:, :, coords] = eff
        eff = full
    reject = None
    if disc_threshold is not None and sx.D is not None:
        disc = lambda x: model.discriminate(sx.D, sx.d, x)[:, 0]  # noqa: E731
        reject = af.discriminator_filter(m.render, disc, fl, smin, smax, shift, disc_threshold)
    k = eff.shape[-1]
    per_class = {c: af.find_significant_styles(eff, labels, c, num_indices, max_image_effect,
                                               reject) for c in range(k)}
    ranking = af.merge_two_class(per_class[0], per_class[1], num_indices) if k == 2 else per_class
    return {"effects": eff, "stable": stable, "labels": labels, "smin": smin, "smax": smax,
            "base": bs, "ranking": ranking, "per_class": per_class, "shift": shift,
            "measure": measure, "prefilter": prefilter,
            "layers": list(layers) if layers else None}


#: Independent factor estimators of the built-in shapes data (built-in networks, :mod:`jaxgan.assets`).
SEGMENTER = "builtin:segmenter_shapes"
SHAPE_CLASSIFIER = "builtin:classifier_shapes_shape"


def save_attfind(path, result: dict) -> None:
    """``attfind.npz`` with the arrays and the ranking of :func:`run_attfind`."""
    arrays = {k: np.asarray(result[k]) for k in ("effects", "stable", "labels", "smin", "smax",
                                                 "base")}
    rank = json.dumps({str(c): [list(map(float, a)) for a in v] for c, v in result["ranking"].items()})
    per = json.dumps({str(c): [list(map(float, a)) for a in v]
                      for c, v in result["per_class"].items()})
    np.savez_compressed(path, **arrays, ranking=np.asarray(rank), per_class=np.asarray(per),
                        shift=np.asarray(result["shift"]), measure=np.asarray(result["measure"]),
                        layers=np.asarray(json.dumps(result.get("layers"))))


def load_attfind(path) -> dict:
    """Inverse of :func:`save_attfind`."""
    z = np.load(path)
    out = {k: z[k] for k in ("effects", "stable", "labels", "smin", "smax", "base")}

    def rk(s):
        return {int(c): [(int(a[0]), int(a[1]), float(a[2])) for a in v]
                for c, v in json.loads(str(s)).items()}
    out.update(ranking=rk(z["ranking"]), per_class=rk(z["per_class"]), shift=float(z["shift"]),
               measure=str(z["measure"]),
               layers=json.loads(str(z["layers"])) if "layers" in z.files else None)
    return out


def _layers_arg(text):
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def load_or_run_attfind(sx: Stylex, enc: dict, out, args, mesh=None) -> dict:
    """Run AttFind with the command's flags (or reuse ``out/attfind.npz`` with ``--reuse``).
    ``mesh``: see :func:`run_attfind` (process 0 alone writes the file)."""
    path = Path(out) / "attfind.npz"
    if getattr(args, "reuse", False) and path.is_file():
        return load_attfind(path)
    res = run_attfind(sx, enc, shift=args.shift, measure=args.measure,
                      num_indices=args.num_indices, max_image_effect=args.max_image_effect,
                      chunk=args.chunk, disc_threshold=args.disc_threshold,
                      progress=not args.no_progress, prefilter=getattr(args, "prefilter", None),
                      mesh=mesh, layers=_layers_arg(getattr(args, "layers", None)))
    if jax.process_index() == 0:
        save_attfind(path, res)
    return res


def attfind_json(result: dict, layout, class_names=()) -> dict:
    """JSON summary: per class the ranked attributes with StyleSpace names."""
    def name(c):
        return class_names[c] if c < len(class_names) else f"class{c}"
    return {"shift": result["shift"], "measure": result["measure"],
            "prefilter": result.get("prefilter"), "layers": result.get("layers"),
            "num_stable": int(np.sum(result["stable"])), "num_images": int(len(result["stable"])),
            "ranking": {name(c): [{"direction": "max" if d else "min", "coordinate": j,
                                   "name": layout.name(j), "score": sc}
                                  for d, j, sc in v] for c, v in result["ranking"].items()}}


def report(sx: Stylex, enc: dict, result: dict, images, out, *, k: int = 4,
           segmenter: str = SEGMENTER, shape_classifier: str = SHAPE_CLASSIFIER) -> dict:
    """The explanation report (:func:`jaxgan.stylex.report.write_report`) with the shapes
    factor estimators when their checkpoints exist (``segmenter=''``: none, e.g. for a
    user's images), the encoder agreement and the sufficiency curve (k = 1..10 or as many
    attributes as AttFind ranked, 95% bootstrap intervals: ``report.json['sufficiency']``
    and ``sufficiency.png``)."""
    m = attfind_model(sx, enc["layout"])
    est = thr = feat = None
    if segmenter and shape_classifier and Path(assets.resolve(segmenter)).is_dir() and \
            Path(assets.resolve(shape_classifier)).is_dir():
        est, thr, feat = shapes_estimators(segmenter, shape_classifier)
    stable = np.asarray(result["stable"])
    names = list(sx.clf.cfg.class_names)
    extra = {"agreement_C(G(E(x)))=C(x)": float(stable.mean()),
             "attfind": attfind_json(result, enc["layout"], names)}
    kmax = min(10, max((len(v) for v in result["ranking"].values()), default=0))
    if kmax:                  # the paper's sufficiency curve over these images (in-sample)
        ks = tuple(range(1, kmax + 1))
        flipped = sufficiency.flipped_by_k(m.render, m.classify, enc["styles"][stable],
                                           result["labels"], result["ranking"], result["smin"],
                                           result["smax"], result["shift"], ks)
        extra["sufficiency"] = sufficiency.curve(flipped, result["labels"], ks, names)
        Path(out).mkdir(parents=True, exist_ok=True)
        sufficiency.save_plot(Path(out) / "sufficiency.png", {"AttFind": extra["sufficiency"]},
                              title="sufficiency on the explained images (95% bootstrap)")
    return write_report(out, m, enc["styles"][stable], result["labels"], result,
                        class_names=names, k=k, estimators=est,
                        thresholds=thr, feature_fn=feat, real_images=images, extra=extra)
