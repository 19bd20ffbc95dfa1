// Weight loader for Q6_K (ggml): super-blocks of 256 values in two halves of 128. A super-block
// holds 128 bytes ql (low 4 bits), 64 bytes qh (high 2 bits), 16 signed 8-bit scales sc and d
// (f16). In half h, quarter r (0..4), position l (0..32), i.e. value 128h + 32r + l:
//   q = (nibble r / 2 of ql[64h + 32 (r % 2) + l]) | (bits 2r..2r+1 of qh[32h + l]) << 4,
//   value = d · sc[8h + 2r + l / 16] · (q − 32).
// Repacked on upload: WEIGHT_scales holds each super-block's 16 scale bytes and d as 5 words,
// WEIGHT_qs its ql then qh bytes as 48 words. The kernels' block b (32 values) is quarter
// (b % 8) % 4 of half (b % 8) / 4 of super-block b / 8.

// Codes 4i..4i + 3 of block b, centred (q − 32).
fn codes6_WEIGHT(b: u32, i: u32) -> vec4<f32> {
    let sb = b / 8u;
    let h = (b % 8u) / 4u;
    let r = b % 4u;
    let lo = WEIGHT_qs[sb * 48u + h * 16u + (r % 2u) * 8u + i] >> (4u * (r / 2u));
    let hi = WEIGHT_qs[sb * 48u + 32u + h * 8u + i] >> (2u * r);
    let q = (vec4<u32>(lo, lo >> 8u, lo >> 16u, lo >> 24u) & vec4<u32>(15u))
        | ((vec4<u32>(hi, hi >> 8u, hi >> 16u, hi >> 24u) & vec4<u32>(3u)) << vec4<u32>(4u));
    return vec4<f32>(q) - 32.0;
}

// d · sc for the first (x) and second (y) 16 values of block b.
fn scales_WEIGHT(b: u32) -> vec2<f32> {
    let sb = b / 8u;
    let h = (b % 8u) / 4u;
    let r = b % 4u;
    let d = unpack2x16float(WEIGHT_scales[sb * 5u + 4u]).x;
    let first = 8u * h + 2u * r; // even: both scales sit in one word
    let word = WEIGHT_scales[sb * 5u + first / 4u];
    let shift = 8u * (first % 4u);
    let a = bitcast<i32>(word << (24u - shift)) >> 24u;
    let c = bitcast<i32>(word << (16u - shift)) >> 24u;
    return vec2<f32>(d * f32(a), d * f32(c));
}

fn load_WEIGHT(b: u32, w: ptr<function, array<vec4<f32>, 8>>) {
    let sc = scales_WEIGHT(b);
    for (var i = 0u; i < 8u; i++) {
        (*w)[i] = codes6_WEIGHT(b, i) * select(sc.y, sc.x, i < 4u);
    }
}

// Σ_j w_j · x_j over block b and one token's 32 x values (xv, loaded by the kernel).
fn dot_WEIGHT(b: u32, xv: ptr<function, array<vec4<f32>, 8>>) -> f32 {
    let sc = scales_WEIGHT(b);
    var s0 = 0.0;
    var s1 = 0.0;
    for (var i = 0u; i < 4u; i++) {
        s0 += dot(codes6_WEIGHT(b, i), (*xv)[i]);
        s1 += dot(codes6_WEIGHT(b, i + 4u), (*xv)[4u + i]);
    }
    return sc.x * s0 + sc.y * s1;
}
