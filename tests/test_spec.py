import json

import pytest

from perfpredict.errors import PerfPredictError
from perfpredict.zoo import RunSpec, ZooSpec, checkpoint_schedule


def test_checkpoint_schedule():
    assert checkpoint_schedule(10) == (0, 1, 2, 4, 8, 10)
    assert checkpoint_schedule(1) == (0, 1)


def test_runspec_json_round_trip_and_id():
    spec = RunSpec("digits", "mlp", {"width": 32, "depth": 2}, lr=0.01, epochs=4)
    again = RunSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec and again.run_id == spec.run_id
    assert RunSpec("digits", "mlp", {"depth": 2, "width": 32}, lr=0.02, epochs=4).run_id != spec.run_id
    assert spec.flat()["arch.width"] == 32 and "arch" not in spec.flat()


def test_runspec_validation():
    with pytest.raises(PerfPredictError, match="optimizer"):
        RunSpec("digits", "mlp", {}, optimizer="lbfgs")
    with pytest.raises(PerfPredictError, match="checkpoint_epochs"):
        RunSpec("digits", "mlp", {}, epochs=2, checkpoint_epochs=(0, 5))


def test_zoospec_sampling_is_deterministic_and_covers_space():
    spec = ZooSpec(datasets=("digits", "mnist"), runs_per_group=20, seed=3)
    runs = spec.runs()
    assert runs == ZooSpec.from_dict(json.loads(json.dumps(spec.to_dict()))).runs()
    assert len(runs) == 2 * 3 * 20 and len({r.run_id for r in runs}) == len(runs)
    assert {r.optimizer for r in runs} == {"sgd", "momentum", "adam", "adamw", "rmsprop"}
    assert len({r.activation for r in runs}) == 6
    assert min(r.lr for r in runs) < 1e-3 < 0.1 < max(r.lr for r in runs)
    for r in runs:
        if r.family == "vit":
            size = 8 if r.dataset == "digits" else 28
            assert size % r.arch["patch_size"] == 0 and 2 <= size // r.arch["patch_size"] <= 8
            assert r.arch["hidden"] % r.arch["heads"] == 0
    assert ZooSpec(seed=4).runs() != ZooSpec(seed=3).runs()


def test_zoospec_rejects_unknown_keys(tmp_path):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({"datasets": ["digits"], "epochz": 3}))
    with pytest.raises(PerfPredictError, match="epochz"):
        ZooSpec.from_json(path)
