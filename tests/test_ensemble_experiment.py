"""The ensembling pipeline on the trained shapes generator: latent cache, CLI errors, and
(``-m slow``) a tiny end-to-end experiment."""
import json
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxgan.cli import main
from jaxgan.data import make_task_dataset

G_DIR = Path(__file__).parent / "fixtures" / "trained" / "G_shapes32"


@pytest.fixture(scope="module")
def gen():
    if not G_DIR.is_dir():
        pytest.skip(f"trained generator fixture {G_DIR} not present")
    from jaxgan.checkpoint import load_network
    return load_network(G_DIR)


def test_latent_cache_hit_on_second_run(gen, tmp_path):
    from jaxgan.dataplus import Inverter
    from jaxgan.ensemble.experiment import invert_cached, tree_digest
    from jaxgan.invert import DistanceWeights, ProjectConfig
    G, g = gen
    x = make_task_dataset("shape", 6, 32, 0, start=100_000)["image"]
    inv = Inverter(cfg=ProjectConfig(space="wplus", num_steps=4, initial_learning_rate=0.05,
                                     initial_noise_factor=0.0, optimize_noise=False,
                                     noise_init="const", w_avg_samples=256,
                                     distance=DistanceWeights(lpips=0, l2=1.0)))
    digest = tree_digest(g)
    key = jax.random.key(0)
    ws1, hit1 = invert_cached(G, g, x[:4], inv, tmp_path, digest, batch=4, key=key)
    assert not hit1 and ws1.shape == (4, G.cfg.num_ws, G.cfg.w_dim)
    assert len(list(tmp_path.glob("latents-*.npz"))) == 1
    ws2, hit2 = invert_cached(G, g, x[:4], inv, tmp_path, digest, batch=4, key=key)
    assert hit2 and np.array_equal(ws1, ws2)
    # the optimisation really ran: the latents left the mean and differ per image
    assert np.abs(ws1[0] - ws1[1]).max() > 0
    # other images, other generator weights or other settings: a miss
    _, hit3 = invert_cached(G, g, x[2:6], inv, tmp_path, digest, batch=4, key=key)
    assert not hit3
    _, hit4 = invert_cached(G, g, x[:4], inv, tmp_path, "another-generator", batch=4, key=key)
    assert not hit4
    assert len(list(tmp_path.glob("latents-*.npz"))) == 3
    with pytest.raises(ValueError, match="uint8"):
        invert_cached(G, g, x[:4].astype(np.float32), inv, tmp_path, digest)


def test_cli_reports_bad_input(tmp_path, capsys):
    assert main(["ensemble", "--ckpt", str(tmp_path / "missing"), "--out", str(tmp_path)]) == 2
    assert main(["ensemble", "--ckpt", str(G_DIR), "--out", str(tmp_path),
                 "--perturb", "gauss:fine:0.1"]) == 2
    assert "bad perturbation" in capsys.readouterr().err
    assert main(["ensemble", "--ckpt", str(G_DIR), "--out", str(tmp_path),
                 "--task", "digits"]) == 2


@pytest.mark.slow
def test_experiment_end_to_end(gen, tmp_path):
    from jaxgan.ensemble.experiment import EnsembleConfig, run_experiment
    G, g = gen
    cfg = EnsembleConfig(num_train=12, num_val=16, num_test=24, num_views=4, block=8,
                         classifier_steps=30, perturbations=("isotropic:fine:0.2", "pca:all:2",
                                                             "stylemix:fine"),
                         jitter=("color+crop",), inv_steps=5, encoder_steps=5, pca_samples=500,
                         num_boot=200, inv_batch=24)
    r = run_experiment(G, g, cfg, out=tmp_path, progress=False)
    for f in ("results.json", "results.md", "alpha_weak.png", "alpha_weak_gan_recon.png",
              "views/stylemix_fine.png", "views/jitter_color_crop.png"):
        assert (tmp_path / f).is_file(), f
    assert not any(r["cache_hits"].values())
    for cname, c in r["classifiers"].items():
        for m, res in r["methods"][cname].items():
            assert res["test_curve"][0] == pytest.approx(c["test_acc"])   # alpha = 0: alone
            lo, hi = res["test_ci"]
            assert lo <= res["test_acc"] <= hi
            assert res["val_acc"] == max(res["val_curve"])
    saved = json.loads((tmp_path / "results.json").read_text())
    assert set(saved["methods"]["weak"]) == {"reconstruction", "isotropic_fine_0.2",
                                             "pca20_all_2", "stylemix_fine", "jitter_color_crop"}
    r2 = run_experiment(G, g, cfg, out=tmp_path, progress=False)
    assert all(r2["cache_hits"].values())
    assert r2["methods"] == r["methods"]
