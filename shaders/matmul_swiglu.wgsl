// Fused gate/up projections with SwiGLU: h[t, n] = silu(Σ_k G[n, k] x[t, k]) · (Σ_k U[n, k] x[t, k]),
// silu(g) = g / (1 + e^(−g)). One pass over x for both matrices and no [tokens, ffn] round trip
// for g and u. Same tiling as matmul.wgsl (G and U must share a quantisation type, which GGUF
// files do): workgroup_size 64 = ROWS (8) rows × LANES (8) lanes, each loaded block reused for
// up to TM tokens; grid = (ceil(n / ROWS), ceil(tokens / TM)). h is f32 [tokens, out_stride];
// this row chunk of G and U (rows o..o + n) writes columns o..o + n.
const LANES: u32 = 8u;
const ROWS: u32 = 8u;
const TM: u32 = 8u;

struct Batch { n_tokens: u32, pos0: u32, _a: u32, _b: u32 }
struct Params { n: u32, k: u32, out_stride: u32, out_offset: u32 }

@group(0) @binding(0) var<uniform> batch: Batch;
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> gate_scales: array<u32>;
@group(0) @binding(3) var<storage, read> gate_qs: array<u32>;
@group(0) @binding(4) var<storage, read> up_scales: array<u32>;
@group(0) @binding(5) var<storage, read> up_qs: array<u32>;
@group(0) @binding(6) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> h: array<f32>;

var<workgroup> partial_g: array<f32, 512>; // [ROWS][TM][LANES]
var<workgroup> partial_u: array<f32, 512>;

fn block_dot(w: ptr<function, array<vec4<f32>, 8>>, xb: u32) -> f32 {
    var s = 0.0;
    for (var i = 0u; i < 8u; i++) {
        s += dot((*w)[i], x[xb + i]);
    }
    return s;
}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let lane = li % LANES;
    let r = li / LANES;
    let n = wg.x * ROWS + r;
    let first = wg.y * TM;
    let tokens = min(TM, batch.n_tokens - min(first, batch.n_tokens));
    let nb = p.k / 32u;
    let k4 = p.k / 4u;
    var acc_g: array<f32, 8>;
    var acc_u: array<f32, 8>;
    if (n < p.n) {
        for (var b = lane; b < nb; b += LANES) {
            var g: array<vec4<f32>, 8>;
            var u: array<vec4<f32>, 8>;
            load_gate(n * nb + b, &g);
            load_up(n * nb + b, &u);
            for (var t = 0u; t < tokens; t++) {
                let xb = (first + t) * k4 + b * 8u;
                acc_g[t] += block_dot(&g, xb);
                acc_u[t] += block_dot(&u, xb);
            }
        }
    }
    for (var t = 0u; t < TM; t++) {
        partial_g[(r * TM + t) * LANES + lane] = acc_g[t];
        partial_u[(r * TM + t) * LANES + lane] = acc_u[t];
    }
    workgroupBarrier();
    let t = lane;
    if (n < p.n && t < tokens) {
        var g = 0.0;
        var u = 0.0;
        for (var l = 0u; l < LANES; l++) {
            g += partial_g[(r * TM + t) * LANES + l];
            u += partial_u[(r * TM + t) * LANES + l];
        }
        h[(first + t) * p.out_stride + p.out_offset + n] = g / (1.0 + exp(-g)) * u;
    }
}
