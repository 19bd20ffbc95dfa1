// Shared by the Q4_K and Q5_K loaders (prepended before either): both are
//   value 32s + l = d · sc_s · q_l − dmin · m_s
// for sub-block s (the kernels' 32-value block b = 8 · super-block + s), and differ only in
// the codes q, which the type's file gives as codes_WEIGHT(b, i) (values 4i..4i + 3).
// A super-block's scales entry in WEIGHT_scales is 4 words: d and dmin (f16), then 12 bytes
// packing a 6-bit scale sc_s and a 6-bit minimum m_s per sub-block, unpacked as ggml's
// get_scale_min_k4 does.

// Byte i (0..12) of the packed scales, kept in three words.
fn scale_byte_WEIGHT(s: vec3<u32>, i: u32) -> u32 {
    return (s[i / 4u] >> (8u * (i % 4u))) & 0xffu;
}

// (d · sc_s, dmin · m_s) of sub-block b (the kernels' 32-value block b).
fn scale_min_WEIGHT(b: u32) -> vec2<f32> {
    let sb = b / 8u;
    let j = b % 8u;
    let dd = unpack2x16float(WEIGHT_scales[sb * 4u]);
    let s = vec3<u32>(WEIGHT_scales[sb * 4u + 1u], WEIGHT_scales[sb * 4u + 2u], WEIGHT_scales[sb * 4u + 3u]);
    var sc: u32;
    var m: u32;
    if (j < 4u) {
        sc = scale_byte_WEIGHT(s, j) & 63u;
        m = scale_byte_WEIGHT(s, j + 4u) & 63u;
    } else {
        sc = (scale_byte_WEIGHT(s, j + 4u) & 0xfu) | ((scale_byte_WEIGHT(s, j - 4u) >> 6u) << 4u);
        m = (scale_byte_WEIGHT(s, j + 4u) >> 4u) | ((scale_byte_WEIGHT(s, j) >> 6u) << 4u);
    }
    return vec2<f32>(dd.x * f32(sc), dd.y * f32(m));
}

fn load_WEIGHT(b: u32, w: ptr<function, array<vec4<f32>, 8>>) {
    let sm = scale_min_WEIGHT(b);
    for (var i = 0u; i < 8u; i++) {
        (*w)[i] = codes_WEIGHT(b, i) * sm.x - sm.y;
    }
}

// Σ_j w_j · x_j over block b and one token's 32 x values (xv, loaded by the kernel):
// d·sc · Σ q_j x_j − dmin·m · Σ x_j.
fn dot_WEIGHT(b: u32, xv: ptr<function, array<vec4<f32>, 8>>) -> f32 {
    let sm = scale_min_WEIGHT(b);
    var s = 0.0;
    var xs = vec4<f32>(0.0);
    for (var i = 0u; i < 8u; i++) {
        let xi = (*xv)[i];
        s += dot(codes_WEIGHT(b, i), xi);
        xs += xi;
    }
    return sm.x * s - sm.y * (xs.x + xs.y + xs.z + xs.w);
}
