"""The book's code for Chapter 2, as the book prints it: the single source
of truth for the listings the notebooks define (a test keeps them
identical). The book's package, ``reasoning_from_scratch/ch02.py``,
differs in small ways: its cached loop collects a list of tokens, and
its ``generate_stats`` has no ``print_tokens``.

- Listing 2.1 (section 2.5): ``get_device``, with one marked fix: the
  printed listing switches to the new ``fp32_precision`` API from
  PyTorch 2.9, but ``torch.compile`` in 2.9 and 2.10 still reads the
  legacy ``allow_tf32`` flags
  (https://github.com/pytorch/pytorch/issues/166387), so the new API is
  used from 2.11 on, as in the book's own package.
- Listing 2.2 (section 2.7): ``generate_text_basic``, the greedy loop.
- Listing 2.3 (section 2.7): ``generate_stats``, speed and memory. For
  timing that is fair on GPUs (synchronize, then read
  ``time.perf_counter()``), see ``helpers.timing``.
- Listing 2.4 (section 2.8): ``generate_text_basic_cache``, with the KV
  cache.
- Exercise 2.2: both loops as generators that hand over each token.

The loops are the book's, for one prompt at a time: the EOS check reads
``next_token.item()``, which needs a batch of one. For batches, sampling,
stop strings and argument checks, use ``helpers.generate``.
"""

import torch
from reasoning_from_scratch.qwen3 import KVCache


# Listing 2.1
def get_device(enable_tensor_cores=True):
    if torch.cuda.is_available():
        device = torch.device("cuda")
        print("Using NVIDIA CUDA GPU")
        if enable_tensor_cores:
            major, minor = map(int, torch.__version__.split(".")[:2])
            if (major, minor) >= (2, 11):  # Changed from the book: was
                # (2, 9); torch.compile in 2.9/2.10 reads only the
                # legacy flags below (pytorch/pytorch#166387)
                torch.backends.cuda.matmul.fp32_precision = "tf32"
                torch.backends.cudnn.conv.fp32_precision = "tf32"
            else:
                torch.backends.cuda.matmul.allow_tf32 = True
                torch.backends.cudnn.allow_tf32 = True
    elif torch.backends.mps.is_available():
        device = torch.device("mps")
        print("Using Apple Silicon GPU (MPS)")
    elif torch.xpu.is_available():
        device = torch.device("xpu")
        print("Using Intel GPU")
    else:
        device = torch.device("cpu")
        print("Using CPU")
    return device


# Listing 2.2
@torch.inference_mode()
def generate_text_basic(
    model,
    token_ids,
    max_new_tokens,
    eos_token_id=None
):
    input_length = token_ids.shape[1]
    model.eval()
    for _ in range(max_new_tokens):
        out = model(token_ids)[:, -1]
        next_token = torch.argmax(out, dim=-1, keepdim=True)
        if (eos_token_id is not None
                and next_token.item() == eos_token_id):
            break
        token_ids = torch.cat(
            [token_ids, next_token], dim=1)
    return token_ids[:, input_length:]


# Listing 2.3
def generate_stats(output_token_ids, tokenizer, start_time,
                   end_time, print_tokens=True):
    total_time = end_time - start_time
    print(f"Time: {total_time:.2f} sec")
    print(f"{int(output_token_ids.numel() / total_time)} tokens/sec")
    for name, backend in (("CUDA", getattr(torch, "cuda", None)),
                          ("XPU", getattr(torch, "xpu", None))):
        if backend is not None and backend.is_available():
            max_mem_bytes = backend.max_memory_allocated()
            max_mem_gb = max_mem_bytes / (1024 ** 3)
            print(f"Max {name} memory allocated: {max_mem_gb:.2f} GB")
            backend.reset_peak_memory_stats()
    if print_tokens:
        output_text = tokenizer.decode(output_token_ids.squeeze(0).tolist())
        print(f"\n{output_text}")


# Listing 2.4
@torch.inference_mode()
def generate_text_basic_cache(
    model,
    token_ids,
    max_new_tokens,
    eos_token_id=None
):
    input_length = token_ids.shape[1]
    model.eval()
    cache = KVCache(n_layers=model.cfg["n_layers"])
    model.reset_kv_cache()
    out = model(token_ids, cache=cache)[:, -1]
    for _ in range(max_new_tokens):
        next_token = torch.argmax(out, dim=-1, keepdim=True)
        if (eos_token_id is not None
                and next_token.item() == eos_token_id):
            break
        token_ids = torch.cat([token_ids, next_token], dim=1)
        out = model(next_token, cache=cache)[:, -1]
    return token_ids[:, input_length:]


# Exercise 2.2: the same loops, handing over each token as it is made
@torch.inference_mode()
def generate_text_basic_stream(
    model,
    token_ids,
    max_new_tokens,
    eos_token_id=None
):
    model.eval()
    for _ in range(max_new_tokens):
        out = model(token_ids)[:, -1]
        next_token = torch.argmax(out, dim=-1, keepdim=True)
        if (eos_token_id is not None
                and next_token.item() == eos_token_id):
            break
        yield next_token  # New: hand the token over right away
        token_ids = torch.cat(
            [token_ids, next_token], dim=1)


@torch.inference_mode()
def generate_text_basic_stream_cache(
    model,
    token_ids,
    max_new_tokens,
    eos_token_id=None
):
    model.eval()
    cache = KVCache(n_layers=model.cfg["n_layers"])
    model.reset_kv_cache()
    out = model(token_ids, cache=cache)[:, -1]
    for _ in range(max_new_tokens):
        next_token = torch.argmax(out, dim=-1, keepdim=True)
        if (eos_token_id is not None
                and next_token.item() == eos_token_id):
            break
        yield next_token  # New: hand the token over right away
        out = model(next_token, cache=cache)[:, -1]
