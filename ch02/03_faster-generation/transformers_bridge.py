"""The book's Qwen3Model as Hugging Face transformers' Qwen3ForCausalLM,
with the same weights (this folder's benchmark and the reference tests,
``tests/test_transformers_reference.py``; not part of the ``helpers``
package, since it needs transformers).

The names map one to one: ``tok_emb`` is ``model.embed_tokens``,
``W_query`` is ``q_proj``, ``fc1``/``fc2``/``fc3`` are the feed forward's
``gate_proj``/``up_proj``/``down_proj``, ``norm1``/``norm2`` are
``input_layernorm``/``post_attention_layernorm``, and so on. transformers
is a development dependency (``uv sync`` installs it; with pip,
``pip install transformers``).
"""

LAYER_NAMES = {
    "att.W_query.weight": "self_attn.q_proj.weight",
    "att.W_key.weight": "self_attn.k_proj.weight",
    "att.W_value.weight": "self_attn.v_proj.weight",
    "att.out_proj.weight": "self_attn.o_proj.weight",
    "att.q_norm.scale": "self_attn.q_norm.weight",
    "att.k_norm.scale": "self_attn.k_norm.weight",
    "ff.fc1.weight": "mlp.gate_proj.weight",
    "ff.fc2.weight": "mlp.up_proj.weight",
    "ff.fc3.weight": "mlp.down_proj.weight",
    "norm1.scale": "input_layernorm.weight",
    "norm2.scale": "post_attention_layernorm.weight",
}
OTHER_NAMES = {
    "tok_emb.weight": "model.embed_tokens.weight",
    "final_norm.scale": "model.norm.weight",
    "out_head.weight": "lm_head.weight",
}


def transformers_name(name):
    """The transformers name of one of the book model's parameters."""
    if name in OTHER_NAMES:
        return OTHER_NAMES[name]
    _, layer, rest = name.split(".", 2)  # trf_blocks.<i>.<rest>
    return f"model.layers.{layer}.{LAYER_NAMES[rest]}"


def to_transformers(model):
    """A ``Qwen3ForCausalLM`` with ``model``'s configuration and weights,
    in eval mode, on the same device and dtype."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    cfg = model.cfg
    config = Qwen3Config(
        vocab_size=cfg["vocab_size"], hidden_size=cfg["emb_dim"],
        intermediate_size=cfg["hidden_dim"],
        num_hidden_layers=cfg["n_layers"],
        num_attention_heads=cfg["n_heads"],
        num_key_value_heads=cfg["n_kv_groups"], head_dim=cfg["head_dim"],
        max_position_embeddings=cfg["context_length"], rms_norm_eps=1e-6,
        rope_parameters={"rope_type": "default",
                         "rope_theta": cfg["rope_base"]},
        tie_word_embeddings=False,
    )
    weight = model.tok_emb.weight
    hf = Qwen3ForCausalLM(config).to(device=weight.device,
                                     dtype=weight.dtype).eval()
    state = {transformers_name(k): v for k, v in model.state_dict().items()}
    missing, unexpected = hf.load_state_dict(state, strict=False)
    if unexpected or [m for m in missing if "rotary" not in m]:
        raise ValueError(
            f"weights do not map onto Qwen3ForCausalLM: missing {missing}, "
            f"unexpected {unexpected}"
        )
    return hf
