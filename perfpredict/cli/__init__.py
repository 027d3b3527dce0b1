"""Command line: ``perfpredict demo | zoo generate | zoo plan | features | fit | evaluate | predict | report``.

Bad arguments and missing files exit with code 2; failures at run time exit with code 1 and
a one-line message (the traceback only with ``--debug``).
"""

from __future__ import annotations

import sys

import typer

from ..errors import PerfPredictError
from . import features, predictor, report, zoo
from .common import DEFAULT_SCHEMA, err_console

__all__ = ["DEFAULT_SCHEMA", "app", "run"]

app = typer.Typer(help="Predict a trained network's test accuracy from its weights alone.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
zoo_app = typer.Typer(help="Generate model zoos.", no_args_is_help=True)
app.add_typer(zoo_app, name="zoo")
zoo_app.command("generate")(zoo.zoo_generate)
zoo_app.command("plan")(zoo.zoo_plan)
for command in (features.features, predictor.fit, predictor.evaluate, predictor.predict, report.report, report.demo):
    app.command()(command)
_state = {"debug": False}


@app.callback()
def main(debug: bool = typer.Option(False, "--debug", help="Show tracebacks of failures.")) -> None:
    """perfpredict command line."""
    _state["debug"] = debug


def run() -> None:
    """Entry point: perfpredict errors and OS errors become exit code 1 and a one-line message."""
    try:
        app()
    except (PerfPredictError, OSError) as exc:
        if _state["debug"]:
            raise
        err_console.print(f"[red]error:[/] {exc}")
        sys.exit(1)
