// Weight loader for Q8_0 (ggml): 32 values = scale d (f16) and 32 signed bytes q; value j = d · q_j.
// Repacked on upload: WEIGHT_scales holds two f16 scales per u32 (block b in half b % 2 of word
// b / 2), WEIGHT_qs the 32 code bytes of block b as u32 words 8b..8b+7 (little endian).
fn load_WEIGHT(b: u32, w: ptr<function, array<vec4<f32>, 8>>) {
    let d = unpack2x16float(WEIGHT_scales[b >> 1u])[b & 1u];
    for (var i = 0u; i < 8u; i++) {
        let q = WEIGHT_qs[b * 8u + i];
        // Shift each byte to the top, then arithmetic-shift it down: sign extension.
        let s = vec4<i32>(bitcast<i32>(q << 24u), bitcast<i32>(q << 16u), bitcast<i32>(q << 8u), bitcast<i32>(q));
        (*w)[i] = vec4<f32>(s >> vec4<u32>(24u)) * d;
    }
}

fn bytes_WEIGHT(q: u32) -> vec4<f32> {
    let s = vec4<i32>(bitcast<i32>(q << 24u), bitcast<i32>(q << 16u), bitcast<i32>(q << 8u), bitcast<i32>(q));
    return vec4<f32>(s >> vec4<u32>(24u));
}

// Σ_j w_j · x_j over block b and one token's 32 x values (xv, loaded by the kernel): d · Σ q_j x_j.
fn dot_WEIGHT(b: u32, xv: ptr<function, array<vec4<f32>, 8>>) -> f32 {
    let d = unpack2x16float(WEIGHT_scales[b >> 1u])[b & 1u];
    let o = b * 8u;
    let s = dot(bytes_WEIGHT(WEIGHT_qs[o]), (*xv)[0u]) + dot(bytes_WEIGHT(WEIGHT_qs[o + 1u]), (*xv)[1u])
        + dot(bytes_WEIGHT(WEIGHT_qs[o + 2u]), (*xv)[2u]) + dot(bytes_WEIGHT(WEIGHT_qs[o + 3u]), (*xv)[3u])
        + dot(bytes_WEIGHT(WEIGHT_qs[o + 4u]), (*xv)[4u]) + dot(bytes_WEIGHT(WEIGHT_qs[o + 5u]), (*xv)[5u])
        + dot(bytes_WEIGHT(WEIGHT_qs[o + 6u]), (*xv)[6u]) + dot(bytes_WEIGHT(WEIGHT_qs[o + 7u]), (*xv)[7u]);
    return d * s;
}
