"""Re-run notebooks with their floating-point rounding perturbed; compare what nbval compares.

A stored output that strict nbval compares as text must not depend on rounding: another CPU,
another thread count, another order of a sum gives other last bits, and the text must stay the
same. Switching the environment on one machine (oneDNN, threads, NumPy's AVX-512 paths) does not
reach another CPU's rounding, so two of the perturbations change the arithmetic itself while
leaving the mathematics alone: the data's rows in another order (every sum over them in another
order), and every input and starting point moved by one unit in the last place.

Each perturbation is a module of tools/perturbations/ whose `apply()` a fresh kernel runs before
the notebook's first cell, plus environment variables for that kernel. The notebook runs in a
copy of its folder, so nothing stored is touched. By default GIFs are not recorded and figures
are not drawn (their pixels are not compared, and this makes the runs several times faster);
`--figures` draws them and compares the PNG figures and the GIF files too, byte for byte (under
"one-ulp" and "one-thread-plain-kernels" only: "other-order" also draws scattered points in
another order).

By default: every notebook under every perturbation, except the cats-vs-dogs notebook, under
"one-ulp" only (it compares as text only facts about its image files; every weight of its model
moved by one ulp also re-checks the margins it asserts). That one needs its images
($CATS_DOGS_DIR) and takes minutes.

Usage (from the repository root):
    python -m tools.perturbation_proof                   # the default cases
    python -m tools.perturbation_proof --perturbation other-order path/to/nb.ipynb
    python -m tools.perturbation_proof --figures --jobs 2

Exit status: 0 when every compared output stayed the same, 1 when one changed or a notebook failed
to run, 130 when stopped by Ctrl-C or SIGTERM (every kernel is shut down first).
"""
from __future__ import annotations

import argparse
import asyncio
import atexit
import dataclasses
import difflib
import hashlib
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbconvert.preprocessors import CoalesceStreamsPreprocessor

from tools.run_notebooks import ROOT, all_notebooks, shown

ADVERSARIAL_NOTEBOOK = ROOT / "adversarial_example" / "adversarial_cats_dogs.ipynb"
IGNORED_TAGS = {"nbval-ignore-output", "nbval-skip"}
SANITIZE_FILE = ROOT / "tests" / "nbval_sanitize.cfg"  # the one pytest's nbval reads
CELL_TIMEOUT = 900  # seconds: the slowest cell takes about a minute


def _numpy_avx512_targets() -> str:
    """NumPy's AVX-512 dispatch targets that this CPU has (naming others is an error)."""
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

    return " ".join(t for t in __cpu_dispatch__
                    if t.startswith(("AVX512", "X86_V4")) and __cpu_features__.get(t))


@dataclasses.dataclass(frozen=True)
class Perturbation:
    """A change that alters rounding but not the mathematics."""

    name: str
    what: str
    module: str  # in tools/perturbations/: the kernel runs its apply() first
    env: dict[str, str] = dataclasses.field(default_factory=dict)  # set before the kernel starts


def perturbations() -> list[Perturbation]:
    """The perturbations every compared output must withstand."""
    return [
        Perturbation("other-order", "the data's rows, and the points of every random "
                     "configuration, in another order, so that every sum over them runs in "
                     "another order", "other_order"),
        Perturbation("one-ulp", "every number read from a data file or drawn at random, every "
                     "variable's starting value (not a learning rate) and every weight of a "
                     "loaded model moved up by one unit in the last place", "one_ulp"),
        Perturbation("one-thread-plain-kernels", "one TensorFlow thread, oneDNN off, NumPy's "
                     "AVX-512 code paths off", "one_thread",
                     env={"TF_ENABLE_ONEDNN_OPTS": "0",
                          "NPY_DISABLE_CPU_FEATURES": _numpy_avx512_targets()}),
    ]


def perturbation(name: str) -> Perturbation:
    """The perturbation called `name`."""
    for p in perturbations():
        if p.name == name:
            return p
    raise ValueError(f"no perturbation named {name!r}; "
                     f"choose from {', '.join(p.name for p in perturbations())}")


def default_cases(notebooks: list[Path], *, figures: bool = False) -> list[tuple[Path, str]]:
    """(notebook, perturbation name) pairs: all, but the cats-vs-dogs notebook under one-ulp only.

    With `figures`, not "other-order": reordered rows also redraw a scatter plot's points in
    another order, so only the perturbations that leave every drawing instruction in place apply.
    """
    names = [p.name for p in perturbations() if not (figures and p.name == "other-order")]
    return [(notebook, name) for notebook in notebooks for name in names
            if notebook != ADVERSARIAL_NOTEBOOK or name == "one-ulp"]


def setup_cell(chosen: Perturbation, *, figures: bool = False) -> str:
    """The kernel's first cell: this repository's tools/ importable, the patches applied."""
    modules = ([] if figures else ["no_pictures"]) + [chosen.module]
    return "\n".join([
        "import sys",
        f"sys.path.insert(0, {str(ROOT)!r})  # the kernel runs in a copy of the notebook's folder",
        f"from tools.perturbations import {', '.join(modules)}",
        *(f"{module}.apply()" for module in modules),
    ])


def _sanitizers() -> list[tuple[re.Pattern, str]]:
    """The regex/replace pairs of the nbval sanitize file that the test suite uses."""
    lines = [line.strip() for line in SANITIZE_FILE.read_text().splitlines()]
    regexes = [line.split(":", 1)[1].strip() for line in lines if line.startswith("regex:")]
    replaces = [line.split(":", 1)[1].strip() for line in lines if line.startswith("replace:")]
    return [(re.compile(r), s) for r, s in zip(regexes, replaces)]


def _is_figure(output: nbformat.NotebookNode) -> bool:
    """A matplotlib figure shown by the inline backend (its text is only '<Figure size ...>')."""
    return output.output_type == "display_data" and "image/png" in output.get("data", {})


def compared_text(cell: nbformat.NotebookNode, figures: bool = False) -> str:
    """What strict nbval compares of a code cell's outputs, as text; PNGs when `figures`.

    Stderr is not compared (conftest.py). Figures are left out unless `figures` is set: their
    text says only the figure's size, and without `figures` they are not drawn.
    """
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            if output.name == "stdout":
                parts.append(output.text)
        elif output.output_type in ("execute_result", "display_data"):
            data = output.get("data", {})
            if _is_figure(output):
                if figures:
                    digest = hashlib.sha256(data["image/png"].encode()).hexdigest()[:16]
                    parts.append(f"[figure: {data.get('text/plain', '')}, PNG {digest}]\n")
                continue
            parts += [f"[{key}] {data[key]}\n" for key in ("text/plain", "text/html", "image/gif")
                      if key in data]
        elif output.output_type == "error":
            parts.append(f"[error] {output.ename}: {output.evalue}\n")
    text = "".join(parts)
    for pattern, replacement in _sanitizers():
        text = pattern.sub(replacement, text)
    return text


def is_compared(cell: nbformat.NotebookNode) -> bool:
    """Whether strict nbval compares this cell's outputs."""
    return cell.cell_type == "code" and not IGNORED_TAGS & set(cell.metadata.get("tags", []))


@dataclasses.dataclass
class Mismatch:
    """A compared output (a cell, or a file the notebook writes) that changed."""

    where: str
    stored: str
    perturbed: str

    def diff(self) -> str:
        """The changed lines, stored (-) against perturbed (+)."""
        lines = difflib.unified_diff(self.stored.splitlines(), self.perturbed.splitlines(),
                                     "stored", "perturbed", lineterm="", n=0)
        return f"{self.where}:\n" + "\n".join(list(lines)[2:])


@dataclasses.dataclass
class Result:
    """One notebook run under one perturbation."""

    notebook: Path
    perturbation: str
    mismatches: list[Mismatch]
    error: str | None
    seconds: float

    @property
    def passed(self) -> bool:
        """The notebook ran, and every compared output stayed the same."""
        return self.error is None and not self.mismatches

    def report(self) -> str:
        """One line for the case, then what changed, readable in a test failure or a terminal."""
        if self.error:
            outcome = f"FAILED to run: {self.error}"
        elif self.mismatches:
            outcome = f"FAILED, {len(self.mismatches)} compared output(s) changed"
        else:
            outcome = "ok"
        head = f"{shown(self.notebook)} under {self.perturbation}: {outcome}, {self.seconds:.0f} s"
        return "\n".join([head] + [m.diff() for m in self.mismatches])


def _file_digests(folder: Path) -> dict[str, str]:
    """SHA-256 of the GIF files in a folder."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:16]
            for p in sorted(folder.glob("*.gif"))}


async def _execute(nb: nbformat.NotebookNode, folder: Path, env: dict[str, str],
                   timeout: int) -> None:
    """Execute a notebook in a fresh kernel started with `env`, in `folder`; its log discarded.

    The kernel is shut down whatever happens, a cancelled run (Ctrl-C, SIGTERM) included.
    """
    # "immediate": the kernel worked in a throw-away copy, nothing of it needs a clean exit.
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            shutdown_kernel="immediate")
    with open(os.devnull, "w") as quiet:
        try:
            await client.async_execute(cwd=str(folder), env=env, stdout=quiet, stderr=quiet)
        finally:
            # nbclient shuts its kernel down once the kernel is ready; not if cancelled before,
            # and then it also leaves its exit hook behind, which would fail noisily at exit.
            if client.km is not None and client.km.has_kernel:
                await client.km.shutdown_kernel(now=True)
            if client.kc is not None:
                client.kc.stop_channels()
            atexit.unregister(client._cleanup_kernel)


async def run_perturbed(notebook: Path, chosen: Perturbation, workdir: Path, *,
                        figures: bool = False, timeout: int = CELL_TIMEOUT
                        ) -> tuple[nbformat.NotebookNode, Path]:
    """Execute the notebook in a copy of its folder, after the perturbation's setup cell.

    Returns the executed notebook (without the added cell) and the folder it ran in. A failing
    cell raises nbclient's CellExecutionError.
    """
    folder = workdir / notebook.parent.name
    shutil.copytree(notebook.parent, folder, ignore=shutil.ignore_patterns(".*", "__pycache__"))
    nb = nbformat.read(notebook, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(setup_cell(chosen, figures=figures)))
    await _execute(nb, folder, {**os.environ, **chosen.env}, timeout)
    del nb.cells[0]
    CoalesceStreamsPreprocessor().preprocess(nb, {})
    return nb, folder


def mismatches(stored: nbformat.NotebookNode, perturbed: nbformat.NotebookNode,
               figures: bool = False) -> list[Mismatch]:
    """Compared cells whose outputs differ between the stored and the perturbed notebook."""
    CoalesceStreamsPreprocessor().preprocess(stored, {})
    found = []
    for i, (old, new) in enumerate(zip(stored.cells, perturbed.cells)):
        if is_compared(old):
            before, after = compared_text(old, figures), compared_text(new, figures)
            if before != after:
                found.append(Mismatch(f"cell {i}", before, after))
    return found


async def check(notebook: Path, perturbation_name: str, *, figures: bool = False) -> Result:
    """Run one notebook under one perturbation and compare it with the stored notebook."""
    notebook = Path(notebook).resolve()
    chosen = perturbation(perturbation_name)
    start = time.perf_counter()
    error, found = None, []
    with tempfile.TemporaryDirectory() as workdir:
        try:
            perturbed, folder = await run_perturbed(notebook, chosen, Path(workdir),
                                                    figures=figures)
        except Exception as failure:  # a failing cell (an assert), a dead kernel, a timeout
            if asyncio.current_task().cancelling():  # nbclient says DeadKernelError when stopped
                raise asyncio.CancelledError from failure
            error = f"{type(failure).__name__}: {str(failure).strip()[-2000:]}"
        else:
            found = mismatches(nbformat.read(notebook, as_version=4), perturbed, figures)
            if figures:
                before, after = _file_digests(notebook.parent), _file_digests(folder)
                found += [Mismatch(name, before[name], after.get(name, "missing"))
                          for name in before if before[name] != after.get(name)]
    return Result(notebook, perturbation_name, found, error, time.perf_counter() - start)


async def check_all(cases: list[tuple[Path, str]], *, jobs: int = 1, figures: bool = False,
                    on_result: Callable[[Result], Any] | None = None
                    ) -> dict[tuple[Path, str], Result]:
    """Run every (notebook, perturbation name) case, `jobs` kernels at a time.

    `on_result(result)`, when given, is called as each case finishes.
    """
    slots = asyncio.Semaphore(jobs)

    async def run_case(notebook: Path, name: str) -> Result:
        async with slots:
            result = await check(notebook, name, figures=figures)
        if on_result is not None:
            on_result(result)
        return result

    # A task group, not gather: cancelled (Ctrl-C, SIGTERM), it waits until every case's kernel
    # is shut down; gather would return at the first cancelled case, the others still running.
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(run_case(*case)) for case in cases]
    return {case: task.result() for case, task in zip(cases, tasks)}


class _LoopWithoutKernelSignalHandlers(asyncio.SelectorEventLoop):
    """An event loop on which nbclient sets no signal handlers: run() handles the signals.

    nbclient gives each kernel SIGINT and SIGTERM handlers that shut that one kernel down and let
    the run go on, and once the kernel is done it resets SIGTERM to its default (die at once,
    leaving the other kernels behind). Refused here: nbclient expects a RuntimeError (as on a
    thread that is not the main one) and goes on without them.
    """

    def add_signal_handler(self, sig, callback, *args):
        raise RuntimeError("tools.perturbation_proof handles SIGINT and SIGTERM itself")


def run(coroutine: Coroutine) -> Any:
    """Run one of this module's coroutines to its end, in the main thread.

    SIGINT (Ctrl-C) or SIGTERM (from `timeout`, a CI runner, `kill`) cancels it: each kernel is
    shut down as its task unwinds, then KeyboardInterrupt is raised.
    """
    with asyncio.Runner(loop_factory=_LoopWithoutKernelSignalHandlers) as runner:
        try:
            return runner.run(_cancelled_by_signals(coroutine))
        except asyncio.CancelledError:
            raise KeyboardInterrupt from None


async def _cancelled_by_signals(coroutine: Coroutine) -> Any:
    """Await `coroutine`; SIGINT or SIGTERM cancels it."""
    task, loop = asyncio.current_task(), asyncio.get_running_loop()

    def cancel(signum, frame) -> None:
        loop.call_soon_threadsafe(task.cancel)  # "threadsafe": it also wakes the loop up

    previous = {signum: signal.signal(signum, cancel) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        return await coroutine
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.perturbation_proof",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="default: every notebook")
    parser.add_argument("--perturbation", action="append",
                        choices=[p.name for p in perturbations()],
                        help="may be repeated; default: every perturbation, except the "
                             "cats-vs-dogs notebook under one-ulp only")
    parser.add_argument("--figures", action="store_true",
                        help="draw figures and record GIFs, and compare them byte for byte")
    parser.add_argument("--jobs", type=int, default=1, help="kernels run at the same time")
    args = parser.parse_args(argv)
    notebooks = [p.resolve() for p in args.notebooks] or all_notebooks()
    for path in notebooks:
        if not path.is_file() or path.suffix != ".ipynb":
            parser.error(f"not a notebook file: {path}")
    cases = ([(nb, name) for nb in notebooks for name in args.perturbation] if args.perturbation
             else default_cases(notebooks, figures=args.figures))
    print(f"{len(cases)} case(s), {args.jobs} kernel(s) at a time", flush=True)
    start = time.perf_counter()
    try:
        results = run(check_all(cases, jobs=args.jobs, figures=args.figures,
                                on_result=lambda result: print(result.report(), flush=True)))
    except KeyboardInterrupt:
        print("Stopped; every kernel was shut down.", flush=True)
        return 130
    failed = [result for result in results.values() if not result.passed]
    print(f"{len(cases) - len(failed)} of {len(cases)} case(s) passed in "
          f"{time.perf_counter() - start:.0f} s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
