"""Report generation speed and memory (section 2.7)."""

import torch

from .timing import peak_memory_gb, reset_peak_memory, synchronize


def generate_stats(output_token_ids, tokenizer, start_time, end_time,
                   print_tokens=True):
    if not isinstance(output_token_ids, torch.Tensor):
        raise TypeError("output_token_ids must be a generated tensor")
    total_time = end_time - start_time
    if total_time <= 0:
        raise ValueError(
            "end_time must be later than start_time; take both from "
            "time.perf_counter()"
        )
    print(f"Time: {total_time:.2f} sec")
    print(f"{int(output_token_ids.numel() / total_time)} tokens/sec")

    device = output_token_ids.device
    synchronize(device)
    max_mem_gb = peak_memory_gb(device)
    if max_mem_gb is not None:  # CUDA and XPU keep a peak counter
        print(f"Max {device.type.upper()} memory allocated: "
              f"{max_mem_gb:.2f} GB")
        reset_peak_memory(device)  # The next call measures afresh
    elif device.type == "mps":  # MPS has no peak: report current use
        mem_gb = torch.mps.driver_allocated_memory() / 1024**3
        print(f"MPS memory allocated (driver): {mem_gb:.2f} GB")

    if print_tokens:
        for row in torch.atleast_2d(output_token_ids):
            print(f"\n{tokenizer.decode(row.tolist())}")
