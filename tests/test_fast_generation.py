"""FastGenerator: the same tokens as the book's loop and as
helpers.generate, in float32; bad input; the compile fallback."""

import contextlib
import time

import pytest
import torch
import torch._inductor.compile_fx  # noqa: F401 (before its code generation)
import torch.nn.functional as F
from reasoning_from_scratch.qwen3 import QWEN_CONFIG_06_B
from torch._inductor.codegen.cpp_micro_gemm import (
    CppMicroGemmAMX,
    CppMicroGemmFP32Vec,
    micro_gemm_configs,
)
from torch._inductor.utils import run_and_get_code

from bad_input import BAD_IDS
from helpers import (
    beam_search,
    generate_text_basic_cache,
    left_pad,
)
from helpers.decoding import generate, generate_stream
from helpers.dtype import to_dtype
from helpers.fast import FastGenerator, cpu_kernels, decoder, generator
from helpers.fast.cpu_kernels import LOOP_END, one_row_kernels, reads_ahead
from helpers.fast.decoder import _quantize_int8
from helpers.files.random_weights import seeded_model
from helpers.tiny_model import TINY_QWEN3_CONFIG, tiny_qwen3_model

PROMPT = torch.tensor([[1, 5, 9, 2, 7]])
BATCH = torch.tensor([[1, 5, 9, 2, 7], [3, 3, 8, 1, 4], [9, 9, 9, 0, 2]])


@pytest.fixture
def fast(tiny_model):
    return FastGenerator(tiny_model, max_seq_len=48, max_batch_size=4,
                         compile=False)


@pytest.mark.parametrize("seed", range(5))
def test_greedy_equals_the_book_loop(seed):
    model = tiny_qwen3_model(seed)
    prompt = torch.randint(0, 64, (1, 3 + seed),
                           generator=torch.Generator().manual_seed(seed))
    expected = generate_text_basic_cache(model, prompt, 30)
    fast = FastGenerator(model, max_seq_len=40, compile=False)
    assert torch.equal(fast.generate(prompt, 30), expected)
    assert torch.equal(generate_text_basic_cache(model, prompt, 30),
                       expected)  # the book's loop still works the same


def test_batches_and_eos_equal_helpers_generate(tiny_model, fast):
    free = generate(tiny_model, BATCH, 20).tolist()
    eos = [free[0][5], free[2][9]]
    for kwargs in ({}, {"eos_token_id": eos}, {"eos_token_id": eos[0]}):
        expected = generate(tiny_model, BATCH, 20, **kwargs)
        assert torch.equal(fast.generate(BATCH, 20, **kwargs), expected)
        streamed = torch.cat(list(fast.stream(BATCH, 20, **kwargs)), 1)
        assert torch.equal(streamed, expected)


def test_single_prompt_stops_before_eos(tiny_model, fast):
    free = generate_text_basic_cache(tiny_model, PROMPT, 20)[0].tolist()
    eos = free[6]
    expected = generate_text_basic_cache(tiny_model, PROMPT, 20, eos)
    assert torch.equal(fast.generate(PROMPT, 20, eos_token_id=eos),
                       expected)
    first = fast.generate(PROMPT, 20, eos_token_id=free[0])
    assert first.shape == (1, 0)


def test_sampling_equals_helpers_generate_with_the_same_seed(tiny_model,
                                                             fast):
    kwargs = {"temperature": 0.9, "top_k": 20, "top_p": 0.9}
    expected = generate(tiny_model, BATCH, 15,
                        generator=torch.Generator().manual_seed(3), **kwargs)
    got = fast.generate(BATCH, 15, generator=torch.Generator().manual_seed(3),
                        **kwargs)
    assert torch.equal(got, expected)


def test_weights_are_shared_not_copied(tiny_model):
    before = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    fast = FastGenerator(tiny_model, max_seq_len=16, compile=False)
    for key, value in tiny_model.state_dict().items():
        assert torch.equal(value, before[key]), key
    att = tiny_model.trf_blocks[0].att
    fused = fast.decoder.layers[0].wqkv
    assert att.W_query.weight.data_ptr() == fused.data_ptr()


def test_kv_cache_size_follows_max_seq_len():
    model = tiny_qwen3_model()
    fast = FastGenerator(model, max_seq_len=32, max_batch_size=2,
                         compile=False)
    cfg = TINY_QWEN3_CONFIG
    per_token = 2 * cfg["n_layers"] * cfg["n_kv_groups"] * cfg["head_dim"]
    assert fast.kv_cache_bytes == per_token * 32 * 2 * 4  # float32


def test_compiled_step_gives_the_same_tokens(tiny_model):
    expected = generate(tiny_model, BATCH[:2], 12)
    fast = FastGenerator(tiny_model, max_seq_len=24, max_batch_size=2,
                         compile=True)
    assert torch.equal(fast.generate(BATCH[:2], 12), expected)
    assert fast.compiled and fast.warm_up_seconds > 0


@pytest.mark.slow  # compiles three graphs
def test_compiled_prefill_reads_every_prompt_length_with_one_graph(
        tiny_model):
    fast = FastGenerator(tiny_model, max_seq_len=40, max_batch_size=4,
                         compile=False, compile_prefill=True)
    assert fast.compile_prefill
    fast.warm_up()  # compiles the prefill for any length
    assert not FastGenerator(tiny_model, 8, compile=False).compile_prefill
    graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    vocab_size = TINY_QWEN3_CONFIG["vocab_size"]
    for prompt in (PROMPT, torch.randint(0, vocab_size, (1, 23)),
                   torch.randint(0, vocab_size, (1, 2))):
        n = prompt.shape[1]
        with torch.inference_mode():
            expected = fast.decoder.prefill(prompt)  # eager
            cache = fast.decoder.layers[-1].v_cache[:, :, :n].clone()
            got = fast.prefill(prompt)
        for a, b in zip(got, expected, strict=True):  # logits, greedy
            torch.testing.assert_close(a, b)
        torch.testing.assert_close(fast.decoder.layers[-1].v_cache[:, :, :n],
                                   cache)
        assert torch.equal(fast.generate(prompt, 6),
                           generate(tiny_model, prompt, 6))
    # A prompt that fills the cache: the same graph
    full = torch.randint(0, vocab_size, (1, fast.max_seq_len))
    with torch.inference_mode():
        expected = fast.decoder.prefill(full)
        got = fast.prefill(full)
    torch.testing.assert_close(got[0], expected[0])
    assert fast.compile_prefill
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == graphs
    # A batch of 3, and a left-padded batch of 4 (with a mask): a graph
    # each (as the step's), the same tokens
    assert torch.equal(fast.generate(BATCH, 6), generate(tiny_model, BATCH, 6))
    token_ids, attention_mask = left_pad(PROMPTS, pad_token_id=0)
    assert torch.equal(
        fast.generate(token_ids, 6, attention_mask=attention_mask),
        generate(tiny_model, token_ids, 6, attention_mask=attention_mask))


def test_a_failing_prefill_compiler_falls_back_with_one_message(
        tiny_model, capsys):
    fast = FastGenerator(tiny_model, max_seq_len=24, compile=False)

    def broken(token_ids, mask):
        raise RuntimeError("InvalidCxxCompiler: no working C++ compiler")

    fast._prefill, fast.compile_prefill = broken, True
    out = fast.generate(PROMPT, 5)
    assert torch.equal(out, generate_text_basic_cache(tiny_model, PROMPT, 5))
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed == ["Compiling the prefill failed (RuntimeError: "
                       "InvalidCxxCompiler: no working C++ compiler); "
                       "reading prompts without torch.compile."]
    assert not fast.compile_prefill


def test_a_cpu_with_slow_bfloat16_reads_prompts_in_float32(
        avx2_only_timings, monkeypatch):
    """Without bfloat16 instructions a prompt's matrix products run in
    float32 on the bfloat16 weights (3-5x faster there); the decoding
    step and the output layer's one row stay bfloat16."""
    cfg = {**TINY_QWEN3_CONFIG, "dtype": torch.bfloat16}
    model = tiny_qwen3_model(cfg=cfg)
    fast = FastGenerator(model, 40, max_batch_size=2, compile=False)
    assert fast.decoder.prompt_dtype == torch.float32
    reference = FastGenerator(to_dtype(tiny_qwen3_model(cfg=cfg),
                                       torch.float32), 40,
                              max_batch_size=2, compile=False)
    assert reference.decoder.prompt_dtype is None  # float32 already
    prompt = torch.randint(0, cfg["vocab_size"], (2, 30))
    with torch.inference_mode():
        expected = reference.prefill(prompt)[0]
    seen, original = [], torch.nn.functional.linear

    def linear(x, weight):  # (rows, dtype of x, dtype of the weights)
        seen.append((x.numel() // x.shape[-1], x.dtype, weight.dtype))
        return original(x, weight)

    monkeypatch.setattr(decoder.F, "linear", linear)
    with torch.inference_mode():
        logits = fast.prefill(prompt)[0]
        fast.step(logits.argmax(-1, keepdim=True))
    per_block = 4 * cfg["n_layers"]  # qkv, out, gate and up, down
    bf16 = torch.bfloat16
    assert seen == ([(60, torch.float32, torch.float32)] * per_block
                    + [(2, bf16, bf16)]  # the prompt's last position
                    + [(2, bf16, bf16)] * (per_block + 1))  # the step
    torch.testing.assert_close(logits.float(), expected, atol=0.02, rtol=0)


@pytest.mark.parametrize("slow", ["grouped", "row per head"])
def test_a_step_attends_the_way_timed_faster(monkeypatch, slow):
    """On a CPU the query heads that share a key/value head are the rows
    of one call, or each head has a row (enable_gqa): the faster of the
    two, timed once per model shape and dtype."""
    attention = F.scaled_dot_product_attention

    def timed(q, *args, enable_gqa=False, **kwargs):
        if enable_gqa == (slow == "row per head"):
            time.sleep(0.002)
        return attention(q, *args, enable_gqa=enable_gqa, **kwargs)

    monkeypatch.setattr(decoder.F, "scaled_dot_product_attention", timed)
    decoder.grouped_rows_faster.cache_clear()
    try:
        fast = FastGenerator(tiny_qwen3_model(), 40, compile=False)
    finally:
        decoder.grouped_rows_faster.cache_clear()
    assert fast.decoder.group_heads == (slow == "row per head")


def test_a_step_attends_alike_with_a_row_per_head_or_per_shared_head():
    """Both ways of giving the query heads rows attend alike."""
    cfg = {**TINY_QWEN3_CONFIG, "dtype": torch.bfloat16}
    fast = FastGenerator(tiny_qwen3_model(cfg=cfg), 40, max_batch_size=2,
                         compile=False)
    token_ids, mask = left_pad([[1, 5, 9, 2, 7], [3, 8]], pad_token_id=0)
    tokens, logits = [], {}
    with torch.inference_mode():
        for group_heads in (False, True):
            fast.decoder.group_heads = group_heads
            _, token = fast.prefill(token_ids, mask.bool())
            steps = []
            for i in range(6):
                step_logits, greedy = fast.step(token)
                if not group_heads:
                    tokens.append(greedy)
                token = tokens[i]  # the same tokens in, whatever a tie does
                steps.append(step_logits.float())
            logits[group_heads] = torch.stack(steps)
    torch.testing.assert_close(logits[False], logits[True], atol=0.02,
                               rtol=0)


def test_int8_weights_round_to_the_nearest_step():
    weight = torch.randn(6, 40, generator=torch.Generator().manual_seed(0))
    weight[2] = 0  # a row of zeros stays zeros
    q, scale = _quantize_int8(weight)
    assert q.dtype == torch.int8 and scale.shape == (6,)
    assert int(q.abs().max()) == 127
    error = (q.float() * scale[:, None] - weight).abs()
    assert bool((error <= scale[:, None] / 2 + 1e-7).all())
    assert not q[2].any()


def test_int8_weights_stay_close_to_the_models_own(tiny_model):
    own = FastGenerator(tiny_model, max_seq_len=24, compile=False)
    int8 = FastGenerator(tiny_model, max_seq_len=24, compile=False,
                         weights="int8")
    logits, _ = own.prefill(PROMPT)
    logits8, _ = int8.prefill(PROMPT)
    # Each weight within half a step of 1/127 of its row's largest: the
    # logits move by a small fraction of their spread
    assert float((logits - logits8).abs().max()) < 0.05 * float(
        logits.std())
    assert not torch.equal(logits, logits8)  # int8 really was read
    for layer in int8.decoder.layers:
        assert layer.wqkv.dtype == torch.int8
    # int8 and one float32 scale per row instead of float32 weights
    assert int8.weight_bytes < 0.3 * own.weight_bytes
    # The model itself keeps its weights
    assert tiny_model.trf_blocks[0].att.W_query.weight.dtype == (
        torch.float32)


def test_int8_prompt_reading_dequantizes_the_same_weights(tiny_model,
                                                          monkeypatch):
    prompt = torch.arange(40).remainder(64).unsqueeze(0)  # > 32 rows
    int8 = FastGenerator(tiny_model, max_seq_len=48, compile=False,
                         weights="int8")
    dequantized, _ = int8.prefill(prompt)
    monkeypatch.setattr(decoder, "INT8_KERNEL_MAX_ROWS", 10**9)
    kernel, _ = int8.prefill(prompt)
    # The kernel reads bfloat16 rows on a CPU: equal to bfloat16's precision
    torch.testing.assert_close(dequantized, kernel, rtol=0.02, atol=0.02)


def test_compiled_int8_step_gives_the_eager_tokens(tiny_model):
    eager = FastGenerator(tiny_model, max_seq_len=24, max_batch_size=2,
                          compile=False, weights="int8")
    fast = FastGenerator(tiny_model, max_seq_len=24, max_batch_size=2,
                         compile=True, weights="int8")
    assert torch.equal(fast.generate(BATCH[:2], 12),
                       eager.generate(BATCH[:2], 12))
    assert fast.compiled


@pytest.mark.slow  # compiles for batch sizes 1 and 3
def test_compiled_beam_search_compiles_once(tiny_model, capsys):
    """Beam search feeds the step a column of a growing tensor, whose
    stride changes every step: it must not recompile each time (it hit
    dynamo's limit of 8 and fell back to eager)."""
    expected = beam_search(tiny_model, PROMPT, 20, beam_width=3)
    fast = FastGenerator(tiny_model, max_seq_len=32, max_batch_size=3,
                         compile=True)
    got = fast.beam_search(PROMPT, 20, beam_width=3)
    assert torch.equal(got[0], expected[0])
    assert fast.compiled and "failed" not in capsys.readouterr().out


@pytest.mark.parametrize("compile", [
    False, pytest.param(True, marks=pytest.mark.slow),  # compiles
])
def test_a_long_cache_attends_over_the_positions_written_so_far(compile,
                                                                capsys):
    """On a CPU a step reads the cache's first positions, in blocks of
    ATTEND_BLOCK, not the whole cache: the same tokens as the book's
    model all the way to the end of the cache (every block and the last,
    shorter one, in a left-padded batch), and one compiled graph for every
    length."""
    cfg = {**TINY_QWEN3_CONFIG, "context_length": 512}
    model = seeded_model(cfg, 7).eval()
    block = generator.ATTEND_BLOCK
    max_seq_len = 2 * block + 20
    token_ids, attention_mask = left_pad(PROMPTS[:2], pad_token_id=0)
    n_new = max_seq_len - token_ids.shape[1]  # fills the cache
    expected = generate(model, token_ids, n_new,
                        attention_mask=attention_mask)
    fast = FastGenerator(model, max_seq_len=max_seq_len, max_batch_size=2,
                         compile=compile)
    fast.warm_up(2)
    graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    lengths = []
    step = fast._step
    fast._step = lambda token: (lengths.append(fast._attended().shape[0]),
                                step(token))[1]
    got = fast.generate(token_ids, n_new, attention_mask=attention_mask)
    assert torch.equal(got, expected)
    assert sorted(set(lengths)) == [block, 2 * block, max_seq_len]
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == graphs
    assert fast.compiled == compile and "failed" not in (
        capsys.readouterr().out)


PROMPTS = [[5, 9, 14, 3, 7, 22], [8, 1], [40, 2, 3], [17]]


@pytest.mark.parametrize("compile", [
    False, pytest.param(True, marks=pytest.mark.slow),  # compiles twice
])
def test_left_padded_rows_equal_each_prompt_alone(tiny_model, compile):
    fast = FastGenerator(tiny_model, max_seq_len=24, max_batch_size=4,
                         compile=compile)
    token_ids, attention_mask = left_pad(PROMPTS, pad_token_id=0)
    eos = generate(tiny_model, torch.tensor([PROMPTS[1]]), 12)[0, 4].item()
    for options in ({"eos_token_id": eos}, {}):
        out = fast.generate(token_ids, 12, attention_mask=attention_mask,
                            **options)
        assert torch.equal(out, generate(tiny_model, token_ids, 12,
                                         attention_mask=attention_mask,
                                         **options))
        streamed = torch.cat(list(fast.stream(
            token_ids, 12, attention_mask=attention_mask, **options)), 1)
        assert torch.equal(streamed, out)
    for row, prompt in enumerate(PROMPTS):  # each prompt alone, no EOS
        alone = generate(tiny_model, torch.tensor([prompt]), 12)
        assert out[row].tolist() == alone[0].tolist()
    unmasked = fast.generate(token_ids, 12)  # after a padded batch:
    assert torch.equal(unmasked, generate(tiny_model, token_ids, 12))


def test_fast_path_refuses_a_right_padded_mask_and_warns_without_one(fast):
    token_ids = torch.tensor([[5, 9, 14], [8, 1, 2]])
    with pytest.raises(ValueError, match="on the left"):
        fast.generate(token_ids, 3, attention_mask=torch.tensor(
            [[1, 1, 1], [1, 1, 0]]))
    with pytest.warns(UserWarning, match="right-padding"):
        fast.generate(token_ids, 3, eos_token_id=2)


def test_a_failing_compiler_falls_back_with_one_message(tiny_model,
                                                        capsys):
    fast = FastGenerator(tiny_model, max_seq_len=24, compile=False)

    def broken(token, pos, is_token):
        raise RuntimeError("InvalidCxxCompiler: no working C++ compiler")

    fast._decode, fast.compiled = broken, True
    fast.warm_up_seconds = 0.0
    out = fast.generate(PROMPT, 5)
    assert torch.equal(out, generate_text_basic_cache(tiny_model, PROMPT, 5))
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1 and "without torch.compile" in printed[0]
    assert not fast.compiled


@pytest.mark.parametrize(("weights", "dtype"), [
    (None, torch.float32), ("int8", torch.float32),
    (None, torch.bfloat16)])
def test_cpu_compile_options_are_set_whenever_the_step_compiles(
        weights, dtype, monkeypatch):
    """Inductor's settings are entered for a call that compiles (the
    first of a batch size, or after dynamo forgot its graphs), and for no
    other step."""
    seen, entered = [], []
    graph_cache = torch._inductor.config.fx_graph_cache
    template = CppMicroGemmAMX.TEMPLATE_KERNEL
    vector = CppMicroGemmFP32Vec.TEMPLATE_KERNEL
    configs = list(micro_gemm_configs[CppMicroGemmFP32Vec])
    kernels = len(micro_gemm_configs)

    def spy(graph, example_inputs):  # a compiler that records, runs eagerly
        config = torch._inductor.config
        seen.append((torch._dynamo.utils.is_parameter_freezing(),
                     config.cpp_wrapper, config.max_autotune,
                     # no table of autotuning's timings on stderr
                     config.autotune_num_choices_displayed,
                     config.max_autotune_report_choices_stats,
                     config.max_autotune_gemm_backends,
                     config.cpp.gemm_cache_blocking, config.fx_graph_cache,
                     "_mm_prefetch" in CppMicroGemmAMX.TEMPLATE_KERNEL,
                     "16384" in CppMicroGemmFP32Vec.TEMPLATE_KERNEL,
                     len(micro_gemm_configs[CppMicroGemmFP32Vec])
                     - len(configs), len(micro_gemm_configs) - kernels,
                     config.post_grad_custom_post_pass is not None,
                     config.cpp.weight_prepack))
        return graph.forward

    model = to_dtype(tiny_qwen3_model(), dtype)
    fast = FastGenerator(model, max_seq_len=12, max_batch_size=2,
                         compile=False, weights=weights)
    fast._decode = torch.compile(fast.decoder, fullgraph=True, backend=spy)
    fast.compiled, fast.warm_up_seconds = True, 0.0
    options = fast._compile_options
    monkeypatch.setattr(fast, "_compile_options",
                        lambda: entered.append(1) or options())
    torch._dynamo.reset()
    fast.generate(PROMPT, 4)
    fast.generate(BATCH[:2], 3)  # a new batch size
    torch._dynamo.reset()  # graphs forgotten: compiled again, as set
    fast.generate(PROMPT, 3)
    # Timing inductor's kernels against aten's for int8 and bfloat16
    # weights; no cpp_wrapper, whose C++ source is compiled in every new
    # process
    autotune = weights == "int8" or dtype == torch.bfloat16
    x86 = torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512")
    backends = "CPP" if weights == "int8" and x86 else "CPP,ATEN"
    # Their kernels are fitted to one row (reads ahead in AMX's and the
    # vector kernel where the CPU needs them, 4 register blocks, the
    # bfloat16 dot kernel, a pass that puts them into the graph cache's
    # key); a bfloat16 step's products read all of K at once (no reuse)
    bf16 = dtype == torch.bfloat16 and weights is None
    blocking = "1,1,4096" if bf16 else None
    ahead = autotune and reads_ahead()
    # Float32 weights stay the model's, not packed into a copy
    assert seen == [(True, False, autotune, 0, False, backends, blocking,
                     graph_cache, ahead, ahead, 4 * autotune,
                     int(autotune), autotune, autotune)] * 3
    assert len(entered) == 3  # not at the other 6 steps
    config = torch._inductor.config
    assert not config.freezing and not config.max_autotune
    assert config.cpp.gemm_cache_blocking is None
    assert config.fx_graph_cache == graph_cache and config.cpp.weight_prepack
    assert CppMicroGemmAMX.TEMPLATE_KERNEL == template
    assert CppMicroGemmFP32Vec.TEMPLATE_KERNEL == vector
    assert micro_gemm_configs[CppMicroGemmFP32Vec] == configs
    assert len(micro_gemm_configs) == kernels
    assert config.post_grad_custom_post_pass is None


def test_a_float32_step_reads_the_models_own_weights(tiny_model):
    """Frozen float32 weights are not packed into a copy for MKL or oneDNN
    (as much memory again, no faster): the step's products are aten's on
    the model's weights."""
    torch._dynamo.reset()
    fast = FastGenerator(tiny_model, max_seq_len=12)
    _, code = run_and_get_code(fast.warm_up)
    code = "".join(code)
    assert "extern_kernels.mm(" in code
    assert "_mkl_linear" not in code and "_linear_pointwise" not in code
    out = fast.generate(PROMPT, 5)
    assert torch.equal(out, generate_text_basic_cache(tiny_model, PROMPT, 5))


def one_product(module, rows, in_features, fitted, graph_cache):
    """The code of ``module`` compiled frozen to inductor's C++ kernels
    (inside ``one_row_kernels`` if ``fitted``), checked against aten's
    result on random rows."""
    x = torch.randn(rows, in_features, dtype=torch.bfloat16)
    torch._dynamo.reset()
    with (one_row_kernels() if fitted else contextlib.nullcontext()), \
            torch._inductor.config.patch(
                freezing=True, max_autotune=True, fx_graph_cache=graph_cache,
                max_autotune_gemm_backends="CPP"), torch.no_grad():
        out, code = run_and_get_code(torch.compile(module), x)
    torch.testing.assert_close(out, module(x), rtol=1e-2, atol=1e-2)
    return "".join(code)


def test_the_amx_kernel_prefetches_its_weights_and_computes_the_same():
    """The template this torch writes is the one the prefetch knows; a
    bfloat16 product compiled to inductor's C++ kernel with it (on an AMX
    CPU, that kernel) gives aten's result, and the template is restored."""
    template = CppMicroGemmAMX.TEMPLATE_KERNEL
    assert template.count(LOOP_END) == 1 and "_mm_prefetch" not in template
    linear = torch.nn.Linear(1024, 256, bias=False).to(torch.bfloat16).eval()
    code = one_product(linear, 1, 1024, True, graph_cache=False)
    torch._dynamo.reset()
    assert CppMicroGemmAMX.TEMPLATE_KERNEL == template
    if torch._C._cpu._is_amx_tile_supported():
        assert "_mm_prefetch(ahead + i, _MM_HINT_T0)" in code


@pytest.mark.skipif(
    torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"),
    reason="the one-row register blocks are for x86's vector kernels")
def test_a_one_row_int8_product_takes_a_wide_register_block():
    """A one-row product with int8 weights compiled inside
    ``one_row_kernels`` is inductor's kernel for 1 row x 8 vectors of
    columns, and gives aten's int8 kernel's result. More rows, or the
    same graph compiled outside (inductor's graph cache tells them
    apart), keep inductor's own blocks; its configurations are
    restored."""
    configs = list(micro_gemm_configs[CppMicroGemmFP32Vec])
    product = torch.nn.Module()  # frozen buffers: constants to compile
    weight, scale = _quantize_int8(torch.randn(256, 128))
    product.register_buffer("weight", weight)
    product.register_buffer("scale", scale.to(torch.bfloat16))
    product.forward = lambda x: torch.ops.aten._weight_int8pack_mm(
        x, product.weight, product.scale)
    columns = 128 if torch.backends.cpu.get_cpu_capability() == "AVX512" \
        else 64
    for fitted, rows in ((True, 1), (False, 1), (True, 2)):
        code = one_product(product, rows, 128, fitted, graph_cache=True)
        assert f"_kernel<{rows}, " in code
        assert (f"_kernel<1, {columns}, " in code) == (fitted and rows == 1)
    torch._dynamo.reset()
    assert micro_gemm_configs[CppMicroGemmFP32Vec] == configs


@pytest.mark.parametrize(("vendor", "ahead"), [("GenuineIntel", True),
                                               ("AuthenticAMD", False)])
@pytest.mark.parametrize("kind", ["AVX-512 BF16", "AVX2"])
def test_a_one_row_bfloat16_product_takes_a_kernel_that_reads_ahead(
        kind, vendor, ahead, monkeypatch, request):
    """On a CPU with AVX-512 BF16 and no AMX (told so here), a one-row
    bfloat16 product compiled inside ``one_row_kernels`` is the
    ``vdpbf16ps`` kernel; with AVX2, inductor's for 1 row x 8 vectors;
    both read weights ahead, except on AMD's CPUs, and give aten's
    result. Two rows keep inductor's blocks; the same graph compiled
    outside, inductor's own kernels; its templates and registry are
    restored. (The graph cache cannot see the CPU told here: off.)"""
    from torch._inductor import cpu_vec_isa
    from torch._inductor.codegen import cpp_micro_gemm

    monkeypatch.setattr(cpu_kernels, "cpu_vendor", lambda: vendor)
    reads_ahead.cache_clear()
    request.addfinalizer(reads_ahead.cache_clear)  # the real vendor's next

    def wanted(isa):
        if kind == "AVX2":
            return type(isa) is cpu_vec_isa.VecAVX2
        return (isinstance(isa, cpu_vec_isa.VecAVX512)
                and isa.is_avx512_bf16_supported())

    isa = next((isa for isa in cpu_vec_isa.valid_vec_isa_list()
                if not isinstance(isa, cpu_vec_isa.VecAMX) and wanted(isa)),
               None)
    if isa is None:
        pytest.skip(f"inductor builds no {kind} kernels here")
    monkeypatch.setattr(cpp_micro_gemm, "pick_vec_isa", lambda: isa)
    kernel = "_dpbf16_ps(" if kind == "AVX-512 BF16" else "_kernel<1, 64, "
    templates = CppMicroGemmAMX.TEMPLATE_KERNEL, \
        CppMicroGemmFP32Vec.TEMPLATE_KERNEL
    kernels = dict(micro_gemm_configs)
    linear = torch.nn.Linear(512, 256, bias=False).to(torch.bfloat16).eval()
    for fitted, rows in ((True, 1), (False, 1), (True, 2)):
        code = one_product(linear, rows, 512, fitted, graph_cache=False)
        assert (kernel in code) == (fitted and rows == 1)
        assert ("_mm_prefetch((const char*)" in code) == (fitted and ahead)
    torch._dynamo.reset()
    assert micro_gemm_configs == kernels
    assert (CppMicroGemmAMX.TEMPLATE_KERNEL,
            CppMicroGemmFP32Vec.TEMPLATE_KERNEL) == templates


@pytest.mark.parametrize(("capability", "weights", "backends"), [
    ("AVX512", "int8", "CPP"), ("AVX2", "int8", "CPP"),
    ("AVX512", None, "CPP,ATEN"), ("DEFAULT", "int8", "CPP,ATEN"),
    ("NEON", "int8", "CPP,ATEN")])
def test_int8_steps_use_inductors_kernels_where_they_are_vectorized(
        capability, weights, backends, tiny_model, monkeypatch):
    """Autotuning times aten's int8 kernel on weights in the cache, not as
    a step reads them; on x86 inductor's vectorized kernels replace it,
    elsewhere (its kernels there are scalar for int8) both are timed."""
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability",
                        lambda: capability)
    fast = FastGenerator(tiny_model, max_seq_len=8, compile=False,
                         weights=weights)
    with fast._compile_options():
        assert torch._inductor.config.max_autotune_gemm_backends == backends


@pytest.mark.slow
def test_full_size_short_run_equals_the_book_loop():
    cfg = {**QWEN_CONFIG_06_B, "dtype": torch.float32}
    model = seeded_model(cfg, seed=123).eval()
    prompt = torch.tensor([[840, 20772, 3460, 4128, 4119, 13]])
    expected = generate_text_basic_cache(model, prompt, 6)
    fast = FastGenerator(model, max_seq_len=16, compile=False)
    assert torch.equal(fast.generate(prompt, 6), expected)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda m, f: f.generate(PROMPT, 44), ValueError,
         "max_seq_len is 48: create the FastGenerator with "
         "max_seq_len=49"),
        (lambda m, f: f.generate(torch.ones(5, 2, dtype=torch.long), 3),
         ValueError, r"the batch has 5 rows \(prompts, or beams in beam "
         r"search\), but max_batch_size is 4"),
        (lambda m, f: FastGenerator(torch.compile(m), 8), TypeError,
         "the book's Qwen3Model"),
        (lambda m, f: FastGenerator(torch.nn.Linear(2, 2), 8), TypeError,
         "got Linear"),
        (lambda m, f: FastGenerator(m, 0), ValueError,
         "max_seq_len must be >= 1"),
        (lambda m, f: FastGenerator(m, 200), ValueError,
         "context length of 128"),
        (lambda m, f: FastGenerator(m, 8, max_batch_size=0), ValueError,
         "max_batch_size must be >= 1"),
        (lambda m, f: f.generate(PROMPT, 3, eos_token_id="x"), TypeError,
         "eos_token_id"),
        (lambda m, f: f.generate(PROMPT, 3, temperature=-1), ValueError,
         "temperature"),
        (lambda m, f: FastGenerator(m, 8, compile_prefill="yes"),
         TypeError, "compile_prefill must be True or False, got 'yes'"),
        (lambda m, f: FastGenerator(m, 8, weights="int4"), ValueError,
         "weights must be None \\(the model's own\\) or 'int8', got "
         "'int4'"),
    ],
)
def test_bad_input_gets_a_clear_error(tiny_model, fast, call, error,
                                      message):
    with pytest.raises(error, match=message):
        call(tiny_model, fast)


@pytest.mark.parametrize(("token_ids", "error", "message"), BAD_IDS)
@pytest.mark.parametrize("method", ["generate", "stream"])
def test_token_ids_are_checked_at_the_call(fast, method, token_ids, error,
                                           message):
    with pytest.raises(error, match=message):
        getattr(fast, method)(token_ids, 3)


def test_the_models_training_mode_is_left_as_it_was():
    model = tiny_qwen3_model().train()
    fast = FastGenerator(model, max_seq_len=32, compile=False)
    expected = generate(model, torch.tensor([[1, 2, 3]]), 4)
    assert torch.equal(fast.generate(torch.tensor([[1, 2, 3]]), 4), expected)
    assert all(m.training for m in model.modules())


# The fast backend follows its model ------------------------------------------

def other_weights(model):
    """Another tiny model's weights, in the model's own dtype."""
    return seeded_model(model.cfg, seed=7).state_dict()


def answers(model, *fasts):
    """The book's loop's tokens and each generator's."""
    book = generate_text_basic_cache(model, PROMPT, 12)
    return book, [fast.generate(PROMPT, 12) for fast in fasts]


@pytest.mark.parametrize("assign", [False, True],
                         ids=["in_place", "assign"])
def test_generators_follow_new_weights(tiny_model, assign, capsys):
    # Before: after load_state_dict a generator kept the old weights,
    # or mixed old and new ones (a reader switching checkpoints)
    first = FastGenerator(tiny_model, max_seq_len=24, compile=False)
    second = FastGenerator(tiny_model, max_seq_len=24, compile=False)
    book, (a, b) = answers(tiny_model, first, second)
    assert torch.equal(a, book) and torch.equal(b, book)
    tiny_model.load_state_dict(other_weights(tiny_model), assign=assign)
    new_book, (a, b) = answers(tiny_model, first, second)
    assert not torch.equal(new_book, book)
    assert torch.equal(a, new_book) and torch.equal(b, new_book)
    assert "weights changed since this FastGenerator was built" in (
        capsys.readouterr().out)


def test_generators_on_one_model_share_its_weights(tiny_model):
    first = FastGenerator(tiny_model, max_seq_len=24, compile=False)
    second = FastGenerator(tiny_model, max_seq_len=24, compile=False)
    assert (first.decoder.layers[0].wqkv.data_ptr()
            == second.decoder.layers[0].wqkv.data_ptr())
    # Neither is built again for the other: nothing changed
    assert first._weights_now() == first._built_from


@pytest.mark.slow  # compiles the tiny model's step
def test_a_compiled_step_follows_new_weights(tiny_model):
    # A compiled step on a CPU holds the weights as constants
    fast = FastGenerator(tiny_model, max_seq_len=24)
    book, (out,) = answers(tiny_model, fast)
    assert fast.compiled and torch.equal(out, book)
    tiny_model.load_state_dict(other_weights(tiny_model))
    book, (out,) = answers(tiny_model, fast)
    assert torch.equal(out, book)


# One generation per cache at a time ------------------------------------------

def test_streams_read_in_turn_never_share_a_cache_silently(tiny_model,
                                                          fast):
    # Before: two streams read in turn gave the second wrong tokens
    # (the fast backend) or a shape error from inside the model (book's)
    alone = generate_text_basic_cache(tiny_model, PROMPT, 4)
    # The book's model: each stream has a KV cache and a position of its
    # own, so both give the tokens they give alone
    pairs = zip(generate_stream(tiny_model, PROMPT, 4),
                generate_stream(tiny_model, PROMPT[:, :3], 4), strict=True)
    first, second = zip(*pairs, strict=True)
    assert torch.equal(torch.cat(first, dim=1), alone)
    assert torch.equal(torch.cat(second, dim=1), generate_text_basic_cache(
        tiny_model, PROMPT[:, :3], 4))
    # One FastGenerator has one cache: a second generation is refused at
    # its first step while a stream is open, and works once it is closed
    first = fast.stream(PROMPT, 4)
    got = [next(first)]
    second = fast.stream(PROMPT, 4)  # nothing happens before its first step
    for call in (lambda: next(second), lambda: fast.generate(PROMPT, 4),
                 lambda: fast.beam_search(PROMPT, 3, beam_width=1)):
        with pytest.raises(RuntimeError, match="a stream on this "
                           "FastGenerator is still open"):
            call()
    got += list(first)  # the first stream is unharmed
    assert torch.equal(torch.cat(got, dim=1), alone)
    assert torch.equal(fast.generate(PROMPT, 4), alone)  # read to the end
    abandoned = fast.stream(PROMPT, 4)
    next(abandoned)
    abandoned.close()
    second = fast.stream(PROMPT, 4)  # a refused stream has ended: anew
    assert torch.equal(torch.cat(list(second), dim=1), alone)
    for _ in fast.stream(PROMPT, 4):  # a loop left early closes its stream
        break
    assert torch.equal(fast.generate(PROMPT, 4), alone)
    # Two generators on one model have a cache each
    other = FastGenerator(tiny_model, max_seq_len=48, compile=False)
    pairs = list(zip(fast.stream(PROMPT, 4), other.stream(PROMPT, 4),
                     strict=True))
    assert all(torch.equal(a, b) for a, b in pairs)
