"""Pick the fastest available device (section 2.5)."""

import torch


def get_device(enable_tensor_cores=True):
    if not isinstance(enable_tensor_cores, bool):
        raise TypeError("enable_tensor_cores must be True or False")

    if torch.cuda.is_available():
        device = torch.device("cuda")
        print("Using NVIDIA CUDA GPU")

        if enable_tensor_cores:
            # TF32 tensor cores for float32 matmuls. torch 2.11 has a new
            # switch; torch.compile in 2.9 and 2.10 reads the legacy flags
            major, minor = map(int, torch.__version__.split(".")[:2])
            if (major, minor) >= (2, 11):
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
