"""The ensemble trainer: each member must follow the trajectory of training it alone."""

import pytest
import torch

from perfpredict.data import load_dataset
from perfpredict.zoo import RunSpec, ZooSpec
from perfpredict.zoo.ensemble import ensemble_key, group_runs, train_ensemble
from perfpredict.zoo.stacked import SequentialEngine, VmapEngine, make_engine
from perfpredict.archs import build_model
from perfpredict.zoo.train import train_run

ARCHS = {
    "mlp": {"depth": 2, "width": 32},
    "cnn": {"depth": 2, "channels": 8, "downsample": "pool"},
    "vit": {"depth": 1, "heads": 2, "hidden": 16, "patch_size": 4},
    "lenet": {"pool": "max"},
}


def _members(family, optimizers, **common):
    """Members that differ in optimizer, lr, weight decay, init, data fraction and seed."""
    inits = ["default", "xavier_normal", "orthogonal", "kaiming_uniform"]
    fractions = [1.0, 0.5, 0.77, 0.3]
    return [RunSpec("digits", family, ARCHS[family], optimizer=opt, lr=lr, weight_decay=wd,
                    init=inits[i], data_fraction=fractions[i], seed=10 + i, epochs=2,
                    batch_size=32, **common)
            for i, (opt, lr, wd) in enumerate(optimizers)]


def _solo(spec, data):
    saved = []
    status = train_run(spec, data, lambda e, s, m: saved.append((e, s, m)), device="cpu",
                       max_train_samples=600)
    return status, saved


def _ensemble(specs, data):
    saved = {i: [] for i in range(len(specs))}
    statuses = train_ensemble(specs, data, lambda i, e, s, m: saved[i].append((e, s, m)),
                              device="cpu", max_train_samples=600)
    return statuses, saved


@pytest.mark.parametrize("family", ["mlp", "cnn", "lenet", "vit"])
def test_sgd_members_equal_solo_training(family):
    data = load_dataset("digits")
    specs = _members(family, [("sgd", 0.05, 0.0), ("momentum", 0.02, 1e-3), ("sgd", 0.1, 1e-2)])
    statuses, ens = _ensemble(specs, data)
    assert statuses == ["ok"] * 3
    for i, spec in enumerate(specs):
        _, solo = _solo(spec, data)
        assert [e for e, _, _ in ens[i]] == [e for e, _, _ in solo] == [0, 1, 2]
        for (_, s_ens, m_ens), (_, s_solo, m_solo) in zip(ens[i], solo):
            assert list(s_ens) == list(s_solo)  # same keys, same order
            for k in s_solo:
                torch.testing.assert_close(s_ens[k], s_solo[k], rtol=0, atol=1e-5)
            assert m_ens.train_loss == pytest.approx(m_solo.train_loss, abs=1e-5)
            assert m_ens.test_accuracy == pytest.approx(m_solo.test_accuracy, abs=2e-3)


@pytest.mark.parametrize("family", ["mlp", "cnn", "lenet", "vit"])
def test_adam_and_rmsprop_loss_curves_equal_solo(family):
    data = load_dataset("digits")
    for opts in ([("adam", 3e-3, 0.0), ("adamw", 1e-2, 1e-2), ("adam", 1e-3, 1e-3)],
                 [("rmsprop", 1e-3, 0.0), ("rmsprop", 3e-4, 1e-3)]):
        specs = _members(family, opts)
        _, ens = _ensemble(specs, data)
        for i, spec in enumerate(specs):
            _, solo = _solo(spec, data)
            curve_ens = [m.train_loss for _, _, m in ens[i]]
            curve_solo = [m.train_loss for _, _, m in solo]
            # Adam amplifies fp32 rounding: within 0.5% (a LeNet of 62k weights drifts most)
            assert curve_ens == pytest.approx(curve_solo, abs=1e-3, rel=5e-3)
            assert curve_solo[-1] < curve_solo[0]  # it trained


PEOPLE_ARCHS = {
    "mlp-batchnorm": ("mlp", {"depth": 2, "width": 32, "norm": "batch"}),
    "cnn-batchnorm-fc": ("cnn", {"depth": 2, "channels": 8, "norm": "batch", "head": "fc", "fc_layers": 2,
                                 "fc_width": 32}),
    "cnn-pool-fc": ("cnn", {"depth": 2, "channels": 8, "downsample": "pool", "head": "fc", "fc_width": 16}),
    "lenet": ("lenet", {"pool": "avg"}),
    "resnet-A": ("resnet", {"depth": 8, "width": 8, "shortcut": "A"}),
    "resnet-B": ("resnet", {"depth": 8, "width": 8, "shortcut": "B"}),
}


def _assert_members_equal_solo(specs, data, atol=1e-5):
    statuses, ens = _ensemble(specs, data)
    assert statuses == ["ok"] * len(specs)
    for i, spec in enumerate(specs):
        _, solo = _solo(spec, data)
        assert [e for e, _, _ in ens[i]] == [e for e, _, _ in solo]
        for (_, s_ens, m_ens), (_, s_solo, m_solo) in zip(ens[i], solo):
            assert list(s_ens) == list(s_solo)  # same keys (running statistics too), same order
            for k in s_solo:
                torch.testing.assert_close(s_ens[k], s_solo[k], rtol=0, atol=atol)
            assert m_ens.test_accuracy == pytest.approx(m_solo.test_accuracy, abs=2e-3)
    return ens


@pytest.mark.parametrize("name", sorted(PEOPLE_ARCHS))
def test_batchnorm_residual_and_fc_head_members_equal_solo_training(name):
    """Per-member batch statistics in training, running statistics saved and used in evaluation."""
    family, arch = PEOPLE_ARCHS[name]
    data = load_dataset("digits")
    specs = [RunSpec("digits", family, arch, optimizer=opt, lr=lr, schedule=schedule, init=init, seed=20 + i,
                     epochs=2, batch_size=32, data_fraction=0.5)
             for i, (opt, lr, schedule, init) in enumerate([("momentum", 0.002, "cosine", "default"),
                                                            ("nesterov", 0.001, "step", "xavier_normal"),
                                                            ("sgd", 0.005, "constant", "orthogonal")])]
    # small rates: at 10x these, a ResNet trained alone twice with two conv kernels (plain and
    # channels-last) already differs by 1e-3 after two epochs, fp32 rounding amplified
    ens = _assert_members_equal_solo(specs, data)
    if "norm" in arch or family == "resnet":
        final = ens[0][-1][1]
        stats = [k for k in final if k.endswith("running_var")]
        assert stats and all(not torch.equal(final[k], torch.ones_like(final[k])) for k in stats)


def test_augmented_members_with_schedules_equal_solo_training():
    data = load_dataset("digits")
    specs = [RunSpec("digits", "cnn", ARCHS["cnn"], optimizer=opt, lr=lr, schedule=schedule, augment="crop_flip",
                     seed=30 + i, epochs=4, batch_size=32, data_fraction=0.7)
             for i, (opt, lr, schedule) in enumerate([("nesterov", 0.05, "cosine"), ("momentum", 0.02, "step")])]
    _assert_members_equal_solo(specs, data)


def test_batchnorm_networks_skip_a_last_batch_of_one_image():
    """289 images in batches of 32 leave one: batch statistics of one image are undefined
    (torch raises), so BatchNorm networks skip it, alone and stacked alike."""
    data = load_dataset("digits")
    arch = {"depth": 3, "channels": 8, "norm": "batch", "head": "gap"}  # 8 px down to 1
    specs = [RunSpec("digits", "cnn", arch, optimizer="momentum", lr=0.01, seed=40 + i, epochs=1, batch_size=32,
                     data_fraction=289 / 600) for i in range(2)]
    _assert_members_equal_solo(specs, data)


def test_batchnorm_members_on_unequal_data_are_refused():
    data = load_dataset("digits")
    family, arch = PEOPLE_ARCHS["resnet-A"]
    specs = [RunSpec("digits", family, arch, optimizer="sgd", data_fraction=f, seed=i, epochs=1)
             for i, f in enumerate([1.0, 0.5])]
    with pytest.raises(ValueError, match="equally many images"):
        train_ensemble(specs, data, lambda *args: None, device="cpu")


def test_diverged_member_is_recorded_and_others_unaffected():
    data = load_dataset("digits")
    specs = _members("mlp", [("sgd", 0.05, 0.0), ("sgd", 1e8, 0.0)])
    statuses, ens = _ensemble(specs, data)
    assert statuses == ["ok", "diverged"]
    assert ens[1][-1][2].status == "diverged" and ens[1][0][2].status == "ok"
    _, solo = _solo(specs[0], data)
    for k, v in solo[-1][1].items():
        torch.testing.assert_close(ens[0][-1][1][k], v, rtol=0, atol=1e-5)


def test_training_leaves_global_rng_and_attention_settings_alone():
    data = load_dataset("digits")
    torch.manual_seed(3)
    expected = torch.rand(1)
    torch.manual_seed(3)
    fastpath = torch.backends.mha.get_fastpath_enabled()
    _ensemble(_members("vit", [("adam", 1e-3, 0.0)], dropout=0.2), data)
    assert torch.equal(torch.rand(1), expected)
    assert torch.backends.mha.get_fastpath_enabled() == fastpath


def test_engines_are_picked_per_family():
    shape, classes = (1, 8, 8), 10
    assert isinstance(make_engine(build_model("mlp", shape, classes), 2), SequentialEngine)
    assert isinstance(make_engine(build_model("cnn", shape, classes), 2), SequentialEngine)
    assert isinstance(make_engine(build_model("vit", shape, classes, patch_size=4), 2), VmapEngine)


def test_mixed_structures_are_refused():
    data = load_dataset("digits")
    a, b = _members("mlp", [("sgd", 0.1, 0.0), ("adam", 1e-3, 0.0)])
    with pytest.raises(ValueError, match="group_runs"):
        train_ensemble([a, b], data, lambda *args: None, device="cpu")


def test_group_runs_follows_sampled_blocks():
    spec = ZooSpec(datasets=("digits", "mnist"), runs_per_group=10, ensemble_size=4)
    runs = spec.runs()
    groups = group_runs(runs, spec.ensemble_size)
    assert sorted(r.run_id for g in groups for r in g) == sorted(r.run_id for r in runs)
    assert all(1 <= len(g) <= 4 for g in groups)
    assert all(len({ensemble_key(r) for r in g}) == 1 for g in groups)
    # blocks of 4, 4, 2 for each of the 10 (dataset, family) pairs
    assert sorted(len(g) for g in groups) == [2] * 10 + [4] * 20
    members = groups[0]
    assert len({(r.lr, r.init, r.seed) for r in members}) == len(members)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_members_match_cpu():
    data = load_dataset("digits")
    specs = _members("mlp", [("sgd", 0.05, 0.0), ("adam", 1e-3, 0.0)][:1])
    cpu = _ensemble(specs, data)[1]
    gpu = {0: []}
    train_ensemble(specs, data, lambda i, e, s, m: gpu[i].append((e, s, m)), device="cuda",
                   max_train_samples=600)
    for k, v in cpu[0][-1][1].items():
        assert gpu[0][-1][1][k].device.type == "cpu"
        torch.testing.assert_close(gpu[0][-1][1][k], v, rtol=1e-3, atol=1e-4)
