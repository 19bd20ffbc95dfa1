// Fused gate/up projections with SwiGLU on CPU adapters, for up to one chunk of tokens:
// h[t, n] = silu(Σ_k G[n, k] x[t, k]) · (Σ_k U[n, k] x[t, k]), silu(g) = g / (1 + e^(−g)).
// matmul_swiglu.wgsl's math (GPUs run that) with matmul_cpu.wgsl's layout, for the same reason
// (see there): x, the chunk's activations, is a uniform array of X_VEC4S vec4s; each invocation
// computes R = 4 rows of G and U for T = 4 tokens, dequantising each weight block once for the
// four tokens (one token takes the fused dot_gate/dot_up path). G and U share a quantisation
// type and their row chunks (rows o..o + n → columns o..o + n of h).
//
// Launch: workgroup_size 16; invocation (i, j) computes rows 4i..4i + 3 for tokens 4j..4j + 3
// (past the end clamped: computed again, stored once); grid = (ceil(n / 64), ceil(tokens / 4)).
const R: u32 = 4u;
const T: u32 = 4u;

struct Batch { n_tokens: u32, pos0: u32, _a: u32, _b: u32 }
struct Params { n: u32, k: u32, out_stride: u32, out_offset: u32 }

@group(0) @binding(0) var<uniform> batch: Batch;
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> gate_scales: array<u32>;
@group(0) @binding(3) var<storage, read> gate_qs: array<u32>;
@group(0) @binding(4) var<storage, read> up_scales: array<u32>;
@group(0) @binding(5) var<storage, read> up_qs: array<u32>;
@group(0) @binding(6) var<uniform> x: array<vec4<f32>, X_VEC4S>;
@group(0) @binding(7) var<storage, read_write> h: array<f32>;

fn dot8(w: ptr<function, array<vec4<f32>, 8>>, xb: u32) -> f32 {
    return dot((*w)[0], x[xb]) + dot((*w)[1], x[xb + 1u]) + dot((*w)[2], x[xb + 2u]) + dot((*w)[3], x[xb + 3u])
        + dot((*w)[4], x[xb + 4u]) + dot((*w)[5], x[xb + 5u]) + dot((*w)[6], x[xb + 6u]) + dot((*w)[7], x[xb + 7u]);
}

fn silu_mul(g: vec4<f32>, u: vec4<f32>) -> vec4<f32> {
    return g / (1.0 + exp(-g)) * u;
}

fn store(n: u32, row: u32, v: f32) {
    if (n < p.n) {
        h[row * p.out_stride + p.out_offset + n] = v;
    }
}

// Gate and up of one row block for four token offsets: (g, u) with tokens as components.
fn row_tile(wb: u32, x0: u32, x1: u32, x2: u32, x3: u32) -> mat2x4<f32> {
    var w: array<vec4<f32>, 8>;
    load_gate(wb, &w);
    let g = vec4<f32>(dot8(&w, x0), dot8(&w, x1), dot8(&w, x2), dot8(&w, x3));
    load_up(wb, &w);
    let u = vec4<f32>(dot8(&w, x0), dot8(&w, x1), dot8(&w, x2), dot8(&w, x3));
    return mat2x4<f32>(g, u);
}

@compute @workgroup_size(16)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let n0 = gid.x * R;
    if (n0 >= p.n) {
        return;
    }
    let nb = p.k / 32u;
    let k4 = p.k / 4u;
    let t0 = gid.y * T;
    let tokens = min(T, batch.n_tokens - min(t0, batch.n_tokens));
    if (tokens == 0u) {
        return;
    }
    let last = p.n - 1u;
    let w0 = n0 * nb;
    let w1 = min(n0 + 1u, last) * nb;
    let w2 = min(n0 + 2u, last) * nb;
    let w3 = min(n0 + 3u, last) * nb;
    if (tokens == 1u) {
        let xt = t0 * k4;
        var g = vec4<f32>(0.0);
        var u = vec4<f32>(0.0);
        for (var b = 0u; b < nb; b++) {
            let xb = xt + b * 8u;
            g += vec4<f32>(dot_gate(w0 + b, xb), dot_gate(w1 + b, xb), dot_gate(w2 + b, xb), dot_gate(w3 + b, xb));
            u += vec4<f32>(dot_up(w0 + b, xb), dot_up(w1 + b, xb), dot_up(w2 + b, xb), dot_up(w3 + b, xb));
        }
        let hv = silu_mul(g, u);
        for (var r = 0u; r < R; r++) {
            store(n0 + r, t0, hv[r]);
        }
        return;
    }
    let lt = tokens - 1u;
    let x0 = t0 * k4;
    let x1 = (t0 + min(1u, lt)) * k4;
    let x2 = (t0 + min(2u, lt)) * k4;
    let x3 = (t0 + min(3u, lt)) * k4;
    var a0 = mat2x4<f32>();
    var a1 = mat2x4<f32>();
    var a2 = mat2x4<f32>();
    var a3 = mat2x4<f32>();
    for (var b = 0u; b < nb; b++) {
        let o = b * 8u;
        a0 += row_tile(w0 + b, x0 + o, x1 + o, x2 + o, x3 + o);
        a1 += row_tile(w1 + b, x0 + o, x1 + o, x2 + o, x3 + o);
        a2 += row_tile(w2 + b, x0 + o, x1 + o, x2 + o, x3 + o);
        a3 += row_tile(w3 + b, x0 + o, x1 + o, x2 + o, x3 + o);
    }
    let h0 = silu_mul(a0[0], a0[1]);
    let h1 = silu_mul(a1[0], a1[1]);
    let h2 = silu_mul(a2[0], a2[1]);
    let h3 = silu_mul(a3[0], a3[1]);
    for (var t = 0u; t < tokens; t++) {
        store(n0, t0 + t, h0[t]);
        store(n0 + 1u, t0 + t, h1[t]);
        store(n0 + 2u, t0 + t, h2[t]);
        store(n0 + 3u, t0 + t, h3[t]);
    }
}
