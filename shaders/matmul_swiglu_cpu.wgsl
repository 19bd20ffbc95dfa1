// Fused gate/up projections with SwiGLU on CPU adapters, for up to one chunk of tokens:
// h[t, n] = silu(Σ_k G[n, k] x[t, k]) · (Σ_k U[n, k] x[t, k]), silu(g) = g / (1 + e^(−g)).
// matmul_swiglu.wgsl's math (GPUs run that) with matmul_cpu.wgsl's layout, for the same reason
// (see there): x, the chunk's activations, is a uniform array of X_VEC4S vec4s; each invocation
// computes R = 4 rows of G and U for T = 4 tokens, dequantising each weight block once for the
// four tokens and loading each x block once for the four rows (load_x, shaders/activations/);
// one token takes the fused dot_gate/dot_up path. G and U share a quantisation
// type and their row chunks (rows o..o + n → columns o..o + n of h).
//
// Launch: workgroup_size 16; invocation (i, j) computes rows 4i..4i + 3 for tokens 4j..4j + 3
// (past the end clamped: computed again, stored once); grid = (ceil(n / 64), ceil(tokens / 4)).
const R: u32 = 4u;
const T: u32 = 4u;

struct Batch { n_tokens: u32, _a: u32, _b: u32, _c: u32 }
struct Params { n: u32, k: u32, out_stride: u32, out_offset: u32 }

@group(0) @binding(0) var<uniform> batch: Batch;
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> gate_scales: array<u32>;
@group(0) @binding(3) var<storage, read> gate_qs: array<u32>;
@group(0) @binding(4) var<storage, read> up_scales: array<u32>;
@group(0) @binding(5) var<storage, read> up_qs: array<u32>;
@group(0) @binding(6) var<uniform> x: array<vec4<f32>, X_VEC4S>;
@group(0) @binding(7) var<storage, read_write> h: array<f32>;

fn dot8(w: ptr<function, array<vec4<f32>, 8>>, xs: ptr<function, array<vec4<f32>, 8>>) -> f32 {
    return dot((*w)[0], (*xs)[0]) + dot((*w)[1], (*xs)[1]) + dot((*w)[2], (*xs)[2]) + dot((*w)[3], (*xs)[3])
        + dot((*w)[4], (*xs)[4]) + dot((*w)[5], (*xs)[5]) + dot((*w)[6], (*xs)[6]) + dot((*w)[7], (*xs)[7]);
}

fn silu_mul(g: vec4<f32>, u: vec4<f32>) -> vec4<f32> {
    return g / (1.0 + exp(-g)) * u;
}

fn store(n: u32, row: u32, v: f32) {
    if (n < p.n) {
        h[row * p.out_stride + p.out_offset + n] = v;
    }
}

// Gate and up of one row block for the four tokens' x blocks: (g, u) with tokens as components.
fn row_tile(wb: u32, xa: ptr<function, array<vec4<f32>, 8>>, xb: ptr<function, array<vec4<f32>, 8>>, xc: ptr<function, array<vec4<f32>, 8>>, xd: ptr<function, array<vec4<f32>, 8>>) -> mat2x4<f32> {
    var w: array<vec4<f32>, 8>;
    load_gate(wb, &w);
    let g = vec4<f32>(dot8(&w, xa), dot8(&w, xb), dot8(&w, xc), dot8(&w, xd));
    load_up(wb, &w);
    let u = vec4<f32>(dot8(&w, xa), dot8(&w, xb), dot8(&w, xc), dot8(&w, xd));
    return mat2x4<f32>(g, u);
}

@compute @workgroup_size(16)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    // No invocation returns before load_x (see matmul_cpu.wgsl).
    x_setup();
    let n0 = gid.x * R;
    let nb = p.k / 32u;
    let k4 = p.k / 4u;
    let t0 = gid.y * T;
    let tokens = min(T, batch.n_tokens - min(t0, batch.n_tokens));
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
        var g = vec4<f32>(0.0);
        var u = vec4<f32>(0.0);
        var xv: array<vec4<f32>, 8>;
        for (var b = 0u; b < nb; b++) {
            load_x(xt + b * 8u, &xv);
            g += vec4<f32>(dot_gate(w0 + b, &xv), dot_gate(w1 + b, &xv), dot_gate(w2 + b, &xv), dot_gate(w3 + b, &xv));
            u += vec4<f32>(dot_up(w0 + b, &xv), dot_up(w1 + b, &xv), dot_up(w2 + b, &xv), dot_up(w3 + b, &xv));
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
        a0 += row_tile(w0 + b, &xa, &xb, &xc, &xd);
        a1 += row_tile(w1 + b, &xa, &xb, &xc, &xd);
        a2 += row_tile(w2 + b, &xa, &xb, &xc, &xd);
        a3 += row_tile(w3 + b, &xa, &xb, &xc, &xd);
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
