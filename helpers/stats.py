"""Report generation speed and memory (section 2.7)."""

import torch


def generate_stats(output_token_ids, tokenizer, start_time, end_time,
                   print_tokens=True):
    """Print time, tokens/sec and the peak accelerator memory.

    The peak-memory counter is reset afterwards, so the next call measures
    the next run only. CPU memory is not reported: PyTorch has no counter
    for it. Pass times from ``time.perf_counter()`` taken after
    synchronizing the device.
    """
    if not isinstance(output_token_ids, torch.Tensor):
        raise TypeError(
            "output_token_ids must be the tensor a generate function "
            f"returned, got {type(output_token_ids).__name__}."
        )
    total_time = end_time - start_time
    if total_time <= 0:
        raise ValueError(
            f"end_time ({end_time}) must be later than start_time "
            f"({start_time}); take both from time.perf_counter()."
        )
    print(f"Time: {total_time:.2f} sec")
    print(f"{int(output_token_ids.numel() / total_time)} tokens/sec")

    device = output_token_ids.device
    for name in ("cuda", "xpu"):
        backend = getattr(torch, name, None)
        if device.type == name and backend.is_available():
            backend.synchronize()
            max_mem_gb = backend.max_memory_allocated() / 1024**3
            print(f"Max {name.upper()} memory allocated: {max_mem_gb:.2f} GB")
            backend.reset_peak_memory_stats()
    if device.type == "mps":
        # MPS keeps no peak counter: report what the driver holds now
        torch.mps.synchronize()
        mem_gb = torch.mps.driver_allocated_memory() / 1024**3
        print(f"MPS memory allocated (driver): {mem_gb:.2f} GB")

    if print_tokens:
        for row in output_token_ids.reshape(-1, output_token_ids.shape[-1]):
            print(f"\n{tokenizer.decode(row.tolist())}")
