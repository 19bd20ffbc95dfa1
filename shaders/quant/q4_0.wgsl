// Weight loader for Q4_0 (ggml): 32 values = scale d (f16) and 16 bytes of 4-bit codes q.
//   value j      = d · (low nibble of byte j  − 8),   j in 0..16
//   value j + 16 = d · (high nibble of byte j − 8)
// Repacked on upload into two arrays (the codes stay 4-bit):
//   WEIGHT_scales: two f16 scales per u32 (block b in half b % 2 of word b / 2)
//   WEIGHT_qs:     the 16 code bytes of block b as u32 words 4b..4b+3 (little endian)
fn load_WEIGHT(b: u32, w: ptr<function, array<vec4<f32>, 8>>) {
    let d = unpack2x16float(WEIGHT_scales[b >> 1u])[b & 1u];
    for (var i = 0u; i < 4u; i++) {
        let q = WEIGHT_qs[b * 4u + i];
        let lo = vec4<u32>(q, q >> 8u, q >> 16u, q >> 24u) & vec4<u32>(15u);
        let hi = vec4<u32>(q >> 4u, q >> 12u, q >> 20u, q >> 28u) & vec4<u32>(15u);
        (*w)[i] = (vec4<f32>(lo) - 8.0) * d;
        (*w)[i + 4u] = (vec4<f32>(hi) - 8.0) * d;
    }
}
