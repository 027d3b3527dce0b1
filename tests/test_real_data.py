"""Real models on real data: good configurations learn, bad ones stay near chance."""

from perfpredict.data import load_dataset
from perfpredict.zoo import RunSpec, ZooSpec, generate_zoo
from perfpredict.zoo.train import train_run


def _final_accuracy(spec, data):
    saved = []
    train_run(spec, data, lambda e, s, m: saved.append(m), device="cpu",
              max_train_samples=10_000, max_eval_samples=2_000)
    return saved[-1].test_accuracy


def test_mnist_good_and_bad_runs(data_root):
    data = load_dataset("mnist", data_root)
    good = RunSpec("mnist", "mlp", {"depth": 1, "width": 128}, optimizer="adam", lr=1e-3, epochs=2)
    bad = RunSpec("mnist", "mlp", {"depth": 2, "width": 32}, activation="sigmoid", optimizer="sgd",
                  lr=1e-4, epochs=1)
    assert _final_accuracy(good, data) > 0.9
    assert _final_accuracy(bad, data) < 0.3


def test_fashion_mnist_cnn_learns(data_root):
    data = load_dataset("fashion_mnist", data_root)
    spec = RunSpec("fashion_mnist", "cnn", {"depth": 3, "channels": 16}, optimizer="adam", lr=3e-3, epochs=1)
    assert _final_accuracy(spec, data) > 0.6


def test_cifar10_zoo_records_heldout_split(data_root, tmp_path):
    import json

    spec = ZooSpec(name="c", datasets=("cifar10",), families=("cnn",), runs_per_group=1, epochs=1,
                   max_train_samples=500, max_eval_samples=500)
    index = generate_zoo(spec, tmp_path / "zoo", data_root=data_root, workers=0)
    assert len(index) == 2
    meta = json.loads((tmp_path / "zoo" / "zoo.json").read_text())
    assert "data_batch_5 held out" in meta["eval_splits"]["cifar10"]
