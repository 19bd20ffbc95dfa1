// Quantised matrix × activations: y[t, o + n] (+)= Σ_k W[n, k] · x[t, k] (+ bias[o + n]).
//
// W is one row-chunk of a weight matrix in its GGUF quantisation; dot_w (from shaders/quant/,
// prepended when the kernel is assembled) dequantises one 32-value block and dots it with x,
// for each of up to TM tokens of the tile. x is f32 [tokens, k]; y is f32 [tokens, out_stride], and this
// chunk's rows land at columns o.. of y. `accumulate` adds into y instead of overwriting it: the
// attention-output and FFN-down projections write straight into the residual stream (fused add).
// `last_only` reads only the last token's x and writes y row 0 (logits of the next token).
//
// Launch: workgroup_size 64 = ROWS (64 / LANES) rows × LANES lanes; the lanes of a row split its blocks
// and reduce in workgroup memory. grid = (ceil(n · LANES / 64), ceil(tokens / TM)).
// LANES is set per adapter when the pipeline is made: 8 on GPUs (coalesced loads, a short
// reduction), 1 on CPU adapters (lavapipe, SwiftShader), where a row per invocation avoids
// the barrier and the reduction.
override LANES: u32 = 8u;
const ROWS_X_LANES: u32 = 64u;
const TM: u32 = 8u;

struct Batch { n_tokens: u32, _a: u32, _b: u32, _c: u32 }
struct Params { n: u32, k: u32, out_stride: u32, out_offset: u32, accumulate: u32, has_bias: u32, last_only: u32, _c: u32 }

@group(0) @binding(0) var<uniform> batch: Batch;
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> w_scales: array<u32>;
@group(0) @binding(3) var<storage, read> w_qs: array<u32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;

var<workgroup> partial: array<f32, 512>; // [64 / LANES rows][TM][LANES]

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
    var first = wg.y * TM;
    var tokens = min(TM, batch.n_tokens - min(first, batch.n_tokens));
    if (p.last_only == 1u) {
        first = batch.n_tokens - 1u;
        tokens = 1u;
    }
    let nb = p.k / 32u;
    let k4 = p.k / 4u;
    // Decoding (one token) keeps a scalar accumulator: on CPU adapters a runtime index into a
    // private array becomes scattered memory traffic.
    var acc: array<f32, TM>;
    if (n < p.n) {
        if (tokens == 1u) {
            // Decode: one token, a scalar accumulator.
            var s = 0.0;
            var xv: array<vec4<f32>, 8>;
            for (var b = lane; b < nb; b += LANES) {
                load_x(first * k4 + b * 8u, &xv);
                s += dot_w(n * nb + b, &xv);
            }
            acc[0] = s;
        } else {
            // A block is dequantised once for all the tile's tokens.
            var w: array<vec4<f32>, 8>;
            for (var b = lane; b < nb; b += LANES) {
                load_w(n * nb + b, &w);
                for (var t = 0u; t < TM; t++) {
                    if (t < tokens) {
                        acc[t] += dot8(&w, (first + t) * k4 + b * 8u);
                    }
                }
            }
        }
    }
    if (LANES > 1u) {
        for (var t = 0u; t < TM; t++) {
            partial[(r * TM + t) * LANES + lane] = acc[t];
        }
    }
    workgroupBarrier();
    if (n >= p.n) {
        return;
    }
    // Lane l finishes tokens l, l + LANES, …: sums the row's partials, adds bias / residual.
    for (var t = 0u; t < TM; t++) {
        if (t % LANES == lane && t < tokens) {
            var s = acc[t];
            if (LANES > 1u) {
                s = 0.0;
                for (var l = 0u; l < LANES; l++) {
                    s += partial[(r * TM + t) * LANES + l];
                }
            }
            let col = p.out_offset + n;
            if (p.has_bias == 1u) {
                s += bias[col];
            }
            var row = first + t;
            if (p.last_only == 1u) {
                row = 0u;
            }
            let i = row * p.out_stride + col;
            if (p.accumulate == 1u) {
                s += y[i];
            }
            y[i] = s;
        }
    }
}
