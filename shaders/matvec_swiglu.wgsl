// Decode on CPU adapters: one token's fused gate/up projections with SwiGLU,
// h[n] = silu(Σ_k G[n, k] x[k]) · (Σ_k U[n, k] x[k]), silu(g) = g / (1 + e^(−g)).
//
// matmul_swiglu.wgsl's math with matvec.wgsl's layout, for the same reason (see there): x (at
// most 64 KiB) is a uniform array of X_VEC4S vec4s written in at assembly, and each invocation
// computes R = 4 consecutive rows of both G and U, so one block of x serves eight weight
// blocks. G and U share a quantisation type and their row chunks (rows o..o + n → h[o..o + n]).
//
// Launch: workgroup_size 16, each invocation rows 4i..4i + 3 (the last clamped: computed
// again, stored once); grid = ceil(n / 64).
const R: u32 = 4u;

struct Params { n: u32, k: u32, out_stride: u32, out_offset: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gate_scales: array<u32>;
@group(0) @binding(2) var<storage, read> gate_qs: array<u32>;
@group(0) @binding(3) var<storage, read> up_scales: array<u32>;
@group(0) @binding(4) var<storage, read> up_qs: array<u32>;
@group(0) @binding(5) var<uniform> x: array<vec4<f32>, X_VEC4S>;
@group(0) @binding(6) var<storage, read_write> h: array<f32>;

@compute @workgroup_size(16)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let n0 = gid.x * R;
    if (n0 >= p.n) {
        return;
    }
    let nb = p.k / 32u;
    let last = p.n - 1u;
    let b0 = n0 * nb;
    let b1 = min(n0 + 1u, last) * nb;
    let b2 = min(n0 + 2u, last) * nb;
    let b3 = min(n0 + 3u, last) * nb;
    var g = vec4<f32>(0.0);
    var u = vec4<f32>(0.0);
    for (var b = 0u; b < nb; b++) {
        let xb = b * 8u;
        g += vec4<f32>(dot_gate(b0 + b, xb), dot_gate(b1 + b, xb), dot_gate(b2 + b, xb), dot_gate(b3 + b, xb));
        u += vec4<f32>(dot_up(b0 + b, xb), dot_up(b1 + b, xb), dot_up(b2 + b, xb), dot_up(b3 + b, xb));
    }
    let hv = g / (1.0 + exp(-g)) * u;
    for (var r = 0u; r < R; r++) {
        let n = n0 + r;
        if (n < p.n) {
            h[p.out_offset + n] = hv[r];
        }
    }
}
