"""A fast generation path for the book's Qwen3Model (bonus folder
``ch02/03_faster-generation``).

Generating a token reads every weight once, so decoding is limited by how
fast the weights stream from memory, not by arithmetic. The book's loops
leave a lot on the table before that limit: a KV cache that grows by
``torch.cat`` (a new tensor shape every step, so ``torch.compile`` cannot
settle), an attention mask rebuilt every step, three separate projections
for queries, keys and values, and many small operations whose launch
overhead adds up. ``FastGenerator`` removes them, in the style of
gpt-fast:

- a KV cache allocated once for ``max_batch_size x max_seq_len`` and
  written in place at a position held in a tensor, so every decoding step
  has the same shapes;
- attention through ``scaled_dot_product_attention`` over the cache
  with a mask of the positions written so far (one comparison per step,
  no O(T^2) mask); on a CPU over the first positions only, in blocks of
  128, so a short text in a long cache does not pay for the whole (a
  dynamic length: still one compiled graph); in a decoding step the
  query heads that share a key/value head are that head's rows, so the
  cache is read once, not repeated for every head of its group;
- queries, keys and values in one matrix multiplication, and the feed
  forward's gate and up projections in another;
- one decoding step compiled once with static shapes (``fullgraph=True``;
  on CUDA as a CUDA graph with ``mode="reduce-overhead"``; on a CPU with
  inductor's ``freezing``, which repacks the weights for oneDNN's
  faster matrix-vector kernels; not ``cpp_wrapper``, whose C++ source
  names the weights' addresses, so that every process would compile it
  again for little gain per step); the prompt (prefill) runs
  separately, uncompiled, or with ``compile_prefill=True`` compiled once
  for every prompt length (a dynamic length; a little faster for more
  compiling: ``benchmark.py`` measures both);
- tokens chosen on the device (the greedy choice inside the compiled
  step, or sampling with a ``generator``), and EOS checked every few steps
  instead of after each one, so the host does not wait for the device
  every step.

With ``weights="int8"`` the matrices are read as 8-bit integers instead
(weight-only quantization, one scale per output channel, as gpt-fast's
int8 mode; llama.cpp's q8_0 has one scale per block of 32): about half
the bytes of bfloat16 per token, so a memory-bound step can run up to
twice as fast, for a small error in the logits (``benchmark.py``
measures both). The embedding stays as it is: a step reads one row.

By default it uses the model's own weights, unchanged: the fused projections
are made by moving the model's query/key/value and gate/up weights into one
tensor each and pointing the model's parameters at views of it, so the
book's model keeps working as before and no second copy exists (except the
repacked one that freezing makes on a CPU).
"""

import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from reasoning_from_scratch.qwen3 import Qwen3Model

from .compile_support import torch_compile_works
from .decoding import beam_search, generate, generate_stream
from .decoding.backend import Backend
from .decoding.padding import attention_allowed
from .decoding.validation import check_non_negative_int
from .dtype import fastest_dtype
from .errors import one_line
from .timing import synchronize

# A decoding step on a CPU attends over the positions written so far,
# rounded up to a multiple of this (see FastGenerator._attended)
ATTEND_BLOCK = 128
# How often (in steps) `generate` asks the device whether every row has
# produced EOS; each check waits for the device
EOS_CHECK_EVERY = 8


def _rms_norm(x, scale, eps):
    """The book's RMSNorm, step for step (float32 inside)."""
    dtype = x.dtype
    x = x.to(torch.float32)
    variance = x.pow(2).mean(dim=-1, keepdim=True)
    return (x * torch.rsqrt(variance + eps) * scale).to(dtype)


def _rope(x, cos, sin):
    """The book's rotary embedding for x (batch, heads, n, head_dim) and
    cos/sin (n, head_dim) of its positions."""
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return (x * cos + rotated * sin).to(x.dtype)


WEIGHTS = (None, "int8")
# Up to this many rows (tokens x batch) the int8 kernel, beyond it
# dequantized weights (see _linear)
INT8_KERNEL_MAX_ROWS = 32


def _quantize_int8(weight):
    """``weight`` (out, in) as int8 values and one scale per output row:
    w ~ q * scale, with the row's largest magnitude at 127."""
    w = weight.detach().float()
    scale = w.abs().amax(dim=1).clamp(min=1e-12) / 127
    q = torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8)
    return q, scale.to(weight.dtype)


def _linear(x, weight, scale, compute_dtype=None):
    """``F.linear(x, weight)``, computed in ``compute_dtype`` if given
    (the weights converted for this call; the result in x's dtype). For
    int8 weights (``scale`` not None) the int8 kernel, which dequantizes
    as it reads, or for a prompt of many tokens (arithmetic, not reading,
    is its cost) the weights dequantized once and the model dtype's
    kernel, twice as fast there."""
    if scale is not None and (
            x.numel() // x.shape[-1] <= INT8_KERNEL_MAX_ROWS):
        out = torch.ops.aten._weight_int8pack_mm(
            x.reshape(-1, x.shape[-1]), weight, scale.to(x.dtype))
        return out.view(*x.shape[:-1], weight.shape[0])
    dtype = compute_dtype or x.dtype
    weight = weight.to(dtype)  # no copy where it is already
    if scale is not None:
        weight = weight * scale.to(dtype)[:, None]
    return F.linear(x.to(dtype), weight).to(x.dtype)


def prompt_dtype(device, dtype):
    """The dtype for a prompt's matrix products: float32 for a bfloat16
    model on a CPU that computes bfloat16 slowly (no AVX-512 BF16, AMX
    or ARM bf16: several times slower than float32 over many rows), as
    ``helpers.dtype`` measures it for reading prompts; else None (the
    model's dtype). Decoding steps stay in the model's dtype: they read
    weights, and bfloat16 weights are half the bytes."""
    if torch.device(device).type != "cpu" or dtype != torch.bfloat16:
        return None
    fastest, _why = fastest_dtype("cpu", "prompts")  # measured once
    return torch.float32 if fastest == torch.float32 else None


def _set_weight(module, name, weight, int8):
    """``module.<name>`` is ``weight`` (shared with the model), or with
    ``int8`` its int8 copy, with ``module.<name>_scale``."""
    if int8:
        q, scale = _quantize_int8(weight)
        module.register_buffer(name, q)
        module.register_buffer(f"{name}_scale", scale)
    else:
        setattr(module, name, weight)
        module.register_buffer(f"{name}_scale", None)


def _shared(tensor):
    """A frozen parameter on the same memory as ``tensor``."""
    return nn.Parameter(tensor.detach(), requires_grad=False)


def _fuse(params):
    """Move ``params`` into one tensor, concatenated along dim 0, and point
    each at its view: one matmul instead of several, no extra memory.
    Params fused before (by another FastGenerator) keep their tensor, so
    that the generators share it and the model's weights stay put."""
    first, rows = params[0], sum(p.shape[0] for p in params)
    with torch.no_grad():
        if _consecutive(params):
            fused = torch.empty(0, dtype=first.dtype, device=first.device)
            fused.set_(first.untyped_storage(), first.storage_offset(),
                       (rows, *first.shape[1:]))
            return _shared(fused)
        fused = torch.cat([p.detach() for p in params])
        start = 0
        for p in params:
            p.data = fused[start:start + p.shape[0]]
            start += p.shape[0]
    return _shared(fused)


def _version(tensor):
    """How often ``tensor`` was written in place (None for an inference
    tensor, which keeps no count)."""
    try:
        return tensor._version
    except RuntimeError:
        return None


def _consecutive(params):
    """True if ``params`` lie one after the other in one storage."""
    first = params[0]
    offset = first.storage_offset()
    for p in params:
        if (not p.is_contiguous() or p.shape[1:] != first.shape[1:]
                or p.untyped_storage().data_ptr()
                != first.untyped_storage().data_ptr()
                or p.storage_offset() != offset):
            return False
        offset += p.numel()
    return True


class _Layer(nn.Module):
    """One transformer block's weights, fused, and its KV cache."""

    def __init__(self, block, cache_shape, int8=False):
        super().__init__()
        att, ff = block.att, block.ff
        for name, weight in (
            ("wqkv", _fuse([att.W_query.weight, att.W_key.weight,
                            att.W_value.weight])),
            ("wo", _shared(att.out_proj.weight)),
            ("w_gate_up", _fuse([ff.fc1.weight, ff.fc2.weight])),
            ("w_down", _shared(ff.fc3.weight)),
        ):
            _set_weight(self, name, weight, int8)
        self.norm1 = _shared(block.norm1.scale)
        self.norm2 = _shared(block.norm2.scale)
        self.q_norm = _shared(att.q_norm.scale)
        self.k_norm = _shared(att.k_norm.scale)
        self.eps = block.norm1.eps
        dtype = att.W_key.weight.dtype
        device = att.W_key.weight.device
        self.register_buffer("k_cache", torch.zeros(cache_shape, dtype=dtype,
                                                    device=device))
        self.register_buffer("v_cache", torch.zeros_like(self.k_cache))


class _Decoder(nn.Module):
    """The model's forward pass with a static KV cache: ``prefill`` for a
    prompt, ``forward`` for one decoding step with static shapes."""

    def __init__(self, model, max_seq_len, max_batch_size, int8=False,
                 spare=0, prompt_dtype=None):
        super().__init__()
        cfg = model.cfg
        self.n_heads = cfg["n_heads"]
        self.n_kv = cfg["n_kv_groups"]
        self.head_dim = cfg["head_dim"] or cfg["emb_dim"] // cfg["n_heads"]
        # ``spare``: positions more than a text can fill (see FastGenerator)
        cache_shape = (max_batch_size, self.n_kv, max_seq_len + spare,
                       self.head_dim)
        self.layers = nn.ModuleList(_Layer(block, cache_shape, int8)
                                    for block in model.trf_blocks)
        self.tok_emb = _shared(model.tok_emb.weight)
        self.final_norm = _shared(model.final_norm.scale)
        self.final_eps = model.final_norm.eps
        _set_weight(self, "out_head", _shared(model.out_head.weight), int8)
        self.register_buffer("cos", model.cos[:max_seq_len].clone())
        self.register_buffer("sin", model.sin[:max_seq_len].clone())
        self.max_batch_size = max_batch_size
        # The prompt's matrix products (see prompt_dtype); None: the
        # model's dtype
        self.prompt_dtype = prompt_dtype

    def _block(self, x, layer, cos, sin, attend, compute_dtype=None):
        """Layer ``layer`` on x (batch, n, emb_dim) at the positions of
        cos/sin; ``attend`` writes keys and values and attends; matrix
        products in ``compute_dtype`` if given."""
        b, n, _ = x.shape
        h = _rms_norm(x, layer.norm1, layer.eps)
        # (b, n, (heads + 2 kv) * head_dim)
        qkv = _linear(h, layer.wqkv, layer.wqkv_scale, compute_dtype)
        q, k, v = qkv.split([self.n_heads * self.head_dim,
                             self.n_kv * self.head_dim,
                             self.n_kv * self.head_dim], dim=-1)
        q = q.view(b, n, self.n_heads, self.head_dim).transpose(1, 2)
        k = k.view(b, n, self.n_kv, self.head_dim).transpose(1, 2)
        v = v.view(b, n, self.n_kv, self.head_dim).transpose(1, 2)
        q = _rope(_rms_norm(q, layer.q_norm, layer.eps), cos, sin)
        k = _rope(_rms_norm(k, layer.k_norm, layer.eps), cos, sin)
        k_cache, v_cache = layer.k_cache, layer.v_cache
        if b < self.max_batch_size:  # a smaller batch uses the first rows
            k_cache, v_cache = k_cache[:b], v_cache[:b]
        context = attend(q, k, v, k_cache, v_cache)
        context = context.transpose(1, 2).reshape(b, n, -1)
        x = x + _linear(context, layer.wo, layer.wo_scale, compute_dtype)
        h = _rms_norm(x, layer.norm2, layer.eps)
        gate, up = _linear(h, layer.w_gate_up, layer.w_gate_up_scale,
                           compute_dtype).chunk(2, dim=-1)
        return x + _linear(F.silu(gate) * up, layer.w_down,
                           layer.w_down_scale, compute_dtype)

    def _logits(self, x):
        """The logits (batch, vocab_size) of x (batch, emb_dim) and the
        greedy choice (batch, 1), which costs less here, fused into the
        compiled step, than as a separate call."""
        x = _rms_norm(x, self.final_norm, self.final_eps)
        logits = _linear(x, self.out_head, self.out_head_scale)
        return logits, logits.argmax(dim=-1, keepdim=True)

    def prefill(self, token_ids, mask=None):
        """Run the prompt (batch, n) from position 0 and fill the cache;
        return the logits of the last position (batch, vocab_size) and
        its greedy choice (batch, 1). ``mask`` (bool, batch x n), if
        given, is False for left padding, which no token attends to."""
        n = token_ids.shape[1]
        attn_mask = None if mask is None else attention_allowed(mask, 0, n)

        def attend(q, k, v, k_cache, v_cache):
            k_cache[:, :, :n] = k
            v_cache[:, :, :n] = v
            return F.scaled_dot_product_attention(
                q, k, v, attn_mask=attn_mask, is_causal=attn_mask is None,
                enable_gqa=True
            )

        x = F.embedding(token_ids, self.tok_emb)
        for layer in self.layers:
            x = self._block(x, layer, self.cos[:n], self.sin[:n], attend,
                            self.prompt_dtype)
        return self._logits(x[:, -1])  # one row: in the model's dtype

    def forward(self, token, pos, is_token, positions):
        """One token per row (batch, 1) at position ``pos`` (a (1,)
        tensor): write its keys and values in place and return the logits
        (batch, vocab_size) and the greedy choice (batch, 1).
        ``is_token`` (bool, batch x at least n) is False where a row
        has padding. Attention reads the cache's first n positions, those
        in ``positions`` (0, 1, ..., n - 1, with n > pos)."""
        n = positions.shape[0]
        cos = self.cos.index_select(0, pos)  # (1, head_dim)
        sin = self.sin.index_select(0, pos)
        # (batch, 1, 1, n)
        mask = (positions <= pos) & is_token[:, None, None, :n]

        def attend(q, k, v, k_cache, v_cache):
            k_cache.index_copy_(2, pos, k)
            v_cache.index_copy_(2, pos, v)
            # One query per head: the heads that share a key/value head
            # become that head's rows, (b, heads, 1, d) -> (b, kv, group,
            # d), so attention reads each cached key once instead of
            # repeating the cache for every head of its group
            b = q.shape[0]
            q = q.reshape(b, self.n_kv, self.n_heads // self.n_kv, -1)
            context = F.scaled_dot_product_attention(
                q, k_cache[:, :, :n], v_cache[:, :, :n], attn_mask=mask
            )
            return context.reshape(b, self.n_heads, 1, -1)

        x = F.embedding(token, self.tok_emb)
        for layer in self.layers:
            x = self._block(x, layer, cos, sin, attend)
        return self._logits(x[:, -1])


class FastGenerator(Backend):
    """Fast greedy or sampled generation with the book's ``Qwen3Model``.

    ``max_seq_len`` (prompt and answer together) and ``max_batch_size``
    size the preallocated KV cache; ``kv_cache_bytes`` says how much
    memory it takes. With ``compile=True`` the decoding step is compiled
    on the first call (``warm_up``; its time is in ``warm_up_seconds``).
    ``weights="int8"`` reads int8 copies of the matrices (see the module's
    docstring); ``weight_bytes`` says how many bytes a step reads.
    ``compile_prefill=True`` compiles the prompt's forward pass too, once
    per batch size for every prompt length (``warm_up`` does it).
    """

    def __init__(self, model, max_seq_len, max_batch_size=1, compile=True,
                 weights=None, compile_prefill=False):
        if not isinstance(model, Qwen3Model):
            raise TypeError(
                f"FastGenerator needs the book's Qwen3Model (from "
                f"reasoning_from_scratch.qwen3), got "
                f"{type(model).__name__}; pass the model itself, not "
                "torch.compile(model)."
            )
        for name, value in (("max_seq_len", max_seq_len),
                            ("max_batch_size", max_batch_size)):
            check_non_negative_int(name, value)
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}.")
        if weights not in WEIGHTS:
            raise ValueError(
                f"weights must be None (the model's own) or 'int8', got "
                f"{weights!r}."
            )
        if not isinstance(compile_prefill, bool):
            raise TypeError(f"compile_prefill must be True or False, got "
                            f"{compile_prefill!r}.")
        cfg = model.cfg
        if max_seq_len > cfg["context_length"]:
            raise ValueError(
                f"max_seq_len is {max_seq_len}, more than the model's "
                f"context length of {cfg['context_length']}; use at most "
                "that."
            )
        # The decoder runs in eval mode; the model's own mode is the caller's
        self.model = model
        self.cache_owner = self
        self.max_seq_len = max_seq_len
        self.max_batch_size = max_batch_size
        self.weights = weights
        self.compiled = compile
        self.compile_prefill = compile_prefill
        self._build()

    def _build(self):
        """The decoder, its inputs and its compiled step, from the model's
        weights as they are now; ``check`` builds again when they change
        (a compiled step on a CPU holds them as constants)."""
        model, n = self.model, self.max_seq_len
        self.device = model.tok_emb.weight.device
        # One position more than a text can fill where a compiled graph
        # reads a dynamic number of them (the CPU's step, see _attended;
        # the compiled prefill): the slices it reads then never span a
        # whole tensor, which would change their layout (contiguous) and
        # need a second graph
        spare = int(self.device.type == "cpu" and self.compiled
                    or self.compile_prefill)
        self.decoder = _Decoder(
            model, n, self.max_batch_size, int8=self.weights == "int8",
            spare=spare,
            prompt_dtype=prompt_dtype(self.device, model.tok_emb.weight.dtype),
        ).eval()
        self.pos = torch.zeros(1, dtype=torch.long, device=self.device)
        # Inputs of the step, not buffers of the decoder, which freezing
        # would make constants: is_token is False where a row of the batch
        # has padding; positions are the cache's, 0 to max_seq_len - 1
        self.positions = torch.arange(n, device=self.device)
        self.is_token = torch.ones(self.max_batch_size, n + spare,
                                   dtype=torch.bool, device=self.device)
        self.warm_up_seconds = None
        self._decode = self.decoder
        if self.compiled:
            self._compile()
        self.compile_prefill = (self.compile_prefill
                                and torch_compile_works(self.device))
        # Not frozen: freezing would keep a second, repacked copy of the
        # weights
        self._prefill = (torch.compile(self.decoder.prefill, fullgraph=True)
                         if self.compile_prefill else None)
        self._built_from = self._weights_now()

    def _weights_now(self):
        """Where each of the model's weights lives, and how often it was
        written in place: what the decoder was built from."""
        return [(p.data_ptr(), _version(p)) for p in self.model.parameters()]

    @property
    def weight_bytes(self):
        """Bytes of weights a decoding step reads: every matrix and norm
        (not the embedding, of which it reads one row per token)."""
        tensors = [*self.decoder.named_parameters(),
                   *self.decoder.named_buffers()]
        return sum(t.numel() * t.element_size() for name, t in tensors
                   if name != "tok_emb" and not name.endswith(
                       ("_cache", "cos", "sin")))

    @property
    def kv_cache_bytes(self):
        """Memory of the preallocated KV cache, keys and values."""
        return sum(b.numel() * b.element_size()
                   for name, b in self.decoder.named_buffers()
                   if name.endswith("_cache"))

    # Compiling -----------------------------------------------------------

    def _compile(self):
        if not torch_compile_works(self.device):  # says why
            self.compiled = False
            return
        self._decode = self._compiled()

    def _compiled(self):
        """The decoding step compiled for this device: a CUDA graph on
        CUDA; on a CPU see ``_cpu_options``."""
        mode = "reduce-overhead" if self.device.type == "cuda" else None
        return torch.compile(self.decoder, fullgraph=True, dynamic=False,
                             mode=mode)

    def _cpu_options(self):
        """Inductor's settings for compiling the step on a CPU: the weights
        frozen (constants, repacked for oneDNN's matrix-vector kernels)
        and, for int8 weights, the fastest of inductor's and aten's matrix
        kernels, timed while compiling (``max_autotune``). Compiling
        happens on a call (the first, or a new batch size), so every call
        sets them; freezing is read by dynamo before inductor's own
        options apply, so it cannot go in ``torch.compile(options=...)``."""
        on_cpu = self.compiled and self.device.type == "cpu"
        return torch._inductor.config.patch(
            freezing=on_cpu,
            # int8 weights: inductor's own C++ matrix-vector kernels read
            # them faster than aten's (for bfloat16 they gain too little
            # for the extra compiling)
            max_autotune=on_cpu and self.weights == "int8",
            max_autotune_gemm_backends="CPP,ATEN",
            # ... quietly: no table of the timings on standard error
            autotune_num_choices_displayed=0,
            max_autotune_report_choices_stats=False,
        )

    def warm_up(self, batch_size=1):
        """Compile the decoding step for ``batch_size`` rows (the first
        call is slow); returns the seconds it took."""
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
        """The prefill, compiled if asked for (and eager, with one
        message, if compiling it fails)."""
        if self.compile_prefill and (
                token_ids.shape[1] > 1):  # one token: nothing to gain
            # Inference tensors (as the warm-up's), whatever the caller
            # made, and every length in one graph per batch size (as the
            # step's): guards that do not change from call to call
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

    def _step(self, token):
        """One compiled (or eager) decoding step at ``self.pos``; returns
        the logits and the greedy choice, and advances the position."""
        try:
            with self._cpu_options():
                logits, greedy = self._decode(
                    token, self.pos, self.is_token[:token.shape[0]],
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
        """The positions the next step attends over: on a CPU those
        written so far, rounded up to a multiple of ATTEND_BLOCK, so that
        a short text does not pay for attending over a long cache; their
        number is dynamic, so one compiled graph serves them all.
        Elsewhere the whole cache: a CUDA graph needs fixed shapes, and a
        GPU reads the cache quickly."""
        if self.device.type != "cpu" or self.max_seq_len <= ATTEND_BLOCK:
            return self.positions
        # Reading the position costs nothing on a CPU (no device to wait
        # for)
        n = -(-(int(self.pos) + 1) // ATTEND_BLOCK) * ATTEND_BLOCK
        positions = self.positions[:n]
        torch._dynamo.mark_dynamic(positions, 0)
        return positions

    # The backend of helpers.decoding's loop ---------------------------------

    # Asking the device whether every row has finished makes the host wait
    # for it: `generate` asks every few steps (the stream every step)
    check_every = EOS_CHECK_EVERY

    def check(self, batch_size, n_tokens, max_new_tokens):
        """Rows and length must fit the preallocated cache; weights that
        changed since the decoder was built (``load_state_dict``, a
        training step) build it again."""
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
        bool, False for left padding); return the last position's logits
        (batch, vocab_size) and greedy choice (batch, 1)."""
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
        """One new token per row (batch, 1): its logits and greedy choice.
        The compiled step is specialized on its input's layout: a column
        sliced from a longer tensor (beam search's ``tokens[:, -1:]``)
        has another stride at every step and would recompile each time."""
        return self._step(token.contiguous())

    def reorder(self, rows):
        """Row i continues row ``rows[i]`` (for beam search; ``rows`` may
        be longer than the batch so far, up to ``max_batch_size``)."""
        n = len(rows)
        for layer in self.decoder.layers:
            layer.k_cache[:n] = layer.k_cache.index_select(0, rows)
            layer.v_cache[:n] = layer.v_cache.index_select(0, rows)
        self.is_token[:n] = self.is_token.index_select(0, rows)

    # Generating ------------------------------------------------------------

    def stream(self, token_ids, max_new_tokens=None, **options):
        """``helpers.generate_stream`` on this backend: the same options,
        the same tokens."""
        return generate_stream(self, token_ids, max_new_tokens, **options)

    def generate(self, token_ids, max_new_tokens=None, **options):
        """``helpers.generate`` on this backend: the same options, the
        same tokens."""
        return generate(self, token_ids, max_new_tokens, **options)

    def beam_search(self, token_ids, max_new_tokens=None, **options):
        """``helpers.beam_search`` on this backend."""
        return beam_search(self, token_ids, max_new_tokens, **options)
