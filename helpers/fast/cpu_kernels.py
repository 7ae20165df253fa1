"""Inductor's C++ matrix kernels, fitted to a decoding step.

A step multiplies one row per sequence by every weight matrix, reading
each weight once from memory; inductor's kernels are shaped for more
rows. Inside ``one_row_kernels()``:

- its AMX kernel (bfloat16 on Intel CPUs with AMX) loads a tile of
  weights only when it multiplies it (its source leaves the prefetch as
  a TODO): it asks for them 16 KiB ahead, so a core has reads in flight;
- its vector kernels (int8 weights; bfloat16 without AMX) give one row
  a block of eight registers of columns, not two, so that each
  multiply-add need not wait for the one before.

Inductor's graph cache reads no template: a pass that changes nothing
puts this file into its key.
"""

import contextlib

import torch

# The end of the AMX kernel's loop over K in inductor's template
LOOP_END = "        compute(k);\n    }\n\n    auto store_c"
PREFETCH = """\
        {
            // 16 KiB ahead: enough to hide memory's latency, within L1
            auto ahead = reinterpret_cast<const char*>(B + k * ldb) + 16384;
            int64_t bytes = {{block_k}} * ldb * sizeof(*B);
            for (int64_t i = 0; i < bytes; i += 64) {
                _mm_prefetch(ahead + i, _MM_HINT_T0);
            }
        }
"""


def _one_row(config, m, n, k, *args, dynamic_M=False, **kwargs):
    """A product of one row whose sizes the block divides."""
    _, block_n, block_k = config.register_blocking
    return m == 1 and not dynamic_M and n % block_n == 0 and k % block_k == 0


def _one_row_configs():
    """Register blocks of 1 row x 8 vectors of float32 columns (64 with
    AVX2, 128 with AVX-512), for int8 and bfloat16 weights."""
    from torch._inductor.codegen.cpp_micro_gemm import generate_gemm_config
    from torch._inductor.cpu_vec_isa import VecAVX2, VecAVX512

    return [config for isa, columns in ((VecAVX2, 64), (VecAVX512, 128))
            for weights, block_k in ((torch.int8, 64), (torch.bfloat16, 1))
            for config in generate_gemm_config(
                isa, [(1, columns, block_k)], torch.bfloat16, weights,
                torch.float, torch.float, extra_check=_one_row)]


def _cache_key():
    """A graph pass that changes nothing; its uuid is this file's hash."""
    from torch._inductor.custom_graph_pass import (
        CustomGraphPass,
        get_hash_for_files,
    )

    class ThisFile(CustomGraphPass):
        def __call__(self, graph):
            pass

        def uuid(self):
            return get_hash_for_files((__file__,))

    return ThisFile()


@contextlib.contextmanager
def one_row_kernels():
    """Kernels compiled inside are fitted as above (a template without
    the loop it knows stays as it is); all is restored on leaving."""
    # The compiler first: its code generation imports it back
    import torch._inductor.compile_fx  # noqa: F401
    from torch._inductor.codegen.cpp_micro_gemm import (
        CppMicroGemmAMX,
        CppMicroGemmFP32Vec,
        micro_gemm_configs,
    )

    template = CppMicroGemmAMX.TEMPLATE_KERNEL
    configs = micro_gemm_configs[CppMicroGemmFP32Vec]
    before = list(configs)
    if template.count(LOOP_END) == 1:
        CppMicroGemmAMX.TEMPLATE_KERNEL = template.replace(
            LOOP_END, PREFETCH + LOOP_END)
    configs.extend(_one_row_configs())
    try:
        with torch._inductor.config.patch(
                post_grad_custom_post_pass=_cache_key()):
            yield
    finally:
        CppMicroGemmAMX.TEMPLATE_KERNEL = template
        configs[:] = before
