"""``FastGenerator``: the one decoding loop's fast backend (bonus folder
``ch02/03_faster-generation``), in the style of gpt-fast.

It holds a ``FastDecoder`` of the model, the position in its cache, and
the compile policy: the decoding step compiled once with static shapes
(a CUDA graph on CUDA; on a CPU frozen, bfloat16 and int8 weights
repacked for the faster of oneDNN's and inductor's matrix kernels), the
prompt eager or, with ``compile_prefill=True``, compiled once for every
length. Where compiling fails it says so in one line and runs eagerly.
"""

import contextlib
import time

import torch
from reasoning_from_scratch.qwen3 import Qwen3Model

from ..compile_support import torch_compile_works
from ..decoding import beam_search, generate, generate_stream
from ..decoding.backend import Backend
from ..decoding.validation import check_non_negative_int
from ..dtype import fastest_dtype
from ..errors import one_line
from ..timing import synchronize
from .cpu_kernels import one_row_kernels
from .decoder import FastDecoder

WEIGHTS = (None, "int8")
# A step on a CPU attends over the positions written so far, rounded up
# to a multiple of this (see FastGenerator._attended)
ATTEND_BLOCK = 128
# How often (in steps) `generate` asks whether every row has produced
# EOS; each question waits for the device
EOS_CHECK_EVERY = 8


def prompt_dtype(device, dtype):
    """float32 for the prompt's matrix products of a bfloat16 model on a
    CPU that computes bfloat16 slowly (``helpers.dtype`` measures it),
    else None (the model's dtype). Steps keep the model's dtype: they
    read weights, and bfloat16 weights are half the bytes."""
    if torch.device(device).type != "cpu" or dtype != torch.bfloat16:
        return None
    fastest, _why = fastest_dtype("cpu", "prompts")  # measured once
    return torch.float32 if fastest == torch.float32 else None


def _version(tensor):
    """How often ``tensor`` was written in place (None for an inference
    tensor, which keeps no count)."""
    try:
        return tensor._version
    except RuntimeError:
        return None


class FastGenerator(Backend):
    """Fast greedy, sampled or beam-search generation with the book's
    ``Qwen3Model``.

    ``max_seq_len`` (prompt and answer together) and ``max_batch_size``
    size the KV cache (``kv_cache_bytes``). With ``compile=True`` the
    step compiles on the first call (``warm_up``, ``warm_up_seconds``).
    ``weights="int8"`` reads int8 copies of the matrices
    (``weight_bytes`` says how many bytes a step reads).
    """

    def __init__(self, model, max_seq_len, max_batch_size=1, compile=True,
                 weights=None, compile_prefill=False):
        if not isinstance(model, Qwen3Model):
            raise TypeError(
                f"FastGenerator needs the book's Qwen3Model (from "
                f"reasoning_from_scratch.qwen3), got "
                f"{type(model).__name__}; pass the model itself, not "
                "torch.compile(model).")
        for name, value in (("max_seq_len", max_seq_len),
                            ("max_batch_size", max_batch_size)):
            check_non_negative_int(name, value)
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}.")
        if weights not in WEIGHTS:
            raise ValueError(
                f"weights must be None (the model's own) or 'int8', got "
                f"{weights!r}.")
        if not isinstance(compile_prefill, bool):
            raise TypeError(f"compile_prefill must be True or False, got "
                            f"{compile_prefill!r}.")
        if max_seq_len > model.cfg["context_length"]:
            raise ValueError(
                f"max_seq_len is {max_seq_len}, more than the model's "
                f"context length of {model.cfg['context_length']}; use at "
                "most that.")
        self.model = model  # its training mode stays the caller's
        self.cache_owner = self
        self.max_seq_len = max_seq_len
        self.max_batch_size = max_batch_size
        self.weights = weights
        self.compiled = compile
        self.compile_prefill = compile_prefill
        self._build()

    def _build(self):
        """The decoder and its compiled step from the model's weights as
        they are now (a step compiled on a CPU holds them as constants:
        ``check`` builds again when they change)."""
        model, n = self.model, self.max_seq_len
        self.device = model.tok_emb.weight.device
        # One spare position where a graph reads a dynamic number of them:
        # a slice as long as the whole tensor would change its layout and
        # need a second graph
        spare = int(self.device.type == "cpu" and self.compiled
                    or self.compile_prefill)
        self.decoder = FastDecoder(
            model, n, self.max_batch_size, int8=self.weights == "int8",
            spare=spare,
            prompt_dtype=prompt_dtype(self.device, model.tok_emb.weight.dtype),
        ).eval()
        # Inputs of the step, not buffers (freezing makes buffers
        # constants): the position, False where a row has padding, and
        # the cache's positions
        self.pos = torch.zeros(1, dtype=torch.long, device=self.device)
        self.is_token = torch.ones(self.max_batch_size, n + spare,
                                   dtype=torch.bool, device=self.device)
        self.positions = torch.arange(n, device=self.device)
        self.warm_up_seconds = None
        # Probed once (it says why not): the step and the prefill both ask
        works = ((self.compiled or self.compile_prefill)
                 and torch_compile_works(self.device))
        self.compiled = self.compiled and works
        self._decode = self._compiled() if self.compiled else self.decoder
        self.compile_prefill = self.compile_prefill and works
        # Not frozen: that would keep a second, repacked copy of the weights
        self._prefill = (torch.compile(self.decoder.prefill, fullgraph=True)
                         if self.compile_prefill else None)
        self._built_from = self._weights_now()

    def _weights_now(self):
        """Where each model weight lives and how often it was written."""
        return [(p.data_ptr(), _version(p)) for p in self.model.parameters()]

    @property
    def weight_bytes(self):
        return self.decoder.weight_bytes

    @property
    def kv_cache_bytes(self):
        return self.decoder.kv_cache_bytes

    # Compiling -------------------------------------------------------------

    def _compiled(self):
        """The step compiled for this device (a CUDA graph on CUDA)."""
        mode = "reduce-overhead" if self.device.type == "cuda" else None
        return torch.compile(self.decoder, fullgraph=True, dynamic=False,
                             mode=mode)

    def _compile_options(self):
        """Inductor's settings while the step compiles, on a CPU: frozen
        weights; float32 ones stay the model's (a copy packed for oneDNN or
        MKL is no faster and as large again); int8 and bfloat16 ones go to
        inductor's C++ kernels timed against aten's (``max_autotune``),
        quietly, and on x86 int8 to inductor's only (autotuning times
        aten's on cached weights, not read from memory as in a step). Their
        kernels are fitted to one row (``one_row_kernels``); rows reuse no
        weight, so bfloat16 ones read all of K at once. Dynamo reads
        ``freezing`` when it traces (not in options=...)."""
        on_cpu = self.device.type == "cpu"
        int8 = self.weights == "int8"
        bf16 = self.model.tok_emb.weight.dtype == torch.bfloat16
        x86 = torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512")
        stack, options = contextlib.ExitStack(), {
            "cpp.weight_prepack": int8 or bf16}
        if on_cpu and (int8 or bf16):
            stack.enter_context(one_row_kernels())
        if on_cpu and bf16 and not int8:
            # (rows, columns, K) in register blocks, K clamped to its size
            options["cpp.gemm_cache_blocking"] = "1,1,4096"
        stack.enter_context(torch._inductor.config.patch(
            freezing=on_cpu,
            max_autotune=on_cpu and (int8 or bf16),
            max_autotune_gemm_backends="CPP" if int8 and x86 else "CPP,ATEN",
            autotune_num_choices_displayed=0,
            max_autotune_report_choices_stats=False,
            **options,
        ))
        return stack

    def warm_up(self, batch_size=1):
        """Compile for ``batch_size`` rows (the first call is slow);
        return the seconds it took."""
        start = time.perf_counter()
        with torch.inference_mode():  # as when generating: no recompile
            token = torch.zeros(batch_size, 1, dtype=torch.long,
                                device=self.device)
            if self.compile_prefill and self.max_seq_len > 1:
                self._read_prompt(token.repeat(1, 2), None)  # any length
            self.decoder.prefill(token)
            self.is_token.fill_(True)
            self.pos.fill_(1)
            for _ in range(3):  # CUDA graphs record on a later call
                self._step(token)
        synchronize(self.device)
        self.warm_up_seconds = time.perf_counter() - start
        return self.warm_up_seconds

    def _read_prompt(self, token_ids, mask):
        """The prefill, compiled if asked for (eager, with one message,
        if compiling it fails)."""
        if self.compile_prefill and token_ids.shape[1] > 1:
            # Inference tensors with a dynamic length, as in the warm-up:
            # one graph per batch size for every length
            with torch.inference_mode():
                token_ids = token_ids.clone()
                torch._dynamo.mark_dynamic(token_ids, 1)
                if mask is not None:
                    mask = mask.clone()
                    torch._dynamo.mark_dynamic(mask, 1)
            try:
                return self._prefill(token_ids, mask)
            except Exception as exc:  # a compiler that fails on it
                print("Compiling the prefill failed "
                      f"({one_line(exc, named=True)}); reading prompts "
                      "without torch.compile.")
                self.compile_prefill = False
        return self.decoder.prefill(token_ids, mask)

    def _compiled_call(self, *args):
        """The compiled step, run as compiled; a call that has to compile
        (the first of a batch size, or one whose guards no longer hold)
        is stopped before it runs, and compiles with inductor's
        settings."""
        try:
            with torch.compiler.set_stance("fail_on_recompile"):
                return self._decode(*args)
        except RuntimeError as exc:
            if "fail_on_recompile" not in str(exc):
                raise
        with self._compile_options():
            return self._decode(*args)

    def _step(self, token):
        """One step at ``self.pos``: the logits and the greedy choice;
        the position advances."""
        rows = token.shape[0]
        run = self._compiled_call if self.compiled else self._decode
        try:
            logits, greedy = run(token, self.pos, self.is_token[:rows],
                                 self._attended())
        except Exception as exc:  # a compiler that fails on this model
            if self._decode is self.decoder:
                raise
            print("Compiling the decoding step failed "
                  f"({one_line(exc, named=True)}); generating without "
                  "torch.compile.")
            self._decode = self.decoder
            self.compiled = False
            return self._step(token)
        if self.compiled and self.device.type == "cuda":
            # A CUDA graph reuses its outputs on the next step
            logits, greedy = logits.clone(), greedy.clone()
        self.pos += 1
        return logits, greedy

    def _attended(self):
        """The positions a step attends over: on a CPU those written so
        far, rounded up to ATTEND_BLOCK (a dynamic length: one graph for
        all). Elsewhere the whole cache: a CUDA graph needs fixed shapes."""
        if self.device.type != "cpu" or self.max_seq_len <= ATTEND_BLOCK:
            return self.positions
        # Reading the position does not wait for a device on a CPU
        n = -(-(int(self.pos) + 1) // ATTEND_BLOCK) * ATTEND_BLOCK
        positions = self.positions[:n]
        torch._dynamo.mark_dynamic(positions, 0)
        return positions

    # The backend of helpers.decoding's loop ------------------------------

    check_every = EOS_CHECK_EVERY

    def check(self, batch_size, n_tokens, max_new_tokens):
        """Rows and length must fit the cache; weights changed since the
        decoder was built (``load_state_dict``, a training step) build
        it again."""
        if self._weights_now() != self._built_from:
            print("The model's weights changed since this FastGenerator "
                  "was built: building it again"
                  + (" (compiling again)" if self.compiled else ""))
            self._build()
        if batch_size > self.max_batch_size:
            raise ValueError(
                f"the batch has {batch_size} rows (prompts, or beams in "
                f"beam search), but max_batch_size is "
                f"{self.max_batch_size}: create the FastGenerator with "
                f"max_batch_size={batch_size} or more."
            )
        if n_tokens + max_new_tokens > self.max_seq_len:
            raise ValueError(
                f"the prompt has {n_tokens} tokens and max_new_tokens is "
                f"{max_new_tokens}, {n_tokens + max_new_tokens} in all, "
                f"but max_seq_len is {self.max_seq_len}: create the "
                f"FastGenerator with max_seq_len="
                f"{n_tokens + max_new_tokens} or more, or generate fewer "
                "tokens."
            )

    def prefill(self, token_ids, mask=None):
        """Read the prompts (batch, n_tokens) into the cache (``mask``:
        False for left padding); the last position's logits and greedy
        choice."""
        if ((self.compiled or self.compile_prefill)
                and self.warm_up_seconds is None):
            self.warm_up(token_ids.shape[0])
        batch, n = token_ids.shape
        logits, greedy = self._read_prompt(token_ids, mask)
        self.is_token[:batch].fill_(True)
        if mask is not None:
            self.is_token[:batch, :n] = mask
        self.pos.fill_(n)
        return logits, greedy

    def step(self, token):
        """One new token per row (batch, 1). Contiguous: a column sliced
        from a longer tensor (beam search's) would recompile every step."""
        return self._step(token.contiguous())

    def reorder(self, rows):
        """Row i continues row ``rows[i]`` (up to ``max_batch_size``)."""
        n = len(rows)
        for layer in self.decoder.layers:
            layer.k_cache[:n] = layer.k_cache.index_select(0, rows)
            layer.v_cache[:n] = layer.v_cache.index_select(0, rows)
        self.is_token[:n] = self.is_token.index_select(0, rows)

    # Generating ----------------------------------------------------------

    def stream(self, token_ids, max_new_tokens=None, **options):
        """``helpers.generate_stream`` on this backend."""
        return generate_stream(self, token_ids, max_new_tokens, **options)

    def generate(self, token_ids, max_new_tokens=None, **options):
        """``helpers.generate`` on this backend."""
        return generate(self, token_ids, max_new_tokens, **options)

    def beam_search(self, token_ids, max_new_tokens=None, **options):
        """``helpers.beam_search`` on this backend."""
        return beam_search(self, token_ids, max_new_tokens, **options)
