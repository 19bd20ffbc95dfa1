// Quantised matrix × activations: y[t, o + n] (+)= Σ_k W[n, k] · x[t, k] (+ bias[o + n]).
//
// W is one row-chunk of a weight matrix in its GGUF quantisation; load_w (from shaders/quant/,
// prepended when the kernel is assembled) dequantises one 32-value block into registers, which is
// then reused for up to TM tokens. x is f32 [tokens, k]; y is f32 [tokens, out_stride], and this
// chunk's rows land at columns o.. of y. `accumulate` adds into y instead of overwriting it: the
// attention-output and FFN-down projections write straight into the residual stream (fused add).
// `last_only` reads only the last token's x and writes y row 0 (logits of the next token).
//
// Launch: workgroup_size 64 = ROWS (8) rows × LANES (8) lanes; the lanes of a row split its blocks
// and reduce in workgroup memory. grid = (ceil(n / ROWS), ceil(tokens / TM)).
const LANES: u32 = 8u;
const ROWS: u32 = 8u;
const TM: u32 = 8u;

struct Batch { n_tokens: u32, pos0: u32, _a: u32, _b: u32 }
struct Params { n: u32, k: u32, out_stride: u32, out_offset: u32, accumulate: u32, has_bias: u32, last_only: u32, _c: u32 }

@group(0) @binding(0) var<uniform> batch: Batch;
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> w_scales: array<u32>;
@group(0) @binding(3) var<storage, read> w_qs: array<u32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;

var<workgroup> partial: array<f32, 512>; // [ROWS][TM][LANES]

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let lane = li % LANES;
    let r = li / LANES;
    let n = wg.x * ROWS + r;
    var first = wg.y * TM;
    var tokens = min(TM, batch.n_tokens - min(first, batch.n_tokens));
    if (p.last_only == 1u) {
        first = batch.n_tokens - 1u;
        tokens = 1u;
    }
    let nb = p.k / 32u;
    let k4 = p.k / 4u;
    var acc: array<f32, 8>;
    if (n < p.n) {
        for (var b = lane; b < nb; b += LANES) {
            var w: array<vec4<f32>, 8>;
            load_w(n * nb + b, &w);
            for (var t = 0u; t < tokens; t++) {
                let xb = (first + t) * k4 + b * 8u;
                var s = dot(w[0], x[xb]) + dot(w[1], x[xb + 1u]) + dot(w[2], x[xb + 2u]) + dot(w[3], x[xb + 3u]);
                s += dot(w[4], x[xb + 4u]) + dot(w[5], x[xb + 5u]) + dot(w[6], x[xb + 6u]) + dot(w[7], x[xb + 7u]);
                acc[t] += s;
            }
        }
    }
    for (var t = 0u; t < TM; t++) {
        partial[(r * TM + t) * LANES + lane] = acc[t];
    }
    workgroupBarrier();
    // Invocation (r, t = lane) sums the LANES partials of row n, token t.
    let t = lane;
    if (n < p.n && t < tokens) {
        var s = 0.0;
        for (var l = 0u; l < LANES; l++) {
            s += partial[(r * TM + t) * LANES + l];
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
