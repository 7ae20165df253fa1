"""llama.cpp beside our engines: ``benchmark.py --peers llama.cpp``. To
compare on the same CPU, in the same run, with the same weights, it

1. finds ``llama-bench``: ``$LLAMA_BENCH``, a ``llama-bench`` on the PATH,
   or one built before in ``--llama-cpp-dir``; else builds it there.
   llama.cpp's source comes from the ``llama-cpp-python`` sdist on the
   package index (``pip download``), and CMake builds only
   ``llama-bench`` for this CPU (``GGML_NATIVE``), or for AVX2 (in a
   folder of its own) where PyTorch runs its AVX2 kernels, so both
   engines use the same instructions;
2. exports the benchmark's random-weights model to GGUF: the book's
   ``Qwen3Model`` as transformers' ``Qwen3ForCausalLM``
   (``transformers_bridge.py``), ``save_pretrained`` with the real
   tokenizer (rebuilt offline), then llama.cpp's own
   ``convert_hf_to_gguf.py`` to ``bf16`` and ``q8_0`` (8-bit weights in
   blocks of 32 with one scale each), and ``f32`` where the model runs in
   float32;
3. runs ``llama-bench`` with the benchmark's thread count: one decoding
   run (tg, ``--new-tokens``) per file after each of the benchmark's
   rounds, and the prompt (pp, ``--pp``) once at the end; it reads
   llama-bench's JSON.

A step that cannot be done here (no pip, no CMake, a failed build or
export) raises ``PeerError`` with one line that says which; the benchmark
prints it and goes on without the peer.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

LLAMA_CPP_PYTHON = "llama-cpp-python==0.3.36"  # bundles llama.cpp's source
OUTTYPES = ("bf16", "q8_0")
# What transformers needs beside tokenizer.json to load the tokenizer
TOKENIZER_CONFIG = {"tokenizer_class": "Qwen2Tokenizer",
                    "eos_token": "<|endoftext|>",
                    "pad_token": "<|endoftext|>"}


class PeerError(RuntimeError):
    """One step towards the peer failed; the message says which."""


def _run(command, what, **kwargs):
    """Run ``command``; its standard output, or ``PeerError`` naming
    ``what`` with the last line it wrote to standard error."""
    try:
        result = subprocess.run([str(c) for c in command],
                                capture_output=True, text=True, **kwargs)
    except OSError as exc:
        raise PeerError(f"{what}: {exc}") from None
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        last = lines[-1] if lines else ""
        raise PeerError(f"{what} failed (exit code {result.returncode}): "
                        f"{last[:200]}")
    return result.stdout


def _pip():
    """A pip to fetch the sdist with: this Python's, uv's, or the PATH's.
    This Python's is asked in a subprocess: looking for pip in this one
    turns off setuptools' ``distutils`` here (its import hook stands
    aside for pip), and torch.compile then fails on the standard one."""
    if subprocess.run([sys.executable, "-m", "pip", "--version"],
                      capture_output=True).returncode == 0:
        return [sys.executable, "-m", "pip"]
    if uv := shutil.which("uv"):  # uv's environments come without pip
        return [uv, "run", "--no-project", "--with", "pip", "python", "-m",
                "pip"]
    if pip := shutil.which("pip3") or shutil.which("pip"):
        return [pip]
    raise PeerError("no pip to fetch llama.cpp's source with: install pip "
                    "(or uv), or set LLAMA_BENCH to a llama-bench binary")


def llama_cpp_source(folder):
    """llama.cpp's source in ``folder / "llama.cpp"``, taken from the
    ``llama-cpp-python`` sdist on a first run."""
    source = Path(folder) / "llama.cpp"
    if (source / "CMakeLists.txt").is_file():
        return source
    source.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=source.parent) as tmp:
        _run([*_pip(), "download", "--no-deps", "--no-binary", ":all:",
              "--dest", tmp, LLAMA_CPP_PYTHON],
             f"pip download {LLAMA_CPP_PYTHON}")
        sdists = list(Path(tmp).glob("*.tar.gz"))
        if not sdists:
            raise PeerError(f"pip download {LLAMA_CPP_PYTHON} gave no sdist")
        with tarfile.open(sdists[0]) as tar:
            members = tar.getmembers()
            root = members[0].name.split("/")[0] if members else ""
            vendored = [m for m in members if m.name.startswith(
                f"{root}/vendor/llama.cpp/")]
            if not vendored:
                raise PeerError(f"{sdists[0].name} holds no llama.cpp source")
            tar.extractall(tmp, members=vendored, filter="data")
        # Moved whole at the end: an interrupted run leaves no half source
        os.replace(Path(tmp) / root / "vendor" / "llama.cpp", source)
    return source


def build_flavour():
    """The build folder's name and the CMake flags that choose llama.cpp's
    vector instructions: AVX2 where PyTorch uses AVX2 (see the module's
    docstring); on a CPU with AMX, its AVX-512 without AMX (ggml's AMX
    kernels for q8_0 can stop with an illegal instruction, with tiles
    not set up for them); else the whole CPU's."""
    avx2 = ["AVX", "AVX2", "FMA", "F16C", "BMI2"]
    if torch.backends.cpu.get_cpu_capability() == "AVX2":
        return "build-avx2", ["-DGGML_NATIVE=OFF",
                              *(f"-DGGML_{isa}=ON" for isa in avx2)]
    if torch._C._cpu._is_amx_tile_supported():
        return "build-no-amx", ["-DGGML_NATIVE=OFF", *(
            f"-DGGML_{isa}=ON" for isa in [*avx2, "AVX512", "AVX512_VBMI",
                                           "AVX512_VNNI", "AVX512_BF16",
                                           "AVX_VNNI"])]
    return "build", ["-DGGML_NATIVE=ON"]


def built_llama_bench(folder):
    """The path of ``llama-bench``, found or built (see the module's
    docstring); the seconds a build took (0 when none was needed)."""
    given = os.environ.get("LLAMA_BENCH")
    if given:
        if not Path(given).is_file():
            raise PeerError(f"LLAMA_BENCH={given} is not a file: point it "
                            "at a llama-bench binary, or unset it")
        return Path(given), 0.0
    if on_path := shutil.which("llama-bench"):
        return Path(on_path), 0.0
    name, flags = build_flavour()
    build = Path(folder) / "llama.cpp" / name
    exe = "llama-bench.exe" if os.name == "nt" else "llama-bench"
    for candidate in (build / "bin" / exe, build / "bin" / "Release" / exe):
        if candidate.is_file():
            return candidate, 0.0
    cmake = shutil.which("cmake")
    if cmake is None:
        raise PeerError("CMake is not installed, so llama-bench cannot be "
                        "built: install it (pip install cmake, or your "
                        "system's package), or set LLAMA_BENCH")
    start = time.perf_counter()
    source = llama_cpp_source(folder)
    _run([cmake, "-S", source, "-B", build, "-DCMAKE_BUILD_TYPE=Release",
          *flags, "-DGGML_CCACHE=OFF", "-DLLAMA_CURL=OFF",
          "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF",
          "-DLLAMA_BUILD_SERVER=OFF"], "configuring llama.cpp with CMake")
    _run([cmake, "--build", build, "--config", "Release", "--target",
          "llama-bench", "--parallel", os.cpu_count() or 1],
         "building llama-bench")
    for candidate in (build / "bin" / exe, build / "bin" / "Release" / exe):
        if candidate.is_file():
            return candidate, time.perf_counter() - start
    raise PeerError(f"the build finished, but no {exe} is in {build}")


def export_gguf(model, source, out_dir, outtypes=OUTTYPES):
    """Write ``model`` (the book's ``Qwen3Model``) as one GGUF file per
    type in ``outtypes`` into ``out_dir``; return {outtype: path}."""
    from helpers.files.offline_tokenizer import rebuild_qwen3_tokenizer
    from transformers_bridge import to_transformers

    out_dir = Path(out_dir)
    hf_dir = out_dir / "hf"
    try:
        hf = to_transformers(model)
        hf.save_pretrained(hf_dir)
        del hf
        rebuild_qwen3_tokenizer(hf_dir / "tokenizer.json")
    except (ImportError, OSError, ValueError) as exc:
        raise PeerError(f"saving the model for llama.cpp's converter: "
                        f"{exc}") from None
    (hf_dir / "tokenizer_config.json").write_text(
        json.dumps(TOKENIZER_CONFIG))
    # The converter next to the source it came with, with its own gguf
    env = {**os.environ, "PYTHONPATH": str(Path(source) / "gguf-py")}
    paths = {t: out_dir / f"qwen3-{t}.gguf" for t in outtypes}

    def convert(outtype):
        _run([sys.executable, Path(source) / "convert_hf_to_gguf.py", hf_dir,
              "--outtype", outtype, "--outfile", paths[outtype]],
             f"exporting the model to a {outtype} GGUF", env=env)

    # One converter per type at once: each is one Python process that
    # mostly imports and quantizes on one core
    workers = max(1, min(len(outtypes), os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        for done in [pool.submit(convert, t) for t in outtypes]:
            done.result()  # the first failure, as PeerError
    shutil.rmtree(hf_dir)
    return paths


def run_llama_bench(bench, gguf, pp, tg, threads, repeats):
    """llama-bench's tokens/sec for a ``pp``-token prompt and for
    generating ``tg`` tokens, at batch 1 (None for a length of 0)."""
    command = [bench, "-m", gguf, "-t", threads, "-r", repeats,
               "-p", pp, "-n", tg, "-o", "json"]
    out = _run(command, f"llama-bench on {Path(gguf).name}")
    try:
        speed = {(t["n_prompt"], t["n_gen"]): t["avg_ts"]
                 for t in json.loads(out)}
        return {"prompt_tokens_per_sec": speed[(pp, 0)] if pp else None,
                "tokens_per_sec": speed[(0, tg)] if tg else None}
    except (ValueError, KeyError, TypeError):
        raise PeerError("llama-bench's output is not the JSON expected: "
                        f"{out[:120]!r}") from None


class LlamaCppPeer:
    """llama-bench and the model's GGUF files, one per type, kept in a
    temporary folder from ``__init__`` to ``rows`` so that the
    benchmark can time a decoding run of each file between its own
    rounds (``decode_round``): the machine's speed drifts, and alternating
    keeps drift from deciding the ratios. Raises ``PeerError``."""

    def __init__(self, model, args):
        self.args = args
        self.bench, build_seconds = built_llama_bench(args.llama_cpp_dir)
        if build_seconds:
            print(f"  built llama-bench in {build_seconds / 60:.1f} min "
                  f"({self.bench})", flush=True)
        source = llama_cpp_source(args.llama_cpp_dir)  # found, or fetched
        self._folder = tempfile.TemporaryDirectory()  # removed at exit too
        start = time.perf_counter()
        # A model that runs in float32 here (a CPU without bfloat16
        # instructions) is compared with an f32 GGUF too: the same bytes
        float32 = model.tok_emb.weight.dtype == torch.float32
        try:
            self.paths = export_gguf(model, source, self._folder.name,
                                     (("f32",) if float32 else ()) + OUTTYPES)
        except PeerError:
            self._folder.cleanup()
            raise
        print(f"  exported the weights to GGUF ({', '.join(self.paths)}) "
              f"in {time.perf_counter() - start:.0f} s", flush=True)
        self.decode_runs = {outtype: [] for outtype in self.paths}

    def _bench(self, outtype, pp, tg, repeats):
        """llama-bench on one file; a type that fails (an illegal
        instruction in a kernel for it) is left out with one line."""
        try:
            return run_llama_bench(self.bench, self.paths[outtype], pp, tg,
                                   self.args.threads, repeats)
        except PeerError as exc:
            print(f"  llama.cpp {outtype} left out: {exc}", flush=True)
            del self.paths[outtype], self.decode_runs[outtype]
            return None

    def decode_round(self):
        """One timed run of ``--new-tokens`` decoding steps per file."""
        for outtype in list(self.paths):
            speed = self._bench(outtype, 0, self.args.new_tokens, 1)
            if speed is not None:
                self.decode_runs[outtype].append(speed["tokens_per_sec"])

    def rows(self):
        """One row per GGUF type: decoding tokens/sec (the median of the
        rounds), prompt tokens/sec and the time to the first token (the
        prompt's time: its last position gives the first token). The
        files are removed."""
        if not any(self.decode_runs.values()):
            self.decode_round()  # no rounds were run
        rows = []
        for outtype in list(self.paths):
            pp_speed = None
            if self.args.pp:
                speed = self._bench(outtype, self.args.pp, 0,
                                    self.args.repeats)
                if speed is None:
                    continue
                pp_speed = speed["prompt_tokens_per_sec"]
            runs = self.decode_runs[outtype]
            rows.append({
                "mode": f"llama.cpp ({outtype} GGUF)",
                "gguf_type": outtype,
                "gguf_bytes": self.paths[outtype].stat().st_size,
                "tokens_per_sec": round(statistics.median(runs), 2),
                "runs_tokens_per_sec": [round(r, 2) for r in runs],
                "prompt_tokens": self.args.pp,
                "prompt_tokens_per_sec": (round(pp_speed, 1) if pp_speed
                                          else None),
                "time_to_first_token_s": (round(self.args.pp / pp_speed, 5)
                                          if pp_speed else None),
            })
        self._folder.cleanup()
        return rows
