"""The ``maskcls`` command line: one verb per task, thin wrappers over the library.

Heavy modules (numpy, pandas, torch …) are imported inside the commands so that ``maskcls --help`` is instant.
"""

from __future__ import annotations

import sys

import typer

from maskcls.cli import analyze, bench, data, demo, eda, evaluate, export, faces, oof, predict, score, train
from maskcls.cli import relabel, serve
from maskcls.cli import kfold, sweep
from maskcls.cli import calibrate, watch

app = typer.Typer(
    name="maskcls",
    help="Mask status × gender × age-band classification: check, explore, split, train, predict, serve.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(data.app, name="data")
app.add_typer(bench.app, name="bench")
app.command("eda")(eda.eda)
app.command("score")(score.score)
app.command("train")(train.train)
app.command("predict")(predict.predict)
app.command("predict-merge")(predict.predict_merge)
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


def run(argv: list[str] | None = None) -> int:
    """Run one command and return its exit code; the one place that turns every exception into one line.

    Expected errors print ``maskcls: error: <path>: <problem>`` and give 1; anything unforeseen gives one line too,
    with the full traceback only under ``MASKCLS_DEBUG=1``; Ctrl-C prints ``maskcls: interrupted`` and what was
    kept on disk, and gives 130.
    """
    from maskcls.errors import DEBUG_ENV, debug, describe, kept, one_line

    _tolerant_output()
    try:
        code = app(args=argv, prog_name="maskcls", standalone_mode=False)
    except (KeyboardInterrupt, typer.Abort):
        code = 130
    except SystemExit as exc:  # a library calling sys.exit: its message (if any) as our one line
        if isinstance(exc.code, str):
            print(f"maskcls: error: {one_line(exc.code)}", file=sys.stderr, flush=True)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException as exc:  # noqa: BLE001 - the point of this function
        if hasattr(exc, "show") and isinstance(getattr(exc, "exit_code", None), int):  # a usage error: exit 2
            _show_usage_error(exc)
            return exc.exit_code
        message, expected = describe(exc)
        if debug():
            import traceback

            traceback.print_exception(exc, file=sys.stderr)
        elif not expected:
            message += f" (unexpected; set {DEBUG_ENV}=1 for the full traceback)"
        print(f"maskcls: error: {message}", file=sys.stderr, flush=True)
        return 1
    if code == 130:  # typer turns KeyboardInterrupt into Exit(130)
        left = kept()
        what = "; ".join(f"kept {path} ({note})" for path, note in left.items())
        print("maskcls: interrupted" + (f"; {what}" if what else "; files are written atomically, nothing "
                                        "half-written was kept"), file=sys.stderr, flush=True)
        return 130
    return code if isinstance(code, int) else 0


def _tolerant_output() -> None:
    """File names that are not UTF-8 print as their bytes (or escaped) instead of failing the command."""
    for stream in (sys.stdout, sys.stderr):
        utf8 = (getattr(stream, "encoding", "") or "").lower().replace("-", "") == "utf8"
        try:
            stream.reconfigure(errors="surrogateescape" if utf8 else "backslashreplace")
        except (AttributeError, ValueError, OSError):  # not a text stream we may change
            pass


def _show_usage_error(exc) -> None:
    try:
        from typer.rich_utils import rich_format_error

        rich_format_error(exc)
    except Exception:  # noqa: BLE001 - fall back to the plain wording
        exc.show()


def main(argv: list[str] | None = None) -> None:
    """Entry point: :func:`run` the command line and exit with its code."""
    sys.stdout.flush()
    sys.exit(run(argv))
