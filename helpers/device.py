"""Pick the fastest available device (section 2.5)."""

import torch


def _torch_version():
    major, minor = torch.__version__.split("+")[0].split(".")[:2]
    return int(major), int(minor)


def get_device(enable_tensor_cores=True):
    """Return CUDA, MPS, XPU or CPU, in that order, and say which.

    With ``enable_tensor_cores``, float32 matrix multiplications on NVIDIA
    GPUs use TF32 tensor cores. From torch 2.11 that switch is
    ``fp32_precision = "tf32"``; before, it is the legacy ``allow_tf32``
    flags, which torch.compile in 2.9 and 2.10 still reads.
    """
    if not isinstance(enable_tensor_cores, bool):
        raise TypeError(
            "enable_tensor_cores must be True or False, "
            f"got {enable_tensor_cores!r}."
        )
    if torch.cuda.is_available():
        device = torch.device("cuda")
        print("Using NVIDIA CUDA GPU")
        if enable_tensor_cores:
            if _torch_version() >= (2, 11):
                torch.backends.cuda.matmul.fp32_precision = "tf32"
                torch.backends.cudnn.conv.fp32_precision = "tf32"
            else:
                torch.backends.cuda.matmul.allow_tf32 = True
                torch.backends.cudnn.allow_tf32 = True

    elif torch.backends.mps.is_available():
        device = torch.device("mps")
        print("Using Apple Silicon GPU (MPS)")

    elif hasattr(torch, "xpu") and torch.xpu.is_available():
        device = torch.device("xpu")
        print("Using Intel GPU")

    else:
        device = torch.device("cpu")
        print("Using CPU")

    return device
