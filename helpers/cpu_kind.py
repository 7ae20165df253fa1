"""The CPU a timing was measured on, by name and kind (the speed of
bfloat16 depends on the kind)."""

import datetime
import os
import platform
import re
from pathlib import Path

import torch


def _first_cpu(cpuinfo):
    """The first CPU's fields in /proc/cpuinfo ({} where there is none)."""
    fields = {}
    try:
        with open(cpuinfo, encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                if not key.strip():  # the first CPU's lines end here
                    break
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


def cpu_vendor(cpuinfo="/proc/cpuinfo"):
    """"AuthenticAMD", "GenuineIntel", ...: an x86 CPU's vendor (Windows
    puts it in ``platform.processor()``), else ""."""
    vendor = _first_cpu(cpuinfo).get("vendor_id")
    return vendor or next((v for v in ("AuthenticAMD", "GenuineIntel")
                           if v in platform.processor()), "")


def cpu_name(cpuinfo="/proc/cpuinfo"):
    """The CPU's model name from /proc/cpuinfo (else what ``platform``
    knows); a name without a number gets its family and model, which
    tell generations apart: "AMD EPYC (family 26, model 2)"."""
    fields = _first_cpu(cpuinfo)
    name = fields.get("model name")
    if not name:
        return platform.processor() or platform.machine()
    if not any(c.isdigit() for c in name) and "cpu family" in fields:
        name += (f" (family {fields['cpu family']}, "
                 f"model {fields.get('model', '?')})")
    return name


def cpu_kind():
    """"x86, AVX-512 BF16", "x86, AVX2 only", "x86, AMX", or the machine
    type (for example "arm64"): the kernels PyTorch uses here, limited
    by ``ATEN_CPU_CAPABILITY=avx2`` too."""
    machine = platform.machine().lower()
    if machine not in {"x86_64", "amd64"}:
        return machine
    capability = torch.backends.cpu.get_cpu_capability()
    if capability == "AVX2":
        kind = "x86, AVX2 only"
        if os.environ.get("ATEN_CPU_CAPABILITY", "").lower() == "avx2":
            kind += " (limited by ATEN_CPU_CAPABILITY)"
        return kind
    if capability != "AVX512":
        return f"x86, {capability}"
    if torch._C._cpu._is_amx_tile_supported():
        return "x86, AMX"
    if torch._C._cpu._is_avx512_bf16_supported():
        return "x86, AVX-512 BF16"
    return "x86, AVX-512 (no BF16)"


def last_level_cache_bytes(folder="/sys/devices/system/cpu/cpu0/cache"):
    """The largest CPU cache Linux reports (0 where it reports none)."""
    units = {"K": 2**10, "M": 2**20, "G": 2**30}
    sizes = [int(m[1]) * units.get(m[2], 1)
             for path in Path(folder).glob("index*/size")
             if (m := re.fullmatch(r"(\d+)([KMG]?)",
                                   path.read_text().strip()))]
    return max(sizes, default=0)


def run_record(device):
    """Where and when a benchmark ran, for its JSON: the date, torch, the
    threads and, on a CPU, its name and kind."""
    on_cpu = torch.device(device).type == "cpu"
    return {
        "date": datetime.date.today().isoformat(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": cpu_name() if on_cpu else None,
        "cpu_kind": cpu_kind() if on_cpu else None,
    }
