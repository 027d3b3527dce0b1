"""``perfpredict fit``, ``evaluate`` and ``predict``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.table import Table

from .common import console, err_console, metrics_table

if TYPE_CHECKING:
    import pandas as pd

    from ..features import FeatureTable
    from ..predictor.bundles import CheckpointPrediction

_MODELS_HELP = "Comma-separated: xgboost, linear (ridge), lasso, logit_linear."
_TUNE_HELP = ("Choose XGBoost's depth and leaf weight by cross-validation over training runs "
              "(about 15x the time of --no-tune, which only early-stops the trees).")
_LINK_HELP = ("What XGBoost fits: identity (the accuracy) or logit (its logit, which spreads the "
              "accuracies of good networks apart).")
_FITS_HELP = ("XGBoost fits averaged, each with its own seed (seed, seed + 1, ...), for that many times "
              "the fitting time: predictions that depend less on XGBoost's own draws (and, with "
              "--refit, far less on the seed).")
_REFIT_HELP = ("Once the intervals are calibrated, fit the models again on every training run, the "
               "calibration runs included: predictions that use every run and do not depend on which "
               "ones calibrated; the intervals stay those of the first fit.")
_FOLDS_HELP = ("Calibrate the intervals on every training run, by that many folds (cross-conformal), "
               "instead of on 20% of them; the models are then fitted on every run. That many times the "
               "fitting time, plus one: half-widths that depend far less on which runs calibrated.")
_THREADS_HELP = ("XGBoost threads (default: every core). Give the cores left free when other work runs, "
                 "such as `perfpredict zoo generate`: more busy threads than cores slows both.")


def _models(models: str) -> tuple[str, ...]:
    from ..predictor.models import MODELS

    chosen = tuple(m.strip() for m in models.split(",") if m.strip())
    unknown = [m for m in chosen if m not in MODELS]
    if unknown or not chosen:
        raise typer.BadParameter(f"must be some of {', '.join(MODELS)}", param_hint="--models")
    return chosen


def _load_tables(paths: list[Path]) -> "FeatureTable":
    """The feature tables at ``paths``, combined into one."""
    from ..features import load_features
    from ..features.table import concat_features

    return concat_features([load_features(p) for p in paths])


def fit(
    features_paths: list[Path] = typer.Argument(..., exists=True, dir_okay=False,
                                                help="Feature tables (.parquet) of one schema, e.g. one per zoo."),
    output: Path = typer.Option(..., "-o", "--output", help="Predictor bundle folder to write."),
    test_size: float = typer.Option(0.25, min=0.0, max=0.9, help="Fraction of runs held out (0: train on all)."),
    seed: int = typer.Option(0, help="Random seed of the split and models."),
    models: str = typer.Option("xgboost,linear", help=_MODELS_HELP),
    tune: bool = typer.Option(True, "--tune/--no-tune", help=_TUNE_HELP),
    link: str = typer.Option("identity", help=_LINK_HELP),
    fits: int = typer.Option(1, min=1, help=_FITS_HELP),
    refit: bool = typer.Option(False, "--refit/--no-refit", help=_REFIT_HELP),
    calibration_folds: int = typer.Option(1, min=1, help=_FOLDS_HELP),
    threads: Optional[int] = typer.Option(None, min=1, help=_THREADS_HELP),
) -> None:
    """Fit XGBoost and linear predictors on a run split and save them as a bundle."""
    chosen = _models(models)
    from .._io import sha256_file
    from ..predictor.bundles import save_bundle
    from ..workflows import fit_bundle

    table = _load_tables(features_paths)
    result = fit_bundle(table, chosen, test_size=test_size, tune=tune, link=link, refit=refit, n_fits=fits,
                        calibration_folds=calibration_folds, n_jobs=threads, random_state=seed)
    result.bundle.info["features"] = [{"file": str(p), "sha256": sha256_file(p)} for p in features_paths]
    save_bundle(result.bundle, output)
    if len(result.metrics):
        console.print(metrics_table(result.metrics, "held-out runs"))
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
    fits: int = typer.Option(1, min=1, help=_FITS_HELP),
    refit: bool = typer.Option(False, "--refit/--no-refit", help=_REFIT_HELP),
    calibration_folds: int = typer.Option(1, min=1, help=_FOLDS_HELP),
    threads: Optional[int] = typer.Option(None, min=1, help=_THREADS_HELP),
    repeats: int = typer.Option(1, min=1, help="Evaluate with the seeds seed, seed + 1, ... (a new random "
                                               "split of the runs each time, for run and epoch splits) and "
                                               "print the mean and standard deviation over them: one split "
                                               "of a few hundred runs can be off by several points."),
) -> None:
    """Score predictors on held-out runs, families, datasets or epochs; print the overall rows."""
    chosen = _models(models)
    from ..evaluation import evaluate_repeated, summarize
    from ..features import load_features
    from ..features.table import concat_features

    compared = [load_features(p) for p in compare]
    schemas = dict.fromkeys(t.schema for t in compared)
    extra = {s: concat_features([t for t in compared if t.schema == s]) for s in schemas}
    table = _load_tables(features_paths)
    metrics = evaluate_repeated(table, repeats, split=split, models=chosen, baselines=baselines,
                                extra_features=extra, tune=tune, link=link, refit=refit, n_fits=fits,
                                calibration_folds=calibration_folds, n_jobs=threads, random_state=seed)
    overall_rows = metrics[metrics["subset"] == "all"]
    overall = summarize(overall_rows)
    nominal = f"{metrics['nominal_coverage'].iloc[0]:.0%}" if len(metrics) else "-"
    seeds = f", mean of {repeats} (seeds {seed}-{seed + repeats - 1})" if repeats > 1 else ""
    console.print(metrics_table(overall, f"{split} split{seeds}, intervals of nominal coverage {nominal} "
                                          "(per dataset and family: --output)"))
    if repeats > 1:
        console.print(metrics_table(summarize(overall_rows, "std").drop(columns="n"),
                                    f"standard deviation over the {repeats} seeds"))
    own = overall[overall["features"] == table.schema]
    _warn_if_uninformative(own.assign(model=own["fold"] + " " + own["model"]), table.frame["test_accuracy"])
    if output is not None:
        if output.suffix == ".json":
            output.write_text(metrics.to_json(orient="records", indent=2))
        else:
            metrics.to_csv(output, index=False)
        console.print(f"metrics -> {output}")



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
    from ..predictor.bundles import load_bundle
    from ..pretrained import load_pretrained

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
