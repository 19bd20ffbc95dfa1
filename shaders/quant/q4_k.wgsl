// Weight loader for Q4_K (ggml): super-blocks of 256 values, 8 sub-blocks of 32. A super-block
// holds d and dmin (f16), 12 bytes packing a 6-bit scale sc_s and a 6-bit minimum m_s for each
// sub-block s (ggml's get_scale_min_k4), and 128 bytes of 4-bit codes:
//   value 32s + l = d · sc_s · q − dmin · m_s,   l in 0..32,
//   q = low nibble of code byte 32 (s / 2) + l for even s, its high nibble for odd s.
// Repacked on upload: WEIGHT_scales holds each super-block's first 16 bytes (d, dmin, the 12
// scale bytes) as 4 words, WEIGHT_qs its 128 code bytes as 32 words. The kernels' block b
// (32 values) is sub-block b % 8 of super-block b / 8.
// load_WEIGHT and dot_WEIGHT come from k_blocks.wgsl, prepended; they call codes_WEIGHT.

// Codes 4i..4i + 3 of sub-block b.
fn codes_WEIGHT(b: u32, i: u32) -> vec4<f32> {
    let q = WEIGHT_qs[(b / 8u) * 32u + ((b % 8u) / 2u) * 8u + i] >> (4u * (b % 2u));
    return vec4<f32>(vec4<u32>(q, q >> 8u, q >> 16u, q >> 24u) & vec4<u32>(15u));
}
