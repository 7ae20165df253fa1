"""Inductor's AMX matrix kernel, with the weights it reads prefetched.

A decoding step reads each weight once, from memory. Inductor's AMX
micro-kernel (bfloat16 products on Intel CPUs with AMX) loads a tile of
weights only when it multiplies it (its source leaves the prefetch as a
TODO), so a core has few reads in flight. ``prefetching_weights()``
makes the kernels compiled inside it ask for their weights 16 KiB ahead.
"""

import contextlib

# The end of the kernel's loop over K in inductor's template
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


@contextlib.contextmanager
def prefetching_weights():
    """Inductor's bfloat16 AMX kernel template prefetches its weights
    while inside; a template without the loop it knows stays as it is."""
    # The compiler first: its code generation imports it back
    import torch._inductor.compile_fx  # noqa: F401
    from torch._inductor.codegen.cpp_micro_gemm import CppMicroGemmAMX

    template = CppMicroGemmAMX.TEMPLATE_KERNEL
    if template.count(LOOP_END) == 1:
        CppMicroGemmAMX.TEMPLATE_KERNEL = template.replace(
            LOOP_END, PREFETCH + LOOP_END)
    try:
        yield
    finally:
        CppMicroGemmAMX.TEMPLATE_KERNEL = template
