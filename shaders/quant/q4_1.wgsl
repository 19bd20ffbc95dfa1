// Weight loader for Q4_1 (ggml): 32 values = scale d, minimum m (both f16) and 16 bytes of codes.
//   value j      = d · (low nibble of byte j)  + m,   j in 0..16
//   value j + 16 = d · (high nibble of byte j) + m
// Repacked on upload: WEIGHT_scales holds (d, m) as one u32 per block (the block's first 4 bytes),
// WEIGHT_qs the 16 code bytes of block b as u32 words 4b..4b+3.
fn load_WEIGHT(b: u32, w: ptr<function, array<vec4<f32>, 8>>) {
    let dm = unpack2x16float(WEIGHT_scales[b]);
    for (var i = 0u; i < 4u; i++) {
        let q = WEIGHT_qs[b * 4u + i];
        let lo = vec4<u32>(q, q >> 8u, q >> 16u, q >> 24u) & vec4<u32>(15u);
        let hi = vec4<u32>(q >> 4u, q >> 12u, q >> 20u, q >> 28u) & vec4<u32>(15u);
        (*w)[i] = vec4<f32>(lo) * dm.x + dm.y;
        (*w)[i + 4u] = vec4<f32>(hi) * dm.x + dm.y;
    }
}
