import torch

from perfpredict.data import load_dataset
from perfpredict.zoo import RunSpec
from perfpredict.zoo.train import train_run


def _train(spec, **kw):
    saved = []
    status = train_run(spec, load_dataset("digits"), lambda e, s, m: saved.append((e, s, m)), device="cpu", **kw)
    return status, saved


def test_good_run_learns_and_checkpoints_on_schedule():
    spec = RunSpec("digits", "mlp", {"depth": 1, "width": 64}, optimizer="adam", lr=1e-2, epochs=8, seed=5)
    status, saved = _train(spec)
    assert status == "ok"
    assert [e for e, _, _ in saved] == [0, 1, 2, 4, 8]
    first, last = saved[0][2], saved[-1][2]
    assert first.test_accuracy < 0.3 and last.test_accuracy > 0.9
    assert last.train_loss < first.train_loss
    assert set(saved[-1][1]) == {"1.weight", "1.bias", "3.weight", "3.bias"}


def test_training_is_reproducible_and_leaves_global_rng_alone():
    spec = RunSpec("digits", "cnn", {"depth": 2, "channels": 8}, dropout=0.3, lr=1e-2, epochs=1, seed=2)
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    _, a = _train(spec)
    assert torch.equal(torch.rand(1), expected_next)
    _, b = _train(spec)
    for (_, sa, ma), (_, sb, mb) in zip(a, b):
        assert ma == mb and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_divergence_is_recorded_not_dropped():
    spec = RunSpec("digits", "mlp", {"depth": 2, "width": 32}, optimizer="sgd", lr=1e8, epochs=4, seed=0)
    status, saved = _train(spec)
    assert status == "diverged"
    assert saved[-1][2].status == "diverged" and saved[0][2].status == "ok"


def test_data_fraction_and_label_noise():
    from perfpredict.zoo.train import training_indices

    data = load_dataset("digits")
    spec = RunSpec("digits", "mlp", {}, data_fraction=0.5, label_noise=0.5)
    idx, y = training_indices(spec, data, 400, torch.Generator().manual_seed(0))
    assert len(y) == 200
    clean = RunSpec("digits", "mlp", {}, data_fraction=0.5)
    _, y_clean = training_indices(clean, data, 400, torch.Generator().manual_seed(0))
    changed = (y != y_clean).float().mean()
    assert 0.3 < changed < 0.6  # half relabelled at random, 1/10 of those to the same class
