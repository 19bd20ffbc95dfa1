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

// Σ_j w_j · x_j over block b and one token's 32 x values (xv, loaded by the kernel):
// d · Σ q_j x_j + m · Σ x_j, written out so that CPU adapters keep it in registers.
fn nibbles_lo_WEIGHT(q: u32) -> vec4<f32> {
    return vec4<f32>(vec4<u32>(q, q >> 8u, q >> 16u, q >> 24u) & vec4<u32>(15u));
}
fn nibbles_hi_WEIGHT(q: u32) -> vec4<f32> {
    return vec4<f32>(vec4<u32>(q >> 4u, q >> 12u, q >> 20u, q >> 28u) & vec4<u32>(15u));
}
fn dot_WEIGHT(b: u32, xv: ptr<function, array<vec4<f32>, 8>>) -> f32 {
    let dm = unpack2x16float(WEIGHT_scales[b]);
    let q0 = WEIGHT_qs[b * 4u];
    let q1 = WEIGHT_qs[b * 4u + 1u];
    let q2 = WEIGHT_qs[b * 4u + 2u];
    let q3 = WEIGHT_qs[b * 4u + 3u];
    let x0 = (*xv)[0u]; let x1 = (*xv)[1u]; let x2 = (*xv)[2u]; let x3 = (*xv)[3u];
    let x4 = (*xv)[4u]; let x5 = (*xv)[5u]; let x6 = (*xv)[6u]; let x7 = (*xv)[7u];
    let s = dot(nibbles_lo_WEIGHT(q0), x0) + dot(nibbles_lo_WEIGHT(q1), x1) + dot(nibbles_lo_WEIGHT(q2), x2) + dot(nibbles_lo_WEIGHT(q3), x3)
        + dot(nibbles_hi_WEIGHT(q0), x4) + dot(nibbles_hi_WEIGHT(q1), x5) + dot(nibbles_hi_WEIGHT(q2), x6) + dot(nibbles_hi_WEIGHT(q3), x7);
    let xs = x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7;
    return dm.x * s + dm.y * (xs.x + xs.y + xs.z + xs.w);
}
