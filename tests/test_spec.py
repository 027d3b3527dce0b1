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


def test_runs_keep_the_ids_they_had_before_schedules_augmentation_and_precision():
    spec = RunSpec("mnist", "cnn", {"depth": 2, "channels": 16}, optimizer="momentum", lr=0.01, epochs=5, seed=7)
    assert spec.run_id == "e74a54cb861ba98f"  # as computed by perfpredict 0.x before these fields
    for change in ({"schedule": "cosine"}, {"augment": "crop_flip"}, {"precision": "bf16"}):
        assert RunSpec.from_dict({**spec.to_dict(), **change}).run_id != spec.run_id


def test_runspec_validation():
    with pytest.raises(PerfPredictError, match="optimizer"):
        RunSpec("digits", "mlp", {}, optimizer="lbfgs")
    with pytest.raises(PerfPredictError, match="checkpoint_epochs"):
        RunSpec("digits", "mlp", {}, epochs=2, checkpoint_epochs=(0, 5))
    for field, value in (("schedule", "linear"), ("augment", "mixup"), ("precision", "fp8")):
        with pytest.raises(PerfPredictError, match=field):
            RunSpec("digits", "mlp", {}, **{field: value})


def test_zoospec_sampling_is_deterministic_and_covers_space():
    spec = ZooSpec(datasets=("digits", "cifar10"), runs_per_group=40, seed=3)
    runs = spec.runs()
    assert runs == ZooSpec.from_dict(json.loads(json.dumps(spec.to_dict()))).runs()
    assert len(runs) == 2 * 5 * 40 and len({r.run_id for r in runs}) == len(runs)
    assert {r.family for r in runs} == {"mlp", "cnn", "lenet", "resnet", "vit"}
    assert {r.optimizer for r in runs} == {"sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop"}
    assert {r.schedule for r in runs} == {"constant", "cosine", "step"}
    assert len({r.activation for r in runs}) == 6
    assert min(r.lr for r in runs) < 1e-3 < 0.1 < max(r.lr for r in runs)
    assert {r.precision for r in runs} == {"bf16"}
    # augmentation on CIFAR-10 only; full training sets for about half the blocks
    assert {r.augment for r in runs if r.dataset == "cifar10"} == {"none", "crop_flip"}
    assert {r.augment for r in runs if r.dataset == "digits"} == {"none"}
    fractions = [r.data_fraction for r in runs]
    assert 0.25 < fractions.count(1.0) / len(runs) < 0.75 and min(fractions) < 0.1
    assert {r.arch["norm"] for r in runs if r.family in ("mlp", "cnn")} == {"none", "batch"}
    heads = {r.arch["head"]: r.arch for r in runs if r.family == "cnn"}
    assert "fc_width" in heads["fc"] and "fc_width" not in heads["gap"]
    for r in runs:
        if r.family == "vit":
            size = 8 if r.dataset == "digits" else 32
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


def test_epochs_sampled_log_uniformly_per_block():
    spec = ZooSpec(runs_per_group=64, ensemble_size=4, space=SearchSpace(epochs_range=(1, 30)))
    runs = spec.runs()
    epochs = [r.epochs for r in runs]
    assert min(epochs) >= 1 and max(epochs) <= 30 and len(set(epochs)) > 5
    assert sum(e <= 5 for e in epochs) > sum(e > 25 for e in epochs)  # log-uniform, not uniform
    blocks = [runs[i:i + 4] for i in range(0, len(runs), 4)]
    assert all(len({r.epochs for r in b}) == 1 for b in blocks)
    assert runs[0].checkpoint_epochs == checkpoint_schedule(runs[0].epochs)
    with pytest.raises(PerfPredictError, match="epochs_range"):
        SearchSpace(epochs_range=(0, 3))


def test_a_zoo_json_without_fields_added_since_still_resumes(tmp_path):
    spec = ZooSpec(runs_per_group=2, max_train_samples=100, epochs=1)
    ZooStore(tmp_path).open(spec, {})
    meta = json.loads((tmp_path / "zoo.json").read_text())
    del meta["spec"]["precision"], meta["spec"]["space"]["epochs_range"]  # as earlier versions wrote
    (tmp_path / "zoo.json").write_text(json.dumps(meta))
    assert ZooStore(tmp_path).open(spec, {}) == spec.runs()
