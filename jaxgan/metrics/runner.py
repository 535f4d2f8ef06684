"""Compute metrics for a generator against its training data.

Dataset features stream through the jitted feature net in fixed-size batches into
:class:`~jaxgan.metrics.stats.FeatureStats` (cached on disk, keyed by the data config, the
image count and the feature net's fingerprint); generated images are made and featurised
in one jitted function per batch. Metric names:

* ``fd_<net>`` / ``kd_<net>`` / ``pr_<net>`` for a feature net called ``<net>`` (the default
  offline one is ``classifier``); with the Inception net: ``fid``, ``kid``, ``pr``;
* ``ppl_wend`` (W, end points, eps 1e-4, no crop: the official ``ppl2_wend``),
  ``ppl_wfull``, and ``ppl_wend_crop`` (the official face-crop ``ppl_wend``).

Results: ``{name: value}`` (P/R as ``<name>_precision`` / ``<name>_recall``).
"""
from __future__ import annotations

import time
from typing import Iterator

import jax
import numpy as np
from tqdm.auto import tqdm

from jaxgan import model
from jaxgan.metrics.features import FeatureNet, metric_name
from jaxgan.metrics.frechet import frechet_distance
from jaxgan.metrics.kid import kernel_distance
from jaxgan.metrics.precision_recall import precision_recall
from jaxgan.metrics.stats import FeatureStats, cached_stats
from jaxgan.data import load_digits_dataset, render_shapes, to_float
from jaxgan.metrics.ppl import compute_ppl
from jaxgan.sharding import map_rows, replicate, resolve_mesh
from jaxgan.nets.lpips import load_lpips
from jaxgan.data.folder import iter_image_folder
from jaxgan.data.builders import open_public, read_arrays

PPL_METRICS = {"ppl_wend": dict(sampling="end", crop=False), "ppl2_wend": dict(sampling="end", crop=False),
               "ppl_wfull": dict(sampling="full", crop=False),
               "ppl_wend_crop": dict(sampling="end", crop=True)}


def _get(cfg, key, default=None):
    try:
        return cfg[key]
    except (KeyError, AttributeError):
        return default


def dataset_batches(data_cfg, num_images: int, batch_size: int, seed: int = 0) -> Iterator[np.ndarray]:
    """Stream the training data of ``data_cfg`` as float32 ``[B, R, R, C]`` in [-1, 1].

    Args:
      data_cfg: the ``data`` config group (``source`` 'shapes' | 'digits' | 'folder' | 'tfds',
        ``resolution``, and ``task``/``path``/``split``/``tfds_name``/``data_dir``).
      num_images: at most this many images (a finite dataset may give fewer).
      batch_size: images per batch (the last may be smaller).
      seed: the shapes renderer's seed (the training run's ``cfg.seed``).
    """
    src, res = _get(data_cfg, "source", "shapes"), int(_get(data_cfg, "resolution", 32))
    if src == "shapes":
        for s in range(0, num_images, batch_size):
            yield to_float(render_shapes(min(batch_size, num_images - s), res, seed, start=s)["image"])
    elif src == "digits":
        imgs = load_digits_dataset(_get(data_cfg, "split", "train") or "train", res, channels=1)["image"]
        for s in range(0, min(num_images, len(imgs)), batch_size):
            yield to_float(imgs[s:min(s + batch_size, num_images)])
    elif src == "folder":
        if not _get(data_cfg, "path"):
            raise ValueError("data source 'folder' needs data.path")
        buf, n = [], 0
        for _, img, _ in iter_image_folder(data_cfg["path"], res):
            buf.append(img)
            n += 1
            if len(buf) == batch_size or n == num_images:
                yield to_float(np.stack(buf))
                buf = []
            if n == num_images:
                break
        if buf:
            yield to_float(np.stack(buf))
    elif src == "tfds":
        ds = open_public(data_cfg["tfds_name"], data_cfg["data_dir"], _get(data_cfg, "split", "train"))
        n = min(num_images, len(ds))
        for s in range(0, n, batch_size):
            yield to_float(read_arrays(ds, np.arange(s, min(s + batch_size, n)))["image"])
    else:
        raise ValueError(f"unknown data source {src!r}: expected shapes, digits, folder or tfds")


def dataset_stats(net: FeatureNet, data_cfg, num_images: int, batch_size: int = 64, *,
                  capture_all: bool = False, seed: int = 0, cache_dir=None,
                  progress: bool = True, mesh=None) -> FeatureStats:
    """Feature statistics of the dataset (cached in ``cache_dir`` when given); every batch of
    ``batch_size`` images (the last padded) split over ``mesh``'s devices (default one)."""
    desc = {k: _get(data_cfg, k) for k in ("source", "resolution", "task", "path", "split",
                                          "tfds_name")}

    def compute():
        fn, m = jax.jit(net.fn), resolve_mesh(mesh)
        params = replicate(net.params, m)
        st = FeatureStats(capture_all=capture_all, max_items=num_images)
        with tqdm(total=num_images, desc=f"{net.name} features (data)", unit="img",
                  disable=not progress) as bar:
            for x in dataset_batches(data_cfg, num_images, batch_size, seed):
                st.append(map_rows(lambda b, p: fn(p, b), x, params, batch=batch_size, mesh=m,
                                   shrink=False))
                bar.update(len(x))
        if st.n < 2:
            raise ValueError(f"dataset {desc} gave {st.n} images; need at least 2")
        return st

    key = dict(dataset=f"{desc['source']}{desc['resolution']}", features=net.name, desc=desc,
               seed=seed, n=num_images, fingerprint=net.fingerprint, all=capture_all)
    return cached_stats(cache_dir, key, compute, need_all=capture_all)


def generator_features_fn(G, net: FeatureNet, batch_size: int, truncation_psi: float = 1.0):
    """Jitted ``fn(variables, net_params, key) -> features [batch_size, D]`` of generated
    images (random noise; uniform classes for a conditional G)."""
    cfg = G.cfg

    def gen_feats(v, fp, k):
        kz, kc, kn = jax.random.split(k, 3)
        z = jax.random.normal(kz, (batch_size, cfg.z_dim))
        c = (jax.nn.one_hot(jax.random.randint(kc, (batch_size,), 0, cfg.c_dim), cfg.c_dim)
             if cfg.c_dim else None)
        img = model.generate(G, v, z, c, truncation_psi, noise_mode="random", noise_key=kn)
        return net.fn(fp, img)

    return jax.jit(gen_feats)


def generator_stats(G, variables, net: FeatureNet, key, num_images: int, batch_size: int = 64, *,
                    capture_all: bool = False, truncation_psi: float = 1.0, fn=None,
                    progress: bool = True) -> FeatureStats:
    """Feature statistics of ``num_images`` generated images; batch ``i`` uses
    ``fold_in(key, i)``; ``fn`` from :func:`generator_features_fn` (built when None)."""
    fn = fn or generator_features_fn(G, net, batch_size, truncation_psi)
    st = FeatureStats(capture_all=capture_all, max_items=num_images)
    with tqdm(total=num_images, desc=f"{net.name} features (G)", unit="img",
              disable=not progress) as bar:
        i = 0
        while not st.is_full():
            st.append(np.asarray(fn(variables, net.params, jax.random.fold_in(key, i))))
            bar.update(min(batch_size, num_images - i * batch_size))
            i += 1
    return st


def parse_metrics(names) -> list[str]:
    """``'fd_classifier,ppl_wend'`` or a list -> validated list of metric names."""
    if isinstance(names, str):
        names = [n for n in names.replace(" ", "").split(",") if n]
    out = []
    for n in names:
        if n in PPL_METRICS or n in ("fid", "kid", "pr") or n.split("_", 1)[0] in ("fd", "kd", "pr") \
                and "_" in n:
            out.append(n)
        else:
            raise ValueError(f"unknown metric {n!r}: use fd_<net>, kd_<net>, pr_<net> (fid, kid, pr "
                             f"with the Inception net) or one of {sorted(PPL_METRICS)}")
    return out


def compute_metrics(G, variables, metrics, *, data_cfg=None, feature_net: FeatureNet | None = None,
                    lpips=None, key=None, num_gen: int = 10000, num_real: int = 10000,
                    num_ppl: int = 10000, batch_size: int = 64, seed: int = 0,
                    truncation_psi: float = 1.0, cache_dir=None, progress: bool = True,
                    mesh=None) -> dict:
    """Compute ``metrics`` for a generator.

    Args:
      G, variables: the generator (e.g. ``jaxgan.checkpoint.load_network(path)``).
      metrics: names (see the module docstring).
      data_cfg: the training ``data`` config (for fd/kd/pr).
      feature_net: the :class:`FeatureNet` (for fd/kd/pr); its name must match the metrics'.
      lpips: LPIPS weights for PPL (default ``load_lpips('vgg16')``).
      key: ``jax.random`` key (default ``key(0)``).
      num_gen, num_real, num_ppl: sample counts (official: 50k gen; all real; 50k PPL).
      batch_size: images per jitted call.
      seed: the dataset seed (shapes).
      truncation_psi: for generation.
      cache_dir: dataset statistics cache.
      progress: tqdm bars.
      mesh: a data mesh for the row-wise passes (dataset features, precision/recall, PPL);
        None: one device. Generated features run on the default device.

    Returns:
      ``{name: float}`` plus ``'_seconds'`` per metric group.
    """
    metrics = parse_metrics(metrics)
    key = jax.random.key(0) if key is None else key
    res: dict = {}
    dist = [m for m in metrics if m not in PPL_METRICS]
    if dist:
        if feature_net is None or data_cfg is None:
            raise ValueError(f"metrics {dist} need a feature network and a dataset")
        want = {k: metric_name(k, feature_net.name) for k in ("fd", "kd", "pr")}
        for m in dist:
            if m not in want.values():
                raise ValueError(f"metric {m!r} does not match the feature network "
                                 f"{feature_net.name!r} (its metrics: {sorted(want.values())})")
        need_all = any(m in (want["kd"], want["pr"]) for m in dist)
        t0 = time.time()
        real = dataset_stats(feature_net, data_cfg, num_real, batch_size, capture_all=need_all,
                             seed=seed, cache_dir=cache_dir, progress=progress, mesh=mesh)
        fake = generator_stats(G, variables, feature_net, jax.random.fold_in(key, 1), num_gen,
                               batch_size, capture_all=need_all, truncation_psi=truncation_psi,
                               progress=progress)
        if want["fd"] in dist:
            res[want["fd"]] = frechet_distance(*fake.mean_cov(), *real.mean_cov())
        if want["kd"] in dist:
            res[want["kd"]] = kernel_distance(fake.features(), real.features(), jax.random.fold_in(key, 2))
        if want["pr"] in dist:
            p, r = precision_recall(real.features(), fake.features(), mesh=mesh)
            res[f"{want['pr']}_precision"], res[f"{want['pr']}_recall"] = p, r
        res["_seconds_features"] = round(time.time() - t0, 2)
    for m in metrics:
        if m in PPL_METRICS:
            lpips = load_lpips("vgg16") if lpips is None else lpips
            t0 = time.time()
            out = compute_ppl(G, variables, lpips, jax.random.fold_in(key, 3), num_ppl,
                              min(batch_size, num_ppl), progress=progress, mesh=mesh,
                              **PPL_METRICS[m])
            res[m] = out["ppl"]
            res[f"_seconds_{m}"] = round(time.time() - t0, 2)
    return res


def images_per_second(G, variables, net: FeatureNet, batch_size: int = 64, batches: int = 5) -> float:
    """Throughput (img/s) of the generate + features + statistics pass, after compilation."""
    key = jax.random.key(0)
    fn = generator_features_fn(G, net, batch_size)
    generator_stats(G, variables, net, key, batch_size, batch_size, fn=fn, progress=False)
    t0 = time.time()
    generator_stats(G, variables, net, key, batch_size * batches, batch_size, fn=fn, progress=False)
    return batch_size * batches / (time.time() - t0)
