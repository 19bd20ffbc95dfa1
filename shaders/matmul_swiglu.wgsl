// Fused gate/up projections with SwiGLU: h[t, n] = silu(Σ_k G[n, k] x[t, k]) · (Σ_k U[n, k] x[t, k]),
// silu(g) = g / (1 + e^(−g)). One pass over x for both matrices and no [tokens, ffn] round trip
// for g and u. Same tiling as matmul.wgsl (G and U must share a quantisation type, which GGUF
// files do): workgroup_size 64 = ROWS (64 / LANES) rows × LANES lanes, each loaded block reused for
// up to TM tokens; grid = (ceil(n · LANES / 64), ceil(tokens / TM)). h is f32 [tokens, out_stride];
// this row chunk of G and U (rows o..o + n) writes columns o..o + n.
// LANES is set per adapter when the pipeline is made: 8 on GPUs (coalesced loads, a short
// reduction), 1 on CPU adapters (lavapipe, SwiftShader), where a row per invocation avoids
// the barrier and the reduction.
override LANES: u32 = 8u;
const ROWS_X_LANES: u32 = 64u;
const TM: u32 = 8u;

struct Batch { n_tokens: u32, _a: u32, _b: u32, _c: u32 }
struct Params { n: u32, k: u32, out_stride: u32, out_offset: u32 }

@group(0) @binding(0) var<uniform> batch: Batch;
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> gate_scales: array<u32>;
@group(0) @binding(3) var<storage, read> gate_qs: array<u32>;
@group(0) @binding(4) var<storage, read> up_scales: array<u32>;
@group(0) @binding(5) var<storage, read> up_qs: array<u32>;
@group(0) @binding(6) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> h: array<f32>;

var<workgroup> partial_g: array<f32, 512>; // [64 / LANES rows][TM][LANES]
var<workgroup> partial_u: array<f32, 512>;

// Σ_j w_j · x_j over one dequantised block and the 32 x values from vec4 index xb.
fn dot8(w: ptr<function, array<vec4<f32>, 8>>, xb: u32) -> f32 {
    return dot((*w)[0], x[xb]) + dot((*w)[1], x[xb + 1u]) + dot((*w)[2], x[xb + 2u]) + dot((*w)[3], x[xb + 3u])
        + dot((*w)[4], x[xb + 4u]) + dot((*w)[5], x[xb + 5u]) + dot((*w)[6], x[xb + 6u]) + dot((*w)[7], x[xb + 7u]);
}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let lane = li % LANES;
    let r = li / LANES;
    let n = wg.x * (ROWS_X_LANES / LANES) + r;
    let first = wg.y * TM;
    let tokens = min(TM, batch.n_tokens - min(first, batch.n_tokens));
    let nb = p.k / 32u;
    let k4 = p.k / 4u;
    // Decoding keeps scalar accumulators (see matmul.wgsl).
    var acc_g: array<f32, TM>;
    var acc_u: array<f32, TM>;
    if (n < p.n) {
        if (tokens == 1u) {
            var g = 0.0;
            var u = 0.0;
            var xv: array<vec4<f32>, 8>;
            for (var b = lane; b < nb; b += LANES) {
                load_x(first * k4 + b * 8u, &xv);
                g += dot_gate(n * nb + b, &xv);
                u += dot_up(n * nb + b, &xv);
            }
            acc_g[0] = g;
            acc_u[0] = u;
        } else {
            // Each block of G and U is dequantised once for all the tile's tokens.
            var wg: array<vec4<f32>, 8>;
            var wu: array<vec4<f32>, 8>;
            for (var b = lane; b < nb; b += LANES) {
                load_gate(n * nb + b, &wg);
                load_up(n * nb + b, &wu);
                for (var t = 0u; t < TM; t++) {
                    if (t < tokens) {
                        let xb = (first + t) * k4 + b * 8u;
                        acc_g[t] += dot8(&wg, xb);
                        acc_u[t] += dot8(&wu, xb);
                    }
                }
            }
        }
    }
    if (LANES > 1u) {
        for (var t = 0u; t < TM; t++) {
            partial_g[(r * TM + t) * LANES + lane] = acc_g[t];
            partial_u[(r * TM + t) * LANES + lane] = acc_u[t];
        }
    }
    workgroupBarrier();
    if (n >= p.n) {
        return;
    }
    for (var t = 0u; t < TM; t++) {
        if (t % LANES == lane && t < tokens) {
            var g = acc_g[t];
            var u = acc_u[t];
            if (LANES > 1u) {
                g = 0.0;
                u = 0.0;
                for (var l = 0u; l < LANES; l++) {
                    g += partial_g[(r * TM + t) * LANES + l];
                    u += partial_u[(r * TM + t) * LANES + l];
                }
            }
            h[(first + t) * p.out_stride + p.out_offset + n] = g / (1.0 + exp(-g)) * u;
        }
    }
}
