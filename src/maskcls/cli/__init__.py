"""The ``maskcls`` command line: one verb per task, thin wrappers over the library.

Heavy modules (numpy, pandas, torch …) are imported inside the commands so that ``maskcls --help`` is instant.
"""

from __future__ import annotations

import sys

import typer

from maskcls.cli import analyze, data, demo, eda, evaluate, export, faces, oof, predict, score, train
from maskcls.cli import relabel, serve
from maskcls.cli import kfold, sweep
from maskcls.cli import calibrate, watch
from maskcls.errors import MaskclsError

app = typer.Typer(
    name="maskcls",
    help="Mask status × gender × age-band classification: check, explore, split, train, predict, serve.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(data.app, name="data")
app.command("eda")(eda.eda)
app.command("score")(score.score)
app.command("train")(train.train)
app.command("predict")(predict.predict)
app.command("oof")(oof.oof)
app.command("analyze")(analyze.analyze)
app.command("export")(export.export)
app.command("evaluate")(evaluate.evaluate)
app.command("demo")(demo.demo)
app.command("faces")(faces.faces)
app.command("serve")(serve.serve)
app.command("relabel")(relabel.relabel)
app.command("sweep")(sweep.sweep)
app.command("kfold-collect")(kfold.kfold_collect)
app.command("calibrate")(calibrate.calibrate)
app.command("watch")(watch.watch)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True)) -> None:
    if version:
        from maskcls import __version__

        typer.echo(f"maskcls {__version__}")
        raise typer.Exit()


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning expected errors into one line on stderr and exit code 1."""
    try:
        app(args=argv, prog_name="maskcls", standalone_mode=True)
    except MaskclsError as exc:
        print(f"maskcls: error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("maskcls: interrupted", file=sys.stderr)
        sys.exit(130)
