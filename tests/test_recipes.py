"""Training recipes (schedules, augmentation, bf16) and the zoo's cost plan."""

import statistics

import pytest
import torch
from typer.testing import CliRunner

from perfpredict.cli import app
from perfpredict.data import load_dataset
from perfpredict.zoo import RunSpec, SearchSpace, ZooSpec
from perfpredict.zoo.ensemble import train_ensemble
from perfpredict.zoo.plan import makespan, plan_zoo, run_flops
from perfpredict.zoo.recipes import apply_augment, bf16_available, draw_augment, lr_factor, resolve_precision
from perfpredict.zoo.train import training_indices

runner = CliRunner()


@pytest.mark.parametrize("epochs", [1, 2, 5, 12])
def test_schedules_follow_torch_schedulers(epochs):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    expected = []
    for _ in range(epochs):
        expected.append(opt.param_groups[0]["lr"])
        opt.step()
        cosine.step()
    assert [lr_factor("cosine", e, epochs) for e in range(epochs)] == pytest.approx(expected)
    step = [lr_factor("step", e, epochs) for e in range(epochs)]
    assert step[0] == 1.0 and step == sorted(step, reverse=True)
    assert step[-1] == pytest.approx(0.01 if epochs >= 4 else 0.1 if epochs >= 2 else 1.0)
    assert {lr_factor("constant", e, epochs) for e in range(epochs)} == {1.0}


def test_crop_flip_moves_and_mirrors_images():
    x = torch.arange(2 * 3 * 32 * 32, dtype=torch.float32).view(2, 3, 32, 32)
    centred = torch.tensor([[4, 4, 0], [4, 4, 1]])
    out = apply_augment(x, centred)
    assert torch.equal(out[0], x[0]) and torch.equal(out[1], x[1].flip(-1))
    shifted = apply_augment(x, torch.tensor([[0, 8, 0], [8, 0, 0]]))  # up-right, down-left
    assert torch.equal(shifted[0, :, 4:, :28], x[0, :, :28, 4:]) and (shifted[0, :, :4] == 0).all()
    assert torch.equal(shifted[1, :, :28, 4:], x[1, :, 4:, :28]) and (shifted[1, :, :, :4] == 0).all()
    draws = draw_augment("crop_flip", 1000, torch.Generator().manual_seed(0))
    assert draws[:, :2].min() == 0 and draws[:, :2].max() == 8 and 0.4 < draws[:, 2].float().mean() < 0.6
    assert draw_augment("none", 10, torch.Generator()) is None
    batched = apply_augment(x.expand(4, 2, 3, 32, 32), centred.expand(4, 2, 3))  # (members, batch, ...)
    assert batched.shape == (4, 2, 3, 32, 32) and torch.equal(batched[3, 1], x[1].flip(-1))


def test_precision_resolves_to_what_the_hardware_has():
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) == "fp32"
    assert resolve_precision("bf16", cpu) == ("bf16" if bf16_available(cpu) else "fp32")
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("fp8", cpu)


def test_bf16_members_reach_the_accuracy_of_fp32_members():
    if not bf16_available(torch.device("cpu")):
        pytest.skip("this CPU has no fast bf16 (AVX512-BF16 or AMX): runs train in fp32 here")
    data = load_dataset("digits")
    accuracy = {}
    for precision in ("fp32", "bf16"):
        specs = [RunSpec("digits", family, arch, optimizer="adam", lr=lr, seed=40 + i, epochs=6, batch_size=32,
                         precision=precision)
                 for family, arch in (("cnn", {"depth": 2, "channels": 16, "norm": "batch"}),
                                      ("mlp", {"depth": 2, "width": 128}))
                 for i, lr in enumerate((1e-3, 3e-3, 1e-2, 3e-4))]
        accuracy[precision] = []
        for group in (specs[:4], specs[4:]):
            final = {}  # member -> accuracy at its last checkpoint
            train_ensemble(group, data, lambda i, e, s, m: final.__setitem__(i, m.test_accuracy), device="cpu")
            accuracy[precision] += [final[i] for i in range(len(group))]
    fp32, bf16 = accuracy["fp32"], accuracy["bf16"]
    assert statistics.mean(fp32) > 0.85  # they trained
    # same runs, same seeds: each bf16 run within 3 points of its fp32 twin, and no worse on average
    assert max(abs(a - b) for a, b in zip(fp32, bf16)) < 0.03, (fp32, bf16)
    assert statistics.mean(bf16) > statistics.mean(fp32) - 0.01


def test_plan_counts_every_image_pass_and_costs_bigger_models_more():
    data = load_dataset("digits")
    spec = ZooSpec(name="p", datasets=("digits",), families=("mlp", "lenet"), runs_per_group=4, ensemble_size=2,
                   space=SearchSpace(epochs_range=(1, 6)), max_train_samples=500)
    plan = plan_zoo(spec, {"digits": data}, workers=2, calibration_seconds=2)
    table = plan.table.set_index("family")
    assert list(table.index) == ["mlp", "lenet"] and (table["runs"] == 4).all()
    for family in ("mlp", "lenet"):
        runs = [r for r in spec.runs() if r.family == family]
        passes = sum(len(training_indices(r, data, 500, torch.Generator().manual_seed(r.seed))[0]) * r.epochs
                     for r in runs)
        assert table.loc[family, "image_passes"] == passes
    assert (table["gflops_per_s"] > 0).all() and (table["hours"] > 0).all()
    total = table["hours"].sum()
    assert total / 2 - 1e-12 <= plan.wall_hours <= total  # two workers share the ensembles
    assert makespan([3, 1, 1, 1], 2) == 3 and makespan([1, 1, 1], 2) == 2 and makespan([2, 2], 1) == 4
    small = RunSpec("digits", "mlp", {"depth": 1, "width": 16}, epochs=2)
    big = RunSpec("digits", "mlp", {"depth": 1, "width": 256}, epochs=2)
    assert run_flops(big, data)[0] > 10 * run_flops(small, data)[0]
    assert run_flops(small, data)[1] == len(data.y_train) * 2


def test_plan_measures_each_batch_size_of_a_family(monkeypatch):
    """Small models at batch 32 train far slower per image than at 128: the plan times each."""
    from perfpredict.zoo import plan as planning

    monkeypatch.setattr(planning, "_time_steps", lambda block, data, budget, device: 1e9 * block[0].batch_size)
    data = load_dataset("digits")
    spec = ZooSpec(name="p", datasets=("digits",), families=("mlp",), runs_per_group=8, ensemble_size=2,
                   space=SearchSpace(batch_size=(32, 128)), max_train_samples=500)
    runs = spec.runs()
    assert {r.batch_size for r in runs} == {32, 128}
    plan = plan_zoo(spec, {"digits": data}, calibration_seconds=1)
    expected = sum(run_flops(r, data, 500)[0] / (1e9 * r.batch_size) for r in runs) / 3600
    assert plan.table["hours"].sum() == pytest.approx(expected)


def test_zoo_plan_command(tmp_path):
    result = runner.invoke(app, ["zoo", "plan", "--datasets", "digits", "--families", "mlp,resnet", "--runs", "2",
                                 "--epochs", "1-3", "--calibration", "2"])
    assert result.exit_code == 0, result.output
    assert "resnet" in result.stdout and "total" in result.stdout and "worker(s)" in result.stdout
    bad = runner.invoke(app, ["zoo", "plan", "--epochs", "three"])
    assert bad.exit_code == 2 and "range (1-30)" in bad.output
