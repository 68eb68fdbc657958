"""The ``mtbench`` command line. Thin: parse options, call one library function, print.

Errors derived from MtbenchError print as one line (exit 1; usage errors exit 2); ``--debug``
shows the traceback instead.
"""
from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from mtbench.errors import MtbenchError

app = typer.Typer(
    name="mtbench",
    help="Benchmark suite and leaderboard for multi-task dense prediction.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)
_state = {"debug": False}


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors.")) -> None:
    _state["debug"] = debug


class ListWhat(str, Enum):
    models = "models"
    tasks = "tasks"
    datasets = "datasets"
    backbones = "backbones"


@app.command("list")
def list_cmd(what: Optional[ListWhat] = typer.Argument(None, help="models, tasks, datasets or backbones")) -> None:
    """List registered models, tasks, datasets and backbones."""
    from mtbench.catalog import catalog

    for section, rows in catalog(what.value if what else None).items():
        console.print(f"[bold]{section}[/bold]")
        for name, desc in rows:
            console.print(f"  {name:<22} {desc}", soft_wrap=True, highlight=False)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: one-line errors, exit 1 for failures and 2 for usage errors."""
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    try:
        app(args=argv, standalone_mode=False)
    except MtbenchError as e:
        if debug:
            raise
        err_console.print(f"[red]error:[/red] {e}", highlight=False, soft_wrap=True)
        raise SystemExit(e.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        raise SystemExit(130)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        raise SystemExit(130)
    except Exception as e:
        # typer vendors click: its usage errors (exit 2) and Exit carry ``exit_code``.
        if hasattr(e, "exit_code") and not debug:
            if hasattr(e, "show"):
                e.show()
            raise SystemExit(e.exit_code)
        if debug:
            raise
        err_console.print(f"[red]error:[/red] {type(e).__name__}: {e} (run with --debug for the traceback)",
                          highlight=False, soft_wrap=True)
        raise SystemExit(1)

if __name__ == "__main__":
    main()
