"""Listing 2.1: pick the fastest available device (section 2.5).

The book's code, with one marked fix: the printed listing switches to the
new ``fp32_precision`` API from PyTorch 2.9, but ``torch.compile`` in 2.9
and 2.10 still reads the legacy ``allow_tf32`` flags
(https://github.com/pytorch/pytorch/issues/166387), so the new API is used
from 2.11 on, as in the book's own package.
"""

import torch


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
