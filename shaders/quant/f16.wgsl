// Weight loader for F16 matrices: 32 values = 16 u32, each holding two IEEE halves (low first).
// Unpacked with unpack2x16float, so no shader-f16 support is needed. WEIGHT_scales is unused.
fn load_WEIGHT(b: u32, w: ptr<function, array<vec4<f32>, 8>>) {
    for (var i = 0u; i < 8u; i++) {
        let o = b * 16u + i * 2u;
        (*w)[i] = vec4<f32>(unpack2x16float(WEIGHT_qs[o]), unpack2x16float(WEIGHT_qs[o + 1u]));
    }
}

// Σ_j w_j · x_j over block b and one token's 32 x values (xv, loaded by the kernel).
fn dot_WEIGHT(b: u32, xv: ptr<function, array<vec4<f32>, 8>>) -> f32 {
    var s = 0.0;
    for (var i = 0u; i < 8u; i++) {
        let o = b * 16u + i * 2u;
        s += dot(vec4<f32>(unpack2x16float(WEIGHT_qs[o]), unpack2x16float(WEIGHT_qs[o + 1u])), (*xv)[i]);
    }
    return s;
}
