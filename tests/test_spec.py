import json

import pytest

from perfpredict.errors import PerfPredictError
from perfpredict.zoo import RunSpec, SearchSpace, ZooSpec, ZooStore, checkpoint_schedule


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


def test_learning_rates_per_optimizer():
    ranges = {"sgd": (0.05, 0.5), "momentum": (0.01, 0.1), "adam": (1e-4, 3e-3)}
    spec = ZooSpec(runs_per_group=60, space=SearchSpace(lr_ranges=ranges, lr_range=(1e-3, 1e-2)))
    runs = spec.runs()
    assert {r.optimizer for r in runs} >= {"sgd", "adam"}
    for r in runs:
        lo, hi = ranges.get(r.optimizer, (1e-3, 1e-2))
        assert lo <= r.lr <= hi
    assert ZooSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    with pytest.raises(PerfPredictError, match="unknown optimizer 'lbfgs'"):
        SearchSpace(lr_ranges={"lbfgs": (0.1, 1.0)})
    with pytest.raises(PerfPredictError, match="0 < low <= high"):
        SearchSpace(lr_ranges={"sgd": (0.5, 0.1)})


def test_a_zoo_made_before_lr_ranges_existed_still_resumes(tmp_path):
    spec = ZooSpec(runs_per_group=2, max_train_samples=100, epochs=1)
    ZooStore(tmp_path).open(spec, {})
    meta = json.loads((tmp_path / "zoo.json").read_text())
    del meta["spec"]["space"]["lr_ranges"]  # as written by earlier versions
    (tmp_path / "zoo.json").write_text(json.dumps(meta))
    assert ZooStore(tmp_path).open(spec, {}) == spec.runs()
