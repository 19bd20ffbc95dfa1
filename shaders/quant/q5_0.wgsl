// Weight loader for Q5_0 (ggml): 32 values = scale d (f16), 32 high bits qh (u32) and 16 bytes
// of low nibbles q.
//   value j      = d · ((low nibble of byte j)  | (bit j of qh) << 4 − 16),        j in 0..16
//   value j + 16 = d · ((high nibble of byte j) | (bit j + 16 of qh) << 4 − 16)
// Repacked on upload: WEIGHT_scales holds two f16 scales per u32 (as Q4_0), WEIGHT_qs five
// words per block: qh, then the 16 code bytes (little endian).
// lo5_WEIGHT / hi5_WEIGHT come from q5_bits.wgsl, prepended.

fn load_WEIGHT(b: u32, w: ptr<function, array<vec4<f32>, 8>>) {
    let d = unpack2x16float(WEIGHT_scales[b >> 1u])[b & 1u];
    let qh = WEIGHT_qs[b * 5u];
    for (var i = 0u; i < 4u; i++) {
        let q = WEIGHT_qs[b * 5u + 1u + i];
        (*w)[i] = (lo5_WEIGHT(q, qh, i) - 16.0) * d;
        (*w)[i + 4u] = (hi5_WEIGHT(q, qh, i) - 16.0) * d;
    }
}

// Σ_j w_j · x_j over block b and one token's 32 x values (xv, loaded by the kernel):
// d · (Σ q_j x_j − 16 Σ x_j).
fn dot_WEIGHT(b: u32, xv: ptr<function, array<vec4<f32>, 8>>) -> f32 {
    let d = unpack2x16float(WEIGHT_scales[b >> 1u])[b & 1u];
    let qh = WEIGHT_qs[b * 5u];
    var s = 0.0;
    var xs = vec4<f32>(0.0);
    for (var i = 0u; i < 4u; i++) {
        let q = WEIGHT_qs[b * 5u + 1u + i];
        let xl = (*xv)[i];
        let xh = (*xv)[4u + i];
        s += dot(lo5_WEIGHT(q, qh, i), xl) + dot(hi5_WEIGHT(q, qh, i), xh);
        xs += xl + xh;
    }
    return d * (s - 16.0 * (xs.x + xs.y + xs.z + xs.w));
}
