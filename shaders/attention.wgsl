// Causal attention of one query against the KV cache, grouped-query heads:
//   s_j = (q · k_j) / sqrt(d) for j in 0..=pos,   p = softmax(s),   out = Σ_j p_j · v_j
// where (seq, pos) = slots[t] are token t's sequence and position (rope_kv.wgsl has written
// the chunk's own keys first, so a prefill chunk sees itself causally), keys and values are
// those of sequence seq (cache [sequences, n_kv, ctx, d]) and query head h reads kv-head
// h / (n_heads / n_kv).
// Scores go to a scratch buffer [n_heads, max_tokens, ctx] (any context length fits, no
// workgroup-memory cap); max and sum are reduced in workgroup memory.
// Launch: workgroup_size 64, one workgroup per (head, token): grid = (n_heads, tokens).
// Invocations stride over positions for the scores and over head dimensions for the output.
struct Batch { n_tokens: u32, _a: u32, _b: u32, _c: u32 }
struct Params { n_heads: u32, n_kv: u32, head_dim: u32, ctx: u32, max_tokens: u32, scale: f32, stride: u32, _b: u32 }

@group(0) @binding(0) var<uniform> batch: Batch;
@group(0) @binding(1) var<uniform> p: Params;
// Each token's q is the first n_heads · d values of its row of qkv (rope_kv.wgsl).
@group(0) @binding(2) var<storage, read> qkv: array<vec4<f32>>;
// f32 or f16 (get_k4/get_v from shaders/kv/; read_write only because those files also write).
@group(0) @binding(3) var<storage, read_write> cache_k: array<KV_K>;
@group(0) @binding(4) var<storage, read_write> cache_v: array<KV_V>;
@group(0) @binding(5) var<storage, read_write> scores: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;
@group(0) @binding(7) var<storage, read> slots: array<vec2<u32>>;

var<workgroup> qv: array<vec4<f32>, 64>; // head_dim ≤ 256
var<workgroup> red: array<f32, 64>;

fn reduce_max(li: u32) -> f32 {
    for (var half = 32u; half > 0u; half >>= 1u) {
        if (li < half) {
            red[li] = max(red[li], red[li + half]);
        }
        workgroupBarrier();
    }
    return red[0];
}

fn reduce_sum(li: u32) -> f32 {
    for (var half = 32u; half > 0u; half >>= 1u) {
        if (li < half) {
            red[li] += red[li + half];
        }
        workgroupBarrier();
    }
    return red[0];
}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let h = wg.x;
    let t = wg.y;
    let seq = slots[t].x;
    let positions = slots[t].y + 1u;
    let kv = seq * p.n_kv + h / (p.n_heads / p.n_kv);
    let d4 = p.head_dim / 4u;
    for (var i = li; i < d4; i += 64u) {
        qv[i] = qkv[(t * p.stride + h * p.head_dim) / 4u + i];
    }
    workgroupBarrier();

    let sbase = (h * p.max_tokens + t) * p.ctx;
    var m = -3.0e38;
    for (var j = li; j < positions; j += 64u) {
        let kb = (kv * p.ctx + j) * d4;
        var s = 0.0;
        for (var i = 0u; i < d4; i++) {
            s += dot(qv[i], get_k4(kb + i));
        }
        s *= p.scale;
        scores[sbase + j] = s;
        m = max(m, s);
    }
    red[li] = m;
    workgroupBarrier();
    m = reduce_max(li);
    workgroupBarrier();

    var sum = 0.0;
    for (var j = li; j < positions; j += 64u) {
        let e = exp(scores[sbase + j] - m);
        scores[sbase + j] = e;
        sum += e;
    }
    red[li] = sum;
    workgroupBarrier();
    sum = reduce_sum(li);
    // Other invocations' exp() values are read below.
    storageBarrier();

    for (var i = li; i < p.head_dim; i += 64u) {
        var acc = 0.0;
        let vb = kv * p.ctx * p.head_dim + i;
        for (var j = 0u; j < positions; j++) {
            acc += scores[sbase + j] * get_v(vb + j * p.head_dim);
        }
        out[(t * p.n_heads + h) * p.head_dim + i] = acc / sum;
    }
}
