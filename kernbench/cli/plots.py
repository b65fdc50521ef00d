"""PNG figures of the CLI (``kernbench probe --plot``, ``kernbench ccl-perf --plot``): bandwidth against
transfer size, one curve per case or algorithm, with reference bandwidths as dashed lines.

matplotlib is optional (the ``plot`` and ``dev`` extras): `check_plot` refuses ``--plot`` before anything runs
when it is missing, so a long sweep does not fail at its end (the path itself: `kernbench.cli.output_files`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

CHECKOUT = Path(__file__).resolve().parents[2]
"""Where a source checkout's ``pyproject.toml`` is, if kernbench runs from one (editable install or PYTHONPATH)."""


class PlotError(ValueError):
    """``--plot`` cannot be honoured (no matplotlib): one line, exit 2."""


def check_plot(path: str) -> None:
    """A `PlotError` when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PlotError(f"--plot {path}: needs matplotlib: {plot_install_hint()}") from None


def plot_install_hint(checkout: Path = CHECKOUT) -> str:
    """How to get matplotlib: the checkout's extra (``pip install -e '.[plot]'``, from its root) when kernbench runs
    from a checkout, else the installed package's (``pip install 'kernbench[plot]'``)."""
    if (checkout / "pyproject.toml").is_file() and (checkout / "kernbench" / "cli" / "plots.py").is_file():
        return f"pip install -e '.[plot]' (in {checkout})"
    return "pip install 'kernbench[plot]'"


def size_label(nbytes: float) -> str:
    """8 -> ``8``, 4096 -> ``4K``, 64 MiB -> ``64M`` (powers of 1024, as the sweeps are given)."""
    for shift, suffix in ((30, "G"), (20, "M"), (10, "K")):
        if nbytes >= 1 << shift:
            return f"{nbytes / (1 << shift):g}{suffix}"
    return f"{nbytes:g}"


def bandwidth_plot(
    out: BinaryIO,
    curves: Mapping[str, Sequence[tuple[int, float]]],
    *,
    title: str,
    ylabel: str = "GB/s",
    lines: Mapping[str, float] | None = None,
) -> None:
    """Write a PNG to ``out``: each curve's (bytes, GB/s) points on a log2 size axis, each of ``lines`` dashed."""
    from matplotlib.figure import Figure  # no pyplot: no global figure state, no GUI backend
    from matplotlib.ticker import FuncFormatter, LogLocator

    fig = Figure(figsize=(7.5, 4.2))
    ax = fig.add_subplot()
    for label, pts in curves.items():
        ax.plot([x for x, _ in pts], [y for _, y in pts], marker="o", markersize=3, label=label)
    for i, (label, value) in enumerate((lines or {}).items()):
        ax.axhline(value, linestyle="--", linewidth=1, color=f"C{len(curves) + i}", label=label)
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(LogLocator(base=4))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: size_label(x)))
    ax.set_xlabel("size (bytes)")
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, format="png", dpi=110)
