"""The book's Qwen3Model rewritten for fast decoding: a plain ``nn.Module``.

A decoding step reads every weight once, so its speed is the speed of
reading memory. ``FastDecoder`` reads the weights as few times as it can:

- a KV cache allocated once and written in place, so every step has the
  same shapes and compiles once;
- queries, keys and values in one matrix product, and the feed forward's
  gate and up projections in another (the model's own weights, moved
  into one tensor each: no second copy);
- with ``int8=True``, int8 copies of the matrices, one scale per output
  row (half the bytes of bfloat16, for a small error in the logits);
- in a step, the query heads that share a key/value head read its cache
  once, as the rows of one call, or each head is a row of its own
  (``enable_gqa``): which is faster depends on the CPU's attention
  kernels, so on a CPU both are timed once.
"""

import functools

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..decoding.padding import attention_allowed
from ..timing import median_seconds

# Up to this many rows (tokens x batch) the int8 kernel, beyond it the
# weights dequantized once (see _linear)
INT8_KERNEL_MAX_ROWS = 32


@functools.cache
def grouped_rows_faster(dtype, n_heads, n_kv, head_dim, positions=512):
    """Whether PyTorch's CPU attention takes a step's query faster with the
    heads that share a key/value head as the rows of one call than with a
    row per head: its kernels differ by CPU and dtype (several times, in
    bfloat16), so both are timed once per process, alternating."""
    q = torch.full((1, n_heads, 1, head_dim), 0.5, dtype=dtype)
    kv = torch.full((1, n_kv, positions, head_dim), 0.5, dtype=dtype)
    mask = torch.ones(1, 1, 1, positions, dtype=torch.bool)
    attend = functools.partial(F.scaled_dot_product_attention, attn_mask=mask)
    calls = {True: functools.partial(attend, q.reshape(1, n_kv, -1, head_dim),
                                     kv, kv),
             False: functools.partial(attend, q, kv, kv, enable_gqa=True)}
    best = dict.fromkeys(calls, float("inf"))  # grouped rows: seconds
    for _ in range(5):
        for grouped, call in calls.items():
            best[grouped] = min(best[grouped], median_seconds(call, "cpu", 1))
    return best[True] <= best[False]


def _rms_norm(x, scale, eps):
    """The book's RMSNorm, step for step (float32 inside)."""
    dtype = x.dtype
    x = x.to(torch.float32)
    variance = x.pow(2).mean(dim=-1, keepdim=True)
    return (x * torch.rsqrt(variance + eps) * scale).to(dtype)


def _rope(x, cos, sin):
    """The book's rotary embedding: x (batch, heads, n, head_dim), cos and
    sin (n, head_dim)."""
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return (x * cos + rotated * sin).to(x.dtype)


def _quantize_int8(weight):
    """``weight`` (out, in) as int8 values and one scale per output row:
    w ~ q * scale, with the row's largest magnitude at 127."""
    w = weight.detach().float()
    scale = w.abs().amax(dim=1).clamp(min=1e-12) / 127
    q = torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8)
    return q, scale.to(weight.dtype)


def _linear(x, weight, scale, compute_dtype=None):
    """``F.linear(x, weight)``, in ``compute_dtype`` if given (the result
    in x's dtype). Int8 weights (``scale`` not None) go through the int8
    kernel for a few rows (in bfloat16 on a CPU); for many rows arithmetic
    is the cost, so the weights are dequantized once for the float one."""
    if scale is not None and (
            x.numel() // x.shape[-1] <= INT8_KERNEL_MAX_ROWS):
        # On a CPU the kernel is vectorized for bfloat16 rows only
        dtype = torch.bfloat16 if x.device.type == "cpu" else x.dtype
        out = torch.ops.aten._weight_int8pack_mm(
            x.reshape(-1, x.shape[-1]).to(dtype), weight, scale.to(dtype))
        return out.view(*x.shape[:-1], weight.shape[0]).to(x.dtype)
    dtype = compute_dtype or x.dtype
    weight = weight.to(dtype)  # no copy where it is already
    if scale is not None:
        weight = weight * scale.to(dtype)[:, None]
    return F.linear(x.to(dtype), weight).to(x.dtype)


def _shared(tensor):
    """A frozen parameter on the same memory as ``tensor``."""
    return nn.Parameter(tensor.detach(), requires_grad=False)


def _set_weight(module, name, weight, int8):
    """``module.<name>`` is ``weight``, or its int8 copy with
    ``module.<name>_scale``."""
    scale = None
    if int8:
        weight, scale = _quantize_int8(weight)
        module.register_buffer(name, weight)
    else:
        setattr(module, name, weight)
    module.register_buffer(f"{name}_scale", scale)


def _consecutive(params):
    """True if ``params`` lie one after the other in one storage."""
    first, offset = params[0], params[0].storage_offset()
    for p in params:
        if (not p.is_contiguous() or p.shape[1:] != first.shape[1:]
                or p.untyped_storage().data_ptr()
                != first.untyped_storage().data_ptr()
                or p.storage_offset() != offset):
            return False
        offset += p.numel()
    return True


def _fuse(params):
    """One tensor of ``params`` concatenated along dim 0, each param now a
    view of it: one matmul instead of several, no extra memory. Params
    fused before (by another decoder) keep their tensor, so decoders
    share it and the model's weights stay put."""
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
        weight = att.W_key.weight
        self.register_buffer("k_cache", torch.zeros(
            cache_shape, dtype=weight.dtype, device=weight.device))
        self.register_buffer("v_cache", torch.zeros_like(self.k_cache))


class FastDecoder(nn.Module):
    """The forward pass of ``model`` (the book's ``Qwen3Model``) with a
    static KV cache of ``max_batch_size`` rows and ``max_seq_len +
    spare`` positions: ``prefill`` reads a prompt, ``forward`` takes one
    step with static shapes. ``prompt_dtype`` (or None: the model's)
    is the dtype of the prompt's matrix products."""

    def __init__(self, model, max_seq_len, max_batch_size, int8=False,
                 spare=0, prompt_dtype=None):
        super().__init__()
        cfg = model.cfg
        self.n_heads = cfg["n_heads"]
        self.n_kv = cfg["n_kv_groups"]
        self.head_dim = cfg["head_dim"] or cfg["emb_dim"] // cfg["n_heads"]
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
        self.prompt_dtype = prompt_dtype
        self.group_heads = self.cos.device.type != "cpu" or (
            grouped_rows_faster(self.tok_emb.dtype, self.n_heads, self.n_kv,
                                self.head_dim))

    @property
    def weight_bytes(self):
        """Bytes of weights a step reads: every matrix and norm, not the
        embedding (one row per token)."""
        tensors = [*self.named_parameters(), *self.named_buffers()]
        return sum(t.numel() * t.element_size() for name, t in tensors
                   if name != "tok_emb" and not name.endswith(
                       ("_cache", "cos", "sin")))

    @property
    def kv_cache_bytes(self):
        """Memory of the KV cache, keys and values."""
        return sum(b.numel() * b.element_size()
                   for name, b in self.named_buffers()
                   if name.endswith("_cache"))

    def _block(self, x, layer, cos, sin, attend, compute_dtype=None):
        """Layer ``layer`` on x (batch, n, emb_dim) at the positions of
        cos and sin; ``attend`` writes keys and values and attends."""
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
        greedy choice (batch, 1): cheaper inside the compiled step than
        as a call of its own."""
        x = _rms_norm(x, self.final_norm, self.final_eps)
        logits = _linear(x, self.out_head, self.out_head_scale)
        return logits, logits.argmax(dim=-1, keepdim=True)

    def prefill(self, token_ids, mask=None):
        """Read the prompts (batch, n) from position 0 into the cache;
        return the last position's logits and greedy choice. ``mask``
        (bool, batch x n) is False for left padding."""
        n = token_ids.shape[1]
        attn_mask = None if mask is None else attention_allowed(mask, 0, n)

        def attend(q, k, v, k_cache, v_cache):
            k_cache[:, :, :n] = k
            v_cache[:, :, :n] = v
            return F.scaled_dot_product_attention(
                q, k, v, attn_mask=attn_mask, is_causal=attn_mask is None,
                enable_gqa=True)

        x = F.embedding(token_ids, self.tok_emb)
        for layer in self.layers:
            x = self._block(x, layer, self.cos[:n], self.sin[:n], attend,
                            self.prompt_dtype)
        return self._logits(x[:, -1])

    def forward(self, token, pos, is_token, positions):
        """One token per row (batch, 1) at position ``pos`` (a (1,)
        tensor); return its logits and greedy choice. ``is_token`` (bool,
        batch x n or more) is False for padding; attention reads the
        cache's first n positions, ``positions`` (0 to n - 1, n > pos)."""
        n = positions.shape[0]
        cos = self.cos.index_select(0, pos)  # (1, head_dim)
        sin = self.sin.index_select(0, pos)
        # (batch, 1, 1, n)
        mask = (positions <= pos) & is_token[:, None, None, :n]

        def attend(q, k, v, k_cache, v_cache):
            k_cache.index_copy_(2, pos, k)
            v_cache.index_copy_(2, pos, v)
            b = q.shape[0]
            if self.group_heads:
                # The heads that share a key/value head become its rows,
                # (b, heads, 1, d) -> (b, kv, group, d): the cache read once
                q = q.reshape(b, self.n_kv, self.n_heads // self.n_kv, -1)
            context = F.scaled_dot_product_attention(
                q, k_cache[:, :, :n], v_cache[:, :, :n], attn_mask=mask,
                enable_gqa=not self.group_heads)
            return context.reshape(b, self.n_heads, 1, -1)

        x = F.embedding(token, self.tok_emb)
        for layer in self.layers:
            x = self._block(x, layer, cos, sin, attend)
        return self._logits(x[:, -1])
