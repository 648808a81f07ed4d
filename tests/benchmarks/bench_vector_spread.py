"""Benchmark of the vector-spread solvers (notebook vector_spread_example, cells tagged `api`).

Prints, for each N: the gap to the best-known value, seconds per solve, and for Thomson a multistart
SciPy L-BFGS baseline (analytic gradient) run in the same process, with the ratio of the
baseline's time-to-record to the TensorFlow solver's.

    python tests/benchmarks/bench_vector_spread.py --thomson 2-100 --tammes 2-30 --exact
    python tests/benchmarks/bench_vector_spread.py --thomson 101-200 --tammes 31-50

Reference tables (../shared/reference, for benchmarks only) cover Thomson N <= 100 and Tammes
N <= 30. Beyond them the "record" is the best value found by either method in this run.
"""
import argparse
import csv
import json
import linecache
import os
import time
from pathlib import Path

import numpy as np
import scipy.optimize

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "vector_spread_example" / "vector_spread_example.ipynb"
REFERENCE = ROOT.parent / "shared" / "reference"


def load_api():
    """Run the notebook's `api` cells in one namespace, cwd = the notebook folder."""
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    namespace, cwd = {"__name__": "vector_spread_api"}, os.getcwd()
    os.chdir(NOTEBOOK.parent)
    try:
        for i, c in enumerate(cells):
            if c["cell_type"] == "code" and "api" in c.get("metadata", {}).get("tags", []):
                source, filename = "".join(c["source"]), f"<api cell {i}>"
                linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
                exec(compile(source, filename, "exec"), namespace)
    finally:
        os.chdir(cwd)
    return namespace


def read_table(name, column):
    path = REFERENCE / name
    if not path.exists():
        return {}
    with open(path, newline="") as f:
        return {int(r["N"]): float(r[column]) for r in csv.DictReader(f)}


def parse_ns(text):
    """'2-10,15,20-22' -> [2..10, 15, 20, 21, 22]."""
    out = []
    for part in filter(None, text.split(",")):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def coulomb_and_grad(y, n):
    """Energy and analytic gradient of the Coulomb energy of the normalised rows of y."""
    y = y.reshape(n, 3)
    norms = np.linalg.norm(y, axis=1, keepdims=True)
    x = y / norms
    diff = x[:, None, :] - x[None, :, :]
    r2 = np.sum(diff ** 2, axis=-1)
    np.fill_diagonal(r2, np.inf)
    inv_r = r2 ** -0.5
    energy = 0.5 * inv_r.sum()
    gx = -np.sum(diff * (inv_r ** 3)[..., None], axis=1)                  # dE/dx
    gy = (gx - np.sum(gx * x, axis=1, keepdims=True) * x) / norms          # through x = y/|y|
    return energy, gy.ravel()


def baseline_thomson(n, target, budget, seed=0):
    """Multistart L-BFGS-B until the target energy (gap <= 1e-6) or the time budget is spent."""
    rng, start, best = np.random.default_rng(seed), time.perf_counter(), np.inf
    while time.perf_counter() - start < budget:
        res = scipy.optimize.minimize(coulomb_and_grad, rng.standard_normal(3 * n), args=(n,),
                                      jac=True, method="L-BFGS-B",
                                      options={"maxiter": 20000, "gtol": 1e-10, "ftol": 1e-15})
        best = min(best, res.fun)
        if target is not None and best - target <= 1e-6:
            return best, time.perf_counter() - start
    return best, None


def bench_thomson(api, ns, budget):
    ref = read_table("thomson_energies_N2-100.csv", "best_known_energy")
    print("\nThomson (s=1) in 3D: gap = energy - record; baseline = multistart SciPy L-BFGS")
    print(f"{'N':>4} {'TF energy':>17} {'gap':>9} {'TF s':>7} {'base gap':>9} {'base s':>7} {'ratio':>6}  record")
    misses, ratios = [], []
    for n in ns:
        t = time.perf_counter()
        energy = api["riesz_energy"](api["solve_thomson"](n))
        tf_s = time.perf_counter() - t
        target = ref.get(n)
        base_e, base_s = baseline_thomson(n, target if target is not None else energy, budget)
        record = target if target is not None else min(energy, base_e)
        source = "table" if target is not None else "best of both"
        gap, base_gap = energy - record, base_e - record
        hit = gap <= 1e-6
        ratio = (base_s / tf_s) if (hit and base_s is not None) else None
        if ratio is not None:
            ratios.append(ratio)
        if not hit or tf_s > 60:
            misses.append(n)
        print(f"{n:4d} {energy:17.9f} {gap:9.1e} {tf_s:7.1f} {base_gap:9.1e} "
              f"{(f'{base_s:.1f}' if base_s is not None else '>' + str(int(budget))):>7} "
              f"{(f'{ratio:.1f}' if ratio is not None else '-'):>6}  {source}", flush=True)
    if ratios:
        print(f"median baseline/TF time-to-record ratio: {np.median(ratios):.2f} "
              f"(geometric mean {np.exp(np.mean(np.log(ratios))):.2f}, over {len(ratios)} N)")
    print(f"Thomson N that missed (gap > 1e-6 or > 60 s): {misses or 'none'}")


def bench_max_min(api, cases, title, reference):
    print(f"\n{title}: gap = record - angle (degrees)")
    print(f"{'N':>4} {'d':>2} {'angle':>14} {'record':>14} {'gap':>9} {'s':>6}")
    misses = []
    for n, dims in cases:
        t = time.perf_counter()
        angle = api["min_angle_deg"](api["solve_max_min_angle"](n, dims))
        secs = time.perf_counter() - t
        record = reference(n, dims)
        gap = (record - angle) if record is not None else float("nan")
        if (record is not None and gap > 1e-3) or secs > 60:
            misses.append((n, dims))
        print(f"{n:4d} {dims:2d} {angle:14.9f} "
              f"{(f'{record:.9f}' if record is not None else 'n/a'):>14} {gap:9.1e} {secs:6.1f}", flush=True)
    print(f"missed (gap > 1e-3 deg or > 60 s): {misses or 'none'}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--thomson", default="", help="Thomson N, e.g. 2-100,150,200")
    parser.add_argument("--tammes", default="", help="Tammes N in 3D, e.g. 2-30")
    parser.add_argument("--exact", action="store_true", help="simplex, cross-polytope, 24-cell, 600-cell")
    parser.add_argument("--baseline-budget", type=float, default=60.0, help="seconds per N for the baseline")
    args = parser.parse_args()
    if not (args.thomson or args.tammes or args.exact):
        parser.error("choose at least one of --thomson, --tammes, --exact")
    api = load_api()
    api["solve_thomson"](3, max_rounds=1)            # warm-up: trace the tf.functions once
    if args.thomson:
        bench_thomson(api, parse_ns(args.thomson), args.baseline_budget)
    if args.tammes:
        table = read_table("tammes_angles_N2-30.csv", "best_known_min_angle_deg")
        bench_max_min(api, [(n, 3) for n in parse_ns(args.tammes)], "Tammes in 3D",
                      lambda n, d: table.get(n))
    if args.exact:
        cases = [(4, 3), (5, 4), (6, 5), (8, 7), (6, 4), (8, 4), (10, 5), (12, 6), (16, 8), (24, 4), (120, 4)]

        def exact(n, d):
            if n <= d + 1:
                return float(np.degrees(np.arccos(-1 / (n - 1))))
            if n <= 2 * d:
                return 90.0
            return {(24, 4): 60.0, (120, 4): 36.0}[(n, d)]
        bench_max_min(api, cases, "Exact optima in higher dimensions", exact)


if __name__ == "__main__":
    main()
