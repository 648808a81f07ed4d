"""The machine a measurement ran on: what a timing or a model record depends on."""
from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name, family and model numbers, and whether it has AVX-512."""
    try:
        info: dict[str, str] = {}
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
        avx512 = "AVX-512" if "avx512f" in info.get("flags", "").split() else "no AVX-512"
        return (f"{info['model name']} (family {info['cpu family']}, model {info['model']}, "
                f"{avx512})")
    except (OSError, KeyError):  # not Linux, or a /proc/cpuinfo without these fields
        return platform.processor() or platform.machine()


def machine_summary() -> str:
    """CPU, usable cores and the oneDNN settings."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"{cpu_model()}, {os.cpu_count()} logical cores, {cores} usable; "
            f"TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'unset')}, "
            f"ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA', 'unset')}")
