"""Command line: ``perfpredict demo | zoo generate | zoo plan | features | fit | evaluate | predict | report``.

Bad arguments and missing files exit with code 2; failures at run time exit with code 1 and
a one-line message (the traceback only with ``--debug``).
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from .errors import PerfPredictError

if TYPE_CHECKING:
    import pandas as pd

    from .features import FeatureTable
    from .predictor.bundles import CheckpointPrediction
    from .zoo import RunSummary, ZooSpec

app = typer.Typer(help="Predict a trained network's test accuracy from its weights alone.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
zoo_app = typer.Typer(help="Generate model zoos.", no_args_is_help=True)
app.add_typer(zoo_app, name="zoo")
console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # one line per message, whatever the width
_state = {"debug": False}

DEFAULT_SCHEMA = "transfer"
"""``perfpredict.features.DEFAULT_SCHEMA``, written out: importing it would load torch at startup."""
ExistingPath = typer.Argument(..., exists=True, help="An existing file or folder.")


@app.callback()
def main(debug: bool = typer.Option(False, "--debug", help="Show tracebacks of failures.")) -> None:
    """perfpredict command line."""
    _state["debug"] = debug


@contextmanager
def _progress(label: str, total: int) -> Iterator[tuple[Progress, object]]:
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"),
               TimeRemainingColumn()]
    with Progress(*columns, console=err_console, transient=False) as progress:
        yield progress, progress.add_task(label, total=total, rate="")


def _generate(spec: "ZooSpec", out: Path, data_root: Optional[Path], workers: Optional[int],
              device: str, executor: str = "local", address: Optional[str] = None) -> "pd.DataFrame":
    import time

    from .zoo import generate_zoo
    from .zoo.executors import make_executor

    n_runs = len(spec.runs())
    start = time.perf_counter()
    with _progress("training runs", n_runs) as (progress, task):
        fresh = []

        def on_run(summary: "RunSummary", done: int, total: int) -> None:
            fresh.append(summary)
            per_min = 60 * len(fresh) / max(time.perf_counter() - start, 1e-9)
            progress.update(task, completed=done, rate=f"{per_min:.1f} models/min")

        def on_incomplete(run_id: str, reason: str, moved_to: Path) -> None:
            err_console.print(f"[yellow]run {run_id} was incomplete[/] ({reason}): training it again; "
                              f"its folder was moved to {moved_to}")

        pool = make_executor("ray", address=address) if executor == "ray" else None
        return generate_zoo(spec, out, data_root=data_root, workers=workers, device=device,
                            executor=pool, on_run=on_run, on_incomplete=on_incomplete)


_SPEC_FILE = typer.Option(None, "--spec", exists=True, dir_okay=False, help="ZooSpec JSON; overrides the options below.")
_DATASETS = typer.Option("digits", help="Comma-separated: digits, mnist, fashion_mnist, cifar10.")
_FAMILIES = typer.Option("mlp,cnn,lenet,resnet,vit", help="Comma-separated (default: all).")
_RUNS = typer.Option(8, min=1, help="Runs per (dataset, family) pair.")
_EPOCHS = typer.Option("8", help="Epochs per run, or LOW-HIGH: each block of runs draws its epochs "
                                 "log-uniformly in that range.")
_SEED = typer.Option(0, help="Sampler seed.")
_MAX_TRAIN = typer.Option(None, min=1, help="Cap on training images.")
_MAX_EVAL = typer.Option(None, min=1, help="Cap on evaluation images.")
_ENSEMBLE = typer.Option(8, min=1, help="Runs that share a structure and train stacked.")
_PRECISION = typer.Option("bf16", help="bf16 (mixed precision where the hardware has fast bf16, else fp32) or fp32.")
_WORKERS = typer.Option(None, min=0, help="Worker processes (default: one per core; 0: in-process).")
_DEVICE = typer.Option("auto", help="auto, cpu or cuda.")
_DATA_ROOT = typer.Option(None, help="Dataset root (default: $PERFPREDICT_DATA).")


def _zoo_spec(name: str, spec_file: Optional[Path], datasets: str, families: str, runs: int, epochs: str,
              seed: int, max_train_samples: Optional[int], max_eval_samples: Optional[int],
              ensemble_size: int, precision: str) -> "ZooSpec":
    """The spec of ``--spec``, or the one the options describe."""
    from .zoo import SearchSpace, ZooSpec

    if spec_file is not None:
        return ZooSpec.from_json(spec_file)
    low, _, high = epochs.partition("-")
    try:
        bounds = (int(low), int(high or low))
    except ValueError:
        raise typer.BadParameter("must be a number of epochs (8) or a range (1-30)", param_hint="--epochs") from None
    space = SearchSpace(epochs_range=bounds) if high else SearchSpace()
    return ZooSpec(name=name, datasets=tuple(datasets.split(",")), families=tuple(families.split(",")),
                   runs_per_group=runs, epochs=bounds[1], seed=seed, space=space,
                   max_train_samples=max_train_samples, max_eval_samples=max_eval_samples,
                   ensemble_size=ensemble_size, precision=precision)


@zoo_app.command("generate")
def zoo_generate(
    out: Path = typer.Argument(..., help="Zoo folder (created; an existing one is resumed)."),
    spec_file: Optional[Path] = _SPEC_FILE,
    datasets: str = _DATASETS,
    families: str = _FAMILIES,
    runs: int = _RUNS,
    epochs: str = _EPOCHS,
    seed: int = _SEED,
    max_train_samples: Optional[int] = _MAX_TRAIN,
    max_eval_samples: Optional[int] = _MAX_EVAL,
    ensemble_size: int = _ENSEMBLE,
    precision: str = _PRECISION,
    workers: Optional[int] = _WORKERS,
    device: str = _DEVICE,
    executor: str = typer.Option("local", help="local (worker processes) or ray (a Ray cluster)."),
    address: Optional[str] = typer.Option(None, help="Ray cluster address, with --executor ray."),
    data_root: Optional[Path] = _DATA_ROOT,
) -> None:
    """Train a zoo of models and save checkpoints across training.

    Re-running the same command resumes an interrupted zoo. `perfpredict zoo plan` with the
    same options says first what it costs.
    """
    from .zoo.executors import EXECUTORS

    if executor not in EXECUTORS:
        raise typer.BadParameter(f"must be one of {', '.join(EXECUTORS)}", param_hint="--executor")
    spec = _zoo_spec(out.name, spec_file, datasets, families, runs, epochs, seed, max_train_samples,
                     max_eval_samples, ensemble_size, precision)
    index = _generate(spec, out, data_root, workers, device, executor, address)
    _print_zoo_summary(index, out)


@zoo_app.command("plan")
def zoo_plan(
    name: str = typer.Argument("zoo", help="The zoo's name (as `zoo generate` names it after its folder)."),
    spec_file: Optional[Path] = _SPEC_FILE,
    datasets: str = _DATASETS,
    families: str = _FAMILIES,
    runs: int = _RUNS,
    epochs: str = _EPOCHS,
    seed: int = _SEED,
    max_train_samples: Optional[int] = _MAX_TRAIN,
    max_eval_samples: Optional[int] = _MAX_EVAL,
    ensemble_size: int = _ENSEMBLE,
    precision: str = _PRECISION,
    workers: Optional[int] = _WORKERS,
    device: str = _DEVICE,
    calibration: float = typer.Option(20.0, min=1.0, help="Seconds for measuring this machine's speed."),
    data_root: Optional[Path] = _DATA_ROOT,
) -> None:
    """Say what a zoo costs before training it: runs, image passes, FLOPs and hours here."""
    from .data import load_dataset
    from .zoo.executors import default_workers
    from .zoo.plan import plan_zoo
    from .zoo.train import resolve_device

    spec = _zoo_spec(name, spec_file, datasets, families, runs, epochs, seed, max_train_samples,
                     max_eval_samples, ensemble_size, precision)
    dev = resolve_device(device)
    n_workers = workers or (1 if dev.type == "cuda" else default_workers())
    loaded = {d: load_dataset(d, data_root) for d in spec.datasets}
    plan = plan_zoo(spec, loaded, workers=n_workers, calibration_seconds=calibration, device=dev)
    table = Table("dataset", "family", "runs", "image passes", "TFLOP", "GFLOP/s", "worker hours")
    for r in plan.table.itertuples():
        table.add_row(r.dataset, r.family, str(r.runs), f"{r.image_passes:,}", f"{r.tflops:,.1f}",
                      f"{r.gflops_per_s:.0f}", f"{r.hours:.2f}")
    console.print(table)
    console.print(f"total {plan.table['tflops'].sum():,.1f} TFLOP in {plan.precision}: about "
                  f"{_hours(plan.wall_hours)} here with {plan.workers} worker(s)")
    console.print(f"(GFLOP/s: one worker's speed here, measured in {plan.calibration_seconds:.0f} s)")


def _hours(hours: float) -> str:
    return f"{hours * 60:.0f} min" if hours < 1 else f"{hours:.1f} h"


def _print_zoo_summary(index: "pd.DataFrame", out: Path) -> None:
    final = index.sort_values("epoch").groupby("run_id").tail(1)
    table = Table("family", "dataset", "runs", "diverged", "final acc min", "median", "max")
    for (fam, ds), g in final.groupby(["family", "dataset"]):
        acc = g["test_accuracy"]
        table.add_row(fam, ds, str(len(g)), str(int((g["status"] == "diverged").sum())),
                      f"{acc.min():.3f}", f"{acc.median():.3f}", f"{acc.max():.3f}")
    console.print(table)
    console.print(f"{len(index)} checkpoints of {index['run_id'].nunique()} runs in {out}")


@app.command()
def features(
    inputs: list[Path] = typer.Argument(..., exists=True, help="Zoo folders, checkpoint files or folders of them."),
    output: Path = typer.Option(..., "-o", "--output", help="Feature table to write (.parquet)."),
    schema: str = typer.Option(DEFAULT_SCHEMA, help="transfer, agnostic, learned, per_layer, statnn or spectral."),
    float32: bool = typer.Option(False, "--float32", help="Store the features in single precision (half the size)."),
) -> None:
    """Extract weight-statistic features into a parquet table."""
    from .checkpoints import CHECKPOINT_SUFFIXES
    from .features import extract_features, save_features
    from .features.table import expand_paths

    if len(inputs) == 1 and (inputs[0] / "zoo.json").exists():
        table = _zoo_table(inputs[0], schema)
    else:
        paths = expand_paths(inputs)
        with _progress("extracting features", len(paths)) as (progress, task):
            table = extract_features(paths, schema, on_item=lambda i: progress.update(task, completed=i))
    for tensor, count in table.skipped.items():
        err_console.print(f"[yellow]left out[/] {tensor} ({count} checkpoints)")
    for source, reason in table.failures:
        err_console.print(f"[red]could not read[/] {source}: {reason}")
    if not len(table.frame):
        raise PerfPredictError(f"no input could be read ({len(table.failures)} listed above), so nothing was written "
                               f"to {output}; give checkpoint files (safetensors, torch, .npz or Keras weights), "
                               f"folders of them ({', '.join(CHECKPOINT_SUFFIXES)}) or a zoo folder")
    save_features(table, output, float32=float32)
    console.print(f"{len(table.frame)} checkpoints x {len(table.feature_names)} {schema} features -> {output}")
    if table.failures:
        console.print(f"{len(table.failures)} inputs could not be read (listed above); the rest were processed")


_MODELS_HELP = "Comma-separated: xgboost, linear (ridge), lasso, logit_linear."
_TUNE_HELP = ("Choose XGBoost's depth and leaf weight by cross-validation over training runs "
              "(about 15x the time of --no-tune, which only early-stops the trees).")
_LINK_HELP = ("What XGBoost fits: identity (the accuracy) or logit (its logit, which spreads the "
              "accuracies of good networks apart).")


def _models(models: str) -> tuple[str, ...]:
    from .predictor.models import MODELS

    chosen = tuple(m.strip() for m in models.split(",") if m.strip())
    unknown = [m for m in chosen if m not in MODELS]
    if unknown or not chosen:
        raise typer.BadParameter(f"must be some of {', '.join(MODELS)}", param_hint="--models")
    return chosen


def _load_tables(paths: list[Path]) -> "FeatureTable":
    """The feature tables at ``paths``, combined into one."""
    from .features import load_features
    from .features.table import concat_features

    return concat_features([load_features(p) for p in paths])


_SHOWN = {"fold": ("fold", "{}"), "features": ("features", "{}"), "model": ("model", "{}"), "r2": ("R²", "{:.3f}"),
          "kendall_tau": ("τ", "{:.3f}"), "mae_points": ("MAE", "{:.1f}"), "coverage": ("cover", "{:.2f}"),
          "width_points": ("width", "{:.1f}"), "outside": ("outside", "{:.2f}"), "n": ("n", "{:.0f}")}
"""Columns of a metrics table on screen: header and format (files written with -o have all)."""


def _metrics_table(metrics: "pd.DataFrame", title: str) -> Table:
    """The main metrics, short enough for 80 columns: R², Kendall τ, MAE and the interval
    width in accuracy points, coverage, the share flagged outside the domain, checkpoints."""
    shown = [c for c in _SHOWN if c in metrics.columns]
    table = Table(*[_SHOWN[c][0] for c in shown], title=title)
    for row in metrics[shown].itertuples(index=False):
        table.add_row(*["-" if isinstance(v, float) and v != v else _SHOWN[c][1].format(v) for c, v in zip(shown, row)])
    return table


@app.command()
def fit(
    features_paths: list[Path] = typer.Argument(..., exists=True, dir_okay=False,
                                                help="Feature tables (.parquet) of one schema, e.g. one per zoo."),
    output: Path = typer.Option(..., "-o", "--output", help="Predictor bundle folder to write."),
    test_size: float = typer.Option(0.25, min=0.0, max=0.9, help="Fraction of runs held out (0: train on all)."),
    seed: int = typer.Option(0, help="Random seed of the split and models."),
    models: str = typer.Option("xgboost,linear", help=_MODELS_HELP),
    tune: bool = typer.Option(True, "--tune/--no-tune", help=_TUNE_HELP),
    link: str = typer.Option("identity", help=_LINK_HELP),
) -> None:
    """Fit XGBoost and linear predictors on a run split and save them as a bundle."""
    chosen = _models(models)
    from ._io import sha256_file
    from .predictor.bundles import save_bundle
    from .workflows import fit_bundle

    table = _load_tables(features_paths)
    result = fit_bundle(table, chosen, test_size=test_size, tune=tune, link=link, random_state=seed)
    result.bundle.info["features"] = [{"file": str(p), "sha256": sha256_file(p)} for p in features_paths]
    save_bundle(result.bundle, output)
    if len(result.metrics):
        console.print(_metrics_table(result.metrics, "held-out runs"))
        _warn_if_uninformative(result.metrics, table.frame["test_accuracy"].iloc[result.test_rows])
    console.print(f"predictor bundle -> {output}")


def _warn_if_uninformative(metrics: "pd.DataFrame", accuracies: "pd.Series") -> None:
    """One warning line when held-out accuracies hardly vary, or a model scores R² below 0."""
    spread = 100 * float(accuracies.std()) if len(accuracies) > 1 else 0.0
    if spread < 2:
        err_console.print(f"[yellow]warning:[/] the held-out accuracies hardly vary (standard deviation "
                          f"{spread:.1f} points), so R² and τ say little: train a zoo whose runs reach "
                          "different accuracies (learning rates, epochs, data)")
    worse = [str(m) for m, r2 in zip(metrics["model"], metrics["r2"]) if r2 < 0]
    if worse:
        err_console.print(f"[yellow]warning:[/] held-out R² below 0 for {', '.join(dict.fromkeys(worse))}: worse "
                          "than predicting the mean accuracy; use a larger or more varied zoo, or check "
                          "that its runs trained (perfpredict zoo generate prints their accuracies)")


@app.command()
def evaluate(
    features_paths: list[Path] = typer.Argument(..., exists=True, dir_okay=False,
                                                help="Feature tables (.parquet) of one schema, e.g. one per zoo."),
    split: str = typer.Option("run", help="run, family, dataset or epoch (train on final, test on earlier checkpoints)."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write every row (.csv or .json)."),
    seed: int = typer.Option(0, help="Random seed."),
    models: str = typer.Option("xgboost,linear", help=_MODELS_HELP),
    baselines: bool = typer.Option(False, "--baselines", help="Also score the baselines: global7, spectral, "
                                                               "hyperparameters, constant."),
    compare: list[Path] = typer.Option([], "--compare", exists=True, dir_okay=False,
                                       help="Another feature table of the same zoos to score (e.g. statnn); "
                                            "tables of one schema are combined."),
    tune: bool = typer.Option(True, "--tune/--no-tune", help=_TUNE_HELP),
    link: str = typer.Option("identity", help=_LINK_HELP),
) -> None:
    """Score predictors on held-out runs, families, datasets or epochs; print the overall rows."""
    chosen = _models(models)
    from .evaluation import evaluate as run_evaluation
    from .features import load_features
    from .features.table import concat_features

    compared = [load_features(p) for p in compare]
    schemas = dict.fromkeys(t.schema for t in compared)
    extra = {s: concat_features([t for t in compared if t.schema == s]) for s in schemas}
    table = _load_tables(features_paths)
    metrics = run_evaluation(table, split, chosen, baselines=baselines, extra_features=extra, tune=tune,
                             link=link, random_state=seed)
    overall = metrics[metrics["subset"] == "all"].drop(columns=["split", "subset", "nominal_coverage", "n_train"])
    nominal = f"{metrics['nominal_coverage'].iloc[0]:.0%}" if len(metrics) else "-"
    console.print(_metrics_table(overall, f"{split} split, intervals of nominal coverage {nominal} "
                                          "(per dataset and family: --output)"))
    own = overall[overall["features"] == table.schema]
    _warn_if_uninformative(own.assign(model=own["fold"] + " " + own["model"]), table.frame["test_accuracy"])
    if output is not None:
        if output.suffix == ".json":
            output.write_text(metrics.to_json(orient="records", indent=2))
        else:
            metrics.to_csv(output, index=False)
        console.print(f"metrics -> {output}")


@app.command()
def predict(
    checkpoints: list[Path] = typer.Argument(..., help="Checkpoint files (safetensors, torch, .npz, Keras; any suffix)."),
    predictor: Optional[Path] = typer.Option(None, exists=True, file_okay=False,
                                             help="Predictor bundle folder (default: the shipped `reference` "
                                                  "predictor, trained on the reference zoos)."),
    dataset: Optional[str] = typer.Option(None, help="Dataset the checkpoints were trained on "
                                                     "(required by predictors of several datasets)."),
    model: str = typer.Option("xgboost", help="Which predictor of the bundle (see `fit --models`)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Predict the test accuracy of checkpoints from their weights, with an interval and a
    verdict on whether they are like the networks the predictor was trained on."""
    from .predictor.bundles import load_bundle
    from .pretrained import load_pretrained

    bundle = load_pretrained() if predictor is None else load_bundle(predictor)
    loaded, unusable = bundle.read_checkpoints(checkpoints, dataset)
    failed = [{"checkpoint": path, "error": why} for path, why in unusable.items()]
    results = bundle.assess(loaded, dataset=dataset, model=model) if loaded else []
    if as_json:
        console.print_json(json.dumps({"model": model, "dataset": dataset, "coverage": bundle.coverage,
                                       "predictions": [r.to_dict() for r in results], "failed": failed}))
    else:
        _print_predictions(results, bundle.coverage, model)
        for f in failed:
            err_console.print(f"[red]could not read[/] {f['checkpoint']}: {f['error']}")
    if failed:
        raise typer.Exit(1)


def _print_predictions(results: list["CheckpointPrediction"], coverage: Optional[float], model: str) -> None:
    """The predictions as a table, and one warning line for those not ``in_domain``."""
    label = f"{coverage:.0%} interval" if coverage else "interval"
    table = Table("checkpoint", "predicted accuracy", label, "domain", title=f"{model} predictor")
    for r in results:
        span = "not calibrated" if r.interval is None else "{:.4f} - {:.4f}".format(*r.interval)
        style = {"edge": "yellow", "outside": "red"}.get(r.verdict, "")
        table.add_row(r.checkpoint, f"{r.accuracy:.4f}", span, f"[{style}]{r.verdict}[/]" if style else r.verdict)
    console.print(table)
    for r in results:
        if r.left_out:
            by_reason: dict[str, list[str]] = {}
            for name, reason in r.left_out.items():
                by_reason.setdefault(reason, []).append(name)
            listed = "; ".join(f"{reason}: {', '.join(names[:3])}{' ...' if len(names) > 3 else ''}"
                               for reason, names in by_reason.items())
            err_console.print(f"[yellow]left out of[/] {r.checkpoint}: {len(r.left_out)} tensors ({listed})")
    counts = {v: sum(r.verdict == v for r in results) for v in ("outside", "edge")}
    if any(counts.values()):
        flagged = [r for r in results if r.verdict in counts]
        reasons = "; ".join(dict.fromkeys(w for r in flagged for w in r.reasons[:1]))
        which = " and ".join(f"{n} {'outside' if v == 'outside' else 'at the edge of'}"
                             for v, n in counts.items() if n)
        err_console.print(f"[yellow]warning:[/] of {len(results)} checkpoints, {which} the predictor's training "
                          f"networks ({reasons}): their predictions may be far off; `--json` lists every reason")


def _zoo_table(zoo: Path, schema: str) -> "FeatureTable":
    from .features import zoo_features
    from .zoo import ZooStore

    n = int((ZooStore(zoo).load_index()["status"] == "ok").sum())
    with _progress("extracting features", n) as (progress, task):
        return zoo_features(zoo, schema, on_item=lambda i: progress.update(task, completed=i))


@app.command()
def report(
    source: Path = typer.Argument(..., exists=True, help="A zoo folder, or a feature table (.parquet) of a zoo."),
    output: Path = typer.Option(..., "-o", "--output", help="Report folder to write."),
    predictor: Optional[Path] = typer.Option(None, exists=True, file_okay=False,
                                             help="Predictor bundle to explain (default: fit one on a run split)."),
    zoo: Optional[Path] = typer.Option(None, exists=True, file_okay=False,
                                       help="The zoo a feature table was made from (for weight histograms)."),
    schema: str = typer.Option(DEFAULT_SCHEMA, help="Features to extract when SOURCE is a zoo."),
    quantile: float = typer.Option(0.25, min=0.05, max=0.5, help="Good / poor runs: top / bottom fraction."),
    seed: int = typer.Option(0, help="Seed of the split and the permutations."),
) -> None:
    """Write a report: feature importance and the analysis of good vs poor networks, as
    index.html with figures, CSV and JSON tables."""
    from ._io import sha256_file
    from .predictor.bundles import load_bundle
    from .features import load_features
    from .report import ReportConfig, build_report

    bundle = load_bundle(predictor) if predictor is not None else None
    provenance: dict[str, object] = {}
    if source.is_dir():
        zoo, table = source, _zoo_table(source, schema)
    else:
        table = load_features(source)
        provenance["features"] = f"{source} (SHA-256 {sha256_file(source)})"
    if zoo is not None:
        from .zoo import ZooStore

        meta = ZooStore(zoo).read_meta()
        provenance["zoo"] = f"{zoo} (spec {meta['spec'].get('name')}, made with {meta.get('versions')})"
    if predictor is not None:
        provenance["predictor"] = f"{predictor} (fitted on features {bundle.info.get('features')})"
    config = ReportConfig(quantile=quantile, random_state=seed)
    index = build_report(table, output, bundle=bundle, zoo=zoo, config=config, provenance=provenance)
    console.print(f"report -> {index}")


@app.command()
def demo(
    out: Path = typer.Option(Path("perfpredict-demo"), "--out", help="Folder for everything the demo writes."),
    runs: int = typer.Option(128, min=2, help="Runs per family."),
    epochs: int = typer.Option(16, min=1, help="Epochs per run."),
    workers: Optional[int] = typer.Option(None, min=0, help="Worker processes (default: one per core)."),
) -> None:
    """Zoo on scikit-learn digits -> features -> predictors -> report -> one prediction."""
    import dataclasses

    from .predictor.bundles import save_bundle
    from .features import save_features, zoo_features
    from .report import build_report
    from .workflows import DEMO_SPEC, fit_bundle

    spec = dataclasses.replace(DEMO_SPEC, runs_per_group=runs, epochs=epochs)
    console.rule(f"1/5 zoo: {runs} MLPs and {runs} CNNs on scikit-learn digits")
    _generate(spec, out / "zoo", None, workers, "auto")
    console.rule("2/5 features")
    table = zoo_features(out / "zoo")
    save_features(table, out / "features.parquet")
    console.rule("3/5 predictors (split by run)")
    result = fit_bundle(table, tune=False)  # early-stopped trees: the settings search adds a minute, not quality
    save_bundle(result.bundle, out / "predictor")
    console.print(_metrics_table(result.metrics, "held-out runs"))
    console.rule("4/5 report")
    report_index = build_report(table, out / "report", bundle=result.bundle, zoo=out / "zoo",
                                provenance={"zoo": str(out / "zoo")})
    console.rule("5/5 predict one held-out checkpoint")
    row = table.frame.iloc[result.test_rows].sort_values("epoch").iloc[-1]
    ckpt = out / "zoo" / row["path"]
    [pred] = result.bundle.assess([ckpt])
    interval = "" if pred.interval is None else " (interval {:.4f} - {:.4f})".format(*pred.interval)
    console.print(f"{ckpt}\n  predicted {pred.accuracy:.4f}{interval}, actual {row['test_accuracy']:.4f}, "
                  f"domain: {pred.verdict}", soft_wrap=True)
    console.print(f"\nzoo: {out / 'zoo'}\nfeatures: {out / 'features.parquet'}\n"
                  f"predictor: {out / 'predictor'}\nreport: {report_index}\n"
                  f"try: perfpredict predict {ckpt} --predictor {out / 'predictor'}", soft_wrap=True)


def run() -> None:
    """Entry point: perfpredict errors and OS errors become exit code 1 and a one-line message."""
    try:
        app()
    except (PerfPredictError, OSError) as exc:
        if _state["debug"]:
            raise
        err_console.print(f"[red]error:[/] {exc}")
        sys.exit(1)
