// Weight loader for Q5_K (ggml): super-blocks of 256 values, 8 sub-blocks of 32, as Q4_K plus a
// fifth bit. A super-block holds d and dmin (f16), 12 bytes of 6-bit scales sc_s and minimums
// m_s (packed as in Q4_K), 32 bytes qh of high bits and 128 bytes of 4-bit codes:
//   value 32s + l = d · sc_s · q − dmin · m_s,   l in 0..32,
//   q = (low nibble of code byte 32 (s / 2) + l for even s, its high nibble for odd s)
//       | (bit s of qh[l]) << 4.
// Repacked on upload: WEIGHT_scales holds each super-block's first 16 bytes (d, dmin, the 12
// scale bytes) as 4 words, WEIGHT_qs its 128 code bytes then its 32 qh bytes as 40 words. The
// kernels' block b (32 values) is sub-block b % 8 of super-block b / 8.
// load_WEIGHT and dot_WEIGHT come from k_blocks.wgsl, prepended; they call codes_WEIGHT.

// Codes 4i..4i + 3 of sub-block b (5 bits).
fn codes_WEIGHT(b: u32, i: u32) -> vec4<f32> {
    let sb = b / 8u;
    let s = b % 8u;
    let q = WEIGHT_qs[sb * 40u + (s / 2u) * 8u + i] >> (4u * (s % 2u));
    let h = WEIGHT_qs[sb * 40u + 32u + i] >> s;
    return vec4<f32>((vec4<u32>(q, q >> 8u, q >> 16u, q >> 24u) & vec4<u32>(15u))
        | ((vec4<u32>(h, h >> 8u, h >> 16u, h >> 24u) & vec4<u32>(1u)) << vec4<u32>(4u)));
}
