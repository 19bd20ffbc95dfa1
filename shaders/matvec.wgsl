// Decode on CPU adapters: one token's matrix × vector, y[o + n] (+)= Σ_k W[n, k] · x[k]
// (+ bias[o + n]), for lavapipe/SwiftShader, where matmul.wgsl's layout is slow.
//
// W is one row-chunk of a weight matrix in its GGUF quantisation; dot_w (shaders/quant/,
// prepended when the kernel is assembled) dequantises one 32-value block and dots it with x.
// Why a kernel of its own: a CPU driver runs invocations as SIMD lanes, and llvmpipe (Mesa
// 22–23) loads from a storage buffer at an address that differs between lanes one lane at a
// time, with a branch each, while a uniform-buffer load is a plain gather that LLVM can share
// between calls. So x (at most 64 KiB: k ≤ 16384) is bound as a uniform array whose length
// X_VEC4S is written in when the kernel is assembled, and each invocation computes R = 4
// consecutive rows, so one block of x serves four blocks of W. Measured on llvmpipe (Q4_1,
// 1536 × 576, 2 threads): ~19 ns per block with matmul.wgsl's decode path, ~9 ns here.
// `accumulate` adds into y (the residual stream), as in matmul.wgsl; y row 0 is the token's.
//
// Launch: workgroup_size 16, each invocation rows 4i..4i + 3 of the chunk (the last rows are
// clamped: computed again, stored once); grid = ceil(n / 64).
const R: u32 = 4u;

struct Params { n: u32, k: u32, out_stride: u32, out_offset: u32, accumulate: u32, has_bias: u32, last_only: u32, _c: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w_scales: array<u32>;
@group(0) @binding(2) var<storage, read> w_qs: array<u32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<uniform> x: array<vec4<f32>, X_VEC4S>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

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
    var s = vec4<f32>(0.0);
    for (var b = 0u; b < nb; b++) {
        let xb = b * 8u;
        s += vec4<f32>(dot_w(b0 + b, xb), dot_w(b1 + b, xb), dot_w(b2 + b, xb), dot_w(b3 + b, xb));
    }
    for (var r = 0u; r < R; r++) {
        let n = n0 + r;
        if (n < p.n) {
            let col = p.out_offset + n;
            var v = s[r];
            if (p.has_bias == 1u) {
                v += bias[col];
            }
            if (p.accumulate == 1u) {
                v += y[col];
            }
            y[col] = v;
        }
    }
}
