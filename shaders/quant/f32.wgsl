// Weight loader for F32 matrices (no quantisation): a "block" is 32 consecutive values of a row.
// `WEIGHT` is replaced by the binding's name when the kernel is assembled; WEIGHT_scales is unused.
//   WEIGHT_qs: 32 u32 (f32 bits) per block.
fn load_WEIGHT(b: u32, w: ptr<function, array<vec4<f32>, 8>>) {
    for (var i = 0u; i < 8u; i++) {
        let o = b * 32u + i * 4u;
        (*w)[i] = bitcast<vec4<f32>>(vec4<u32>(WEIGHT_qs[o], WEIGHT_qs[o + 1u], WEIGHT_qs[o + 2u], WEIGHT_qs[o + 3u]));
    }
}

// Σ_j w_j · x_j over block b and one token's 32 x values (xv, loaded by the kernel).
fn dot_WEIGHT(b: u32, xv: ptr<function, array<vec4<f32>, 8>>) -> f32 {
    var s = 0.0;
    for (var i = 0u; i < 8u; i++) {
        let o = b * 32u + i * 4u;
        s += dot(bitcast<vec4<f32>>(vec4<u32>(WEIGHT_qs[o], WEIGHT_qs[o + 1u], WEIGHT_qs[o + 2u], WEIGHT_qs[o + 3u])), (*xv)[i]);
    }
    return s;
}
