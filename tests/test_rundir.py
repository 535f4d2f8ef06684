"""run.json's software record (jaxgan.training.rundir): what it holds, and that a resume
under other library versions is reported but does not count as a config/data change."""
import json

import jax
import numpy as np
from ml_collections import ConfigDict

from jaxgan.training import rundir


def test_software_record_names_the_installed_builds():
    sw = rundir.software()
    assert sw["jax"] == jax.__version__ and sw["numpy"] == np.__version__
    assert set(rundir.SOFTWARE) <= set(sw) and sw["python"].count(".") == 2


def test_software_changes_are_listed_and_do_not_refuse_a_resume(tmp_path):
    cfg = ConfigDict({"seed": 0, "G": {"z_dim": 8}})
    data = {"source": "shapes", "size": 4, "sha256": "ab" * 32}
    old = rundir.record(cfg, data)
    old["software"] = {**old["software"], "jax": "0.0.1", "jaxlib": "0.0.1"}
    rundir.write_record(tmp_path, old)
    new = rundir.record(cfg, data)
    assert rundir.previous_record(tmp_path) == json.loads((tmp_path / rundir.RUN_FILE).read_text())
    got = rundir.software_changes(rundir.previous_record(tmp_path), new)
    assert got == [f"jax 0.0.1 -> {jax.__version__}",
                   f"jaxlib 0.0.1 -> {new['software']['jaxlib']}"]
    assert rundir.check_resume(tmp_path, new, resuming=True) == []     # not a refusal
    assert rundir.software_changes({}, new) == []                       # older run.json
    assert rundir.previous_record(tmp_path / "nowhere") == {}
