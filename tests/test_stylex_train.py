"""StylEx as a configuration of the StyleGAN2 trainer: the sharded encoder-path step equals
the single-device one (8 fake CPU devices, subprocess), and the plain trainer is unchanged
when no ``stylex`` group is configured."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from conftest import xla_flags_with_devices

SCRIPT = Path(__file__).parent / "scripts" / "stylex_sharded_step.py"


def test_sharded_stylex_step_equals_single_device():
    env = dict(os.environ, XLA_FLAGS=xla_flags_with_devices(8), JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True,
                         timeout=1500, cwd=Path(__file__).parent.parent)
    assert out.returncode == 0, out.stderr[-3000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["g_moved"] > 1e-4, r                      # the encoder path trains G too
    assert r["e_keys"] == ["loss/E/adv", "loss/E/cycle", "loss/E/kl", "loss/E/l1", "loss/E/lpips",
                           "loss/E/total"], r
    assert r["e_moved"] > 1e-4, r                      # the encoder is trained
    assert r["metric_max_rel"] < 1e-4, r
    assert r["frac_gt_1e5"] < 1e-3, r
    assert r["max_diff"] < 0.01, r
    assert r["e_max_diff"] < 0.01, r
    assert r["num_fsdp_e_leaves"] >= 2, r              # encoder weights sharded by the same rules
    # D's step on the reconstructions: its loss is that of the model functions' G(E(x), C(x)).
    assert abs(r["d_rec_loss"] - r["d_rec_ref"]) < 1e-4 * max(1.0, abs(r["d_rec_ref"])), r


def test_schedule_alternate_and_combined():
    """``train_step`` runs the encoder path instead of Gmain on even steps ('alternate') or
    after it every step ('combined'), and D's step on the reconstructions instead of Dmain on
    even steps; plain runs never call them (recorded with stub phases)."""
    from types import SimpleNamespace

    from jaxgan.stylex.trainer import StylexExtension
    from jaxgan.training.step import StepFns, train_step
    calls = []

    def stub(name):
        def f(state, batch, key):
            calls.append(name)
            return state, {}
        return f

    fns = StepFns(stub("g_main"), None, stub("d_main"), None, stub("finish"),
                  {"e_main": stub("e_main"), "d_main_rec": stub("d_main_rec")})

    def defs(**kw):
        return SimpleNamespace(extensions=(StylexExtension(2, None, None, {}, **kw),))
    d_want = ["d_main_rec", "d_main", "d_main_rec"]
    for mode, want in (("alternate", [["e_main"], ["g_main"], ["e_main"]]),
                       ("combined", [["g_main", "e_main"]] * 3)):
        for step in range(3):
            calls.clear()
            train_step(fns, defs(mode=mode), None, None, None, step)
            assert [c for c in calls if c in ("g_main", "e_main")] == want[step], (mode, step)
            assert [c for c in calls if c.startswith("d_")] == [d_want[step]], (mode, step)
    calls.clear()              # stylex.d_on_rec=False: D always sees G(z)
    train_step(fns, defs(mode="alternate", d_on_rec=False), None, None, None, 0)
    assert calls == ["e_main", "d_main", "finish"]
    calls.clear()
    train_step(fns, SimpleNamespace(extensions=()), None, None, None, 0)
    assert calls == ["g_main", "d_main", "finish"]
