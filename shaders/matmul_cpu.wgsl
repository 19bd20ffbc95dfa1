// Quantised matrix × activations on CPU adapters (lavapipe, SwiftShader), for up to one chunk of
// tokens: y[t, o + n] (+)= Σ_k W[n, k] · x[t, k] (+ bias[o + n]). Same math and parameters as
// matmul.wgsl, which GPUs run.
//
// Why a kernel of its own: a CPU driver runs invocations as the SIMD lanes of a thread, and
// llvmpipe (Mesa 22–23) loads from a storage buffer at an address that differs between lanes
// one lane at a time, with a branch each, while a uniform-buffer load is a plain gather that
// LLVM can share between uses. So here
//   - x, the whole chunk's activations [tokens, k], is a uniform array (X_VEC4S vec4s, written
//     in when the kernel is assembled; the engine caps the chunk so that it fits 64 KiB);
//   - each invocation computes R = 4 rows for T = 4 tokens: a block of W is dequantised once
//     (load_w, from shaders/quant/) for four tokens, a block of x (load_x, from
//     shaders/activations/: subgroup broadcasts where the device has them) serves four rows;
//   - one token (decoding, or the last token for the logits) takes the fused dot_w path.
// Measured on llvmpipe (Q4_1, 1536 × 576, 2 threads, benches: see README): ~19 ns per token and
// 32-value block with matmul.wgsl, ~9 for one token and ~5 for four here.
// `accumulate` adds into y (the residual stream); `last_only` reads only the last token's x and
// writes y row 0.
//
// Launch: workgroup_size 16; invocation (i, j) computes rows 4i..4i + 3 for tokens 4j..4j + 3
// (past the end, rows and tokens are clamped: computed again, stored once);
// grid = (ceil(n / 64), ceil(tokens / 4)), or (ceil(n / 64), 1) with last_only.
const R: u32 = 4u;
const T: u32 = 4u;

struct Batch { n_tokens: u32, _a: u32, _b: u32, _c: u32 }
struct Params { n: u32, k: u32, out_stride: u32, out_offset: u32, accumulate: u32, has_bias: u32, last_only: u32, _c: u32 }

@group(0) @binding(0) var<uniform> batch: Batch;
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> w_scales: array<u32>;
@group(0) @binding(3) var<storage, read> w_qs: array<u32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<uniform> x: array<vec4<f32>, X_VEC4S>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;

// Σ_j w_j · x_j over one dequantised block and one token's 32 x values.
fn dot8(w: ptr<function, array<vec4<f32>, 8>>, xs: ptr<function, array<vec4<f32>, 8>>) -> f32 {
    return dot((*w)[0], (*xs)[0]) + dot((*w)[1], (*xs)[1]) + dot((*w)[2], (*xs)[2]) + dot((*w)[3], (*xs)[3])
        + dot((*w)[4], (*xs)[4]) + dot((*w)[5], (*xs)[5]) + dot((*w)[6], (*xs)[6]) + dot((*w)[7], (*xs)[7]);
}

// Row block wb for the four tokens' x blocks.
fn tile(wb: u32, xa: ptr<function, array<vec4<f32>, 8>>, xb: ptr<function, array<vec4<f32>, 8>>, xc: ptr<function, array<vec4<f32>, 8>>, xd: ptr<function, array<vec4<f32>, 8>>) -> vec4<f32> {
    var w: array<vec4<f32>, 8>;
    load_w(wb, &w);
    return vec4<f32>(dot8(&w, xa), dot8(&w, xb), dot8(&w, xc), dot8(&w, xd));
}

// Row n's value for output row `row`, with bias and the residual added.
fn store(n: u32, row: u32, v: f32) {
    if (n >= p.n) {
        return;
    }
    let col = p.out_offset + n;
    var s = v;
    if (p.has_bias == 1u) {
        s += bias[col];
    }
    let i = row * p.out_stride + col;
    if (p.accumulate == 1u) {
        s += y[i];
    }
    y[i] = s;
}

@compute @workgroup_size(16)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    // No invocation returns before load_x (subgroup operations need every lane): rows past
    // the end are clamped, computed and not stored.
    x_setup();
    let n0 = gid.x * R;
    let nb = p.k / 32u;
    let k4 = p.k / 4u;
    var t0 = gid.y * T;
    var tokens = min(T, batch.n_tokens - min(t0, batch.n_tokens));
    var out0 = t0;
    if (p.last_only == 1u) {
        t0 = batch.n_tokens - 1u;
        tokens = 1u;
        out0 = 0u;
    }
    if (tokens == 0u) {
        return;
    }
    let last = p.n - 1u;
    let w0 = min(n0, last) * nb;
    let w1 = min(n0 + 1u, last) * nb;
    let w2 = min(n0 + 2u, last) * nb;
    let w3 = min(n0 + 3u, last) * nb;
    if (tokens == 1u) {
        let xt = t0 * k4;
        var s = vec4<f32>(0.0);
        var xv: array<vec4<f32>, 8>;
        for (var b = 0u; b < nb; b++) {
            load_x(xt + b * 8u, &xv);
            s += vec4<f32>(dot_w(w0 + b, &xv), dot_w(w1 + b, &xv), dot_w(w2 + b, &xv), dot_w(w3 + b, &xv));
        }
        for (var r = 0u; r < R; r++) {
            store(n0 + r, out0, s[r]);
        }
        return;
    }
    // Four tokens (the last clamped); a_r holds row r for tokens t0..t0 + 3.
    let lt = tokens - 1u;
    let x0 = t0 * k4;
    let x1 = (t0 + min(1u, lt)) * k4;
    let x2 = (t0 + min(2u, lt)) * k4;
    let x3 = (t0 + min(3u, lt)) * k4;
    var a0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0);
    var xa: array<vec4<f32>, 8>;
    var xb: array<vec4<f32>, 8>;
    var xc: array<vec4<f32>, 8>;
    var xd: array<vec4<f32>, 8>;
    for (var b = 0u; b < nb; b++) {
        let o = b * 8u;
        load_x(x0 + o, &xa);
        load_x(x1 + o, &xb);
        load_x(x2 + o, &xc);
        load_x(x3 + o, &xd);
        a0 += tile(w0 + b, &xa, &xb, &xc, &xd);
        a1 += tile(w1 + b, &xa, &xb, &xc, &xd);
        a2 += tile(w2 + b, &xa, &xb, &xc, &xd);
        a3 += tile(w3 + b, &xa, &xb, &xc, &xd);
    }
    for (var t = 0u; t < tokens; t++) {
        store(n0, out0 + t, a0[t]);
        store(n0 + 1u, out0 + t, a1[t]);
        store(n0 + 2u, out0 + t, a2[t]);
        store(n0 + 3u, out0 + t, a3[t]);
    }
}
