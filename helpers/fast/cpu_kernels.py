"""Inductor's C++ matrix kernels, fitted to a decoding step.

A step multiplies one row per sequence by every weight matrix, reading
each weight once from memory; inductor's kernels are shaped for more
rows. Inside ``one_row_kernels()``:

- its AMX kernel (bfloat16 on Intel CPUs with AMX) loads a tile of
  weights only when it multiplies it (its source leaves the prefetch as
  a TODO): it asks for them 16 KiB ahead, so a core has reads in flight;
  so do its vector kernel for bfloat16 weights (CPUs without AMX or
  AVX-512 BF16) and ``DOT`` below, except on AMD's CPUs, whose
  prefetchers follow a kernel's stream of weights on their own: reads
  ahead on top slow them down (``reads_ahead``);
- its vector kernels (int8 weights; bfloat16 on those CPUs) give one
  row a block of eight registers of columns, not two, so that each
  multiply-add need not wait for the one before;
- bfloat16 weights on a CPU with AVX-512 BF16 and no AMX go to a kernel
  of our own (``DOT``) on ``vdpbf16ps``, which multiplies and adds 32
  pairs of bfloat16 in one instruction, with no conversion to float32
  (inductor's vector kernel converts every weight first).

Inductor's graph cache reads no template: a pass that changes nothing
puts this file, and whether kernels read ahead, into its key.
"""

import contextlib
import functools

import torch

from ..cpu_kind import cpu_vendor

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


@functools.cache
def reads_ahead():
    """Whether the kernels read weights ahead themselves: not on AMD's
    CPUs (see the module's docstring)."""
    return cpu_vendor() != "AuthenticAMD"


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


# Where inductor's vector kernel loads bfloat16 weights, and a read of
# the same line 16 KiB ahead (once per cache line)
VEC_LOAD = """\
            auto b = VectorizedIn::loadu(B + k * ldb + col * VLEN, VLEN);
"""
VEC_PREFETCH = """\
            if constexpr (col * VLEN * sizeof(*B) % 64 == 0) {
                _mm_prefetch((const char*)(B + k * ldb + col * VLEN) + 16384,
                             _MM_HINT_T0);
            }
"""


# One row times a block of K x 128 bfloat16 weights, packed in pairs of
# rows (VNNI2: the weights of rows k and k + 1 side by side), into eight
# registers of float32 sums; where kernels read ahead, a weight is asked
# for 16 KiB before it is used, as in the AMX kernel
DOT = r"""
template <bool accum>
__attribute__((target("avx512bf16"))) void {{kernel_name}}_dot(
    const {{input_t}}* A, const {{input2_t}}* B, float* C, int64_t K) {
    __m512 c[8];
    for (int i = 0; i < 8; i++) {
        c[i] = accum ? _mm512_loadu_ps(C + 16 * i) : _mm512_setzero_ps();
    }
    for (int64_t k = 0; k < K; k += 2) {
        int32_t pair;  // A[k] and A[k + 1], in every lane
        std::memcpy(&pair, A + k, sizeof(pair));
        auto a = (__m512bh)_mm512_set1_epi32(pair);
        for (int i = 0; i < 8; i++) {
            auto b = B + k * 128 + 32 * i;
{%- if read_ahead %}
            _mm_prefetch((const char*)b + 16384, _MM_HINT_T0);
{%- endif %}
            auto w = (__m512bh)_mm512_loadu_si512(b);
            c[i] = _mm512_dpbf16_ps(c[i], a, w);
        }
    }
    for (int i = 0; i < 8; i++) {
        _mm512_storeu_ps(C + 16 * i, c[i]);
    }
}

{{declare_kernel}} {
    // inductor packs constant weights in blocks (bf16 templates take no
    // other weights), and calls this once per block
    {{kernel.assert_function}}(M == 1 && N == 128 && ldb == 128,
                               "one row, one packed block");
    {{kernel_name}}_dot<accum>(A, B, C, K);
}
"""


def _bf16_dot(config, m, n, k, *args, vec_isa, **kwargs):
    """One row of bfloat16 on a CPU with AVX-512 BF16 (inductor builds
    for it on Linux and macOS)."""
    return (vec_isa.is_avx512_bf16_supported()
            and _one_row(config, m, n, k, **kwargs))


@functools.cache
def _dot_kernel():
    """Inductor's micro-kernel class for ``DOT``, and its one config
    (AVX-512; on AMX CPUs the AMX kernel ranks first)."""
    from torch._inductor.codegen.common import KernelTemplate
    from torch._inductor.codegen.cpp_micro_gemm import (
        CppMicroGemm,
        LayoutType,
        generate_gemm_config,
    )
    from torch._inductor.cpu_vec_isa import VecAVX512

    class CppMicroGemmBF16Dot(CppMicroGemm):
        def codegen_define(self, kernel):
            return KernelTemplate._template_from_string(DOT).render(
                declare_kernel=self.get_kernel_declaration(), kernel=kernel,
                read_ahead=reads_ahead(), **self.get_common_options())

        def get_b_layout(self):
            return LayoutType.VNNI2

    return CppMicroGemmBF16Dot, generate_gemm_config(
        VecAVX512, [(1, 128, 2)], torch.bfloat16, torch.bfloat16,
        torch.float, torch.float, extra_check=_bf16_dot)


def _cache_key():
    """A graph pass that changes nothing; its uuid is this file's hash
    and whether the kernels read ahead."""
    from torch._inductor.custom_graph_pass import (
        CustomGraphPass,
        get_hash_for_files,
    )

    class ThisFile(CustomGraphPass):
        def __call__(self, graph):
            pass

        def uuid(self):
            return get_hash_for_files((__file__,)), reads_ahead()

    return ThisFile()


@contextlib.contextmanager
def one_row_kernels():
    """Kernels compiled inside are fitted as above (a template without
    the line it knows stays as it is); all is restored on leaving."""
    # The compiler first: its code generation imports it back
    import torch._inductor.compile_fx  # noqa: F401
    from torch._inductor.codegen.cpp_micro_gemm import (
        CppMicroGemmAMX,
        CppMicroGemmFP32Vec,
        micro_gemm_configs,
    )

    # (kernel class, the line its read ahead goes before, the read ahead)
    reads = ((CppMicroGemmAMX, LOOP_END, PREFETCH),
             (CppMicroGemmFP32Vec, VEC_LOAD, VEC_PREFETCH))
    templates = {cls: cls.TEMPLATE_KERNEL for cls, _, _ in reads}
    for cls, line, ahead in reads if reads_ahead() else ():
        if templates[cls].count(line) == 1:
            cls.TEMPLATE_KERNEL = templates[cls].replace(line, ahead + line)
    configs = micro_gemm_configs[CppMicroGemmFP32Vec]
    before = list(configs)
    configs.extend(_one_row_configs())
    dot, dot_configs = _dot_kernel()
    added = micro_gemm_configs.setdefault(dot, dot_configs) is dot_configs
    try:
        with torch._inductor.config.patch(
                post_grad_custom_post_pass=_cache_key()):
            yield
    finally:
        for cls, template in templates.items():
            cls.TEMPLATE_KERNEL = template
        configs[:] = before
        if added:
            del micro_gemm_configs[dot]
