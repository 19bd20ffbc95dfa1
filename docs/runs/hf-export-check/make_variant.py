"""A tiny llama GGUF (F32) with linear RoPE scaling x4, q/k/v biases, an untied head and the given
head_dim (32 != hidden/heads exercises head_dim), with the tokenizer of a `xlingo tiny` model:
the config.json fields a Hugging Face export must carry.

  xlingo tiny --out tiny-llama.gguf
  python make_variant.py tiny-llama.gguf tiny-rope-bias.gguf 16
"""
import sys
import numpy as np
from gguf import GGUFReader, GGUFWriter, GGUFValueType

src, out, hd_arg = sys.argv[1], sys.argv[2], int(sys.argv[3])
r = GGUFReader(src)
w = GGUFWriter(out, "llama")
d, f, v, L, H, KV, hd = 64, 128, 100, 2, 4, 2, hd_arg
w.add_context_length(128); w.add_embedding_length(d); w.add_feed_forward_length(f); w.add_block_count(L)
w.add_head_count(H); w.add_head_count_kv(KV); w.add_key_length(hd); w.add_value_length(hd); w.add_rope_dimension_count(hd)
w.add_layer_norm_rms_eps(1e-5); w.add_rope_freq_base(10000.0); w.add_vocab_size(v)
w.add_rope_scaling_type(__import__("gguf").RopeScalingType.LINEAR); w.add_rope_scaling_factor(4.0)
for key in ["tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.chat_template"]:
    w.add_string(key, r.fields[key].contents())
# tiny-llama.gguf's byte-level tokens plus "ab" and its merge (gguf-py writes no empty arrays)
w.add_array("tokenizer.ggml.tokens", r.fields["tokenizer.ggml.tokens"].contents() + ["ab"])
w.add_array("tokenizer.ggml.token_type", r.fields["tokenizer.ggml.token_type"].contents() + [1])
w.add_array("tokenizer.ggml.merges", ["a b"])
w.add_uint32("tokenizer.ggml.bos_token_id", 0); w.add_uint32("tokenizer.ggml.eos_token_id", 1)
rng = np.random.default_rng(0)
def t(name, shape, scale, offset=0.0):
    w.add_tensor(name, (offset + scale * (rng.random(shape) * 2 - 1)).astype(np.float32))
t("token_embd.weight", (v, d), 1.0); t("output.weight", (v, d), 0.2); t("output_norm.weight", (d,), 0.2, 1.0)
for i in range(L):
    p = f"blk.{i}."
    t(p + "attn_norm.weight", (d,), 0.2, 1.0); t(p + "ffn_norm.weight", (d,), 0.2, 1.0)
    t(p + "attn_q.weight", (H * hd, d), 0.25); t(p + "attn_k.weight", (KV * hd, d), 0.25); t(p + "attn_v.weight", (KV * hd, d), 0.25)
    t(p + "attn_q.bias", (H * hd,), 0.1); t(p + "attn_k.bias", (KV * hd,), 0.1); t(p + "attn_v.bias", (KV * hd,), 0.1)
    t(p + "attn_output.weight", (d, H * hd), 0.15)
    t(p + "ffn_gate.weight", (f, d), 0.2); t(p + "ffn_up.weight", (f, d), 0.2); t(p + "ffn_down.weight", (d, f), 0.15)
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
print(out)
