// Causal attention of one query against the KV cache, grouped-query heads:
//   s_j = (q · k_j) / sqrt(d) for j in 0..=pos,   p = softmax(s),   out = Σ_j p_j · v_j
// where (seq, pos) = slots[t] are token t's sequence and position (rope_kv.wgsl has written
// the chunk's own keys first, so a prefill chunk sees itself causally), keys and values are
// those of sequence seq (cache [sequences, n_kv, ctx, d]) and query head h reads kv-head
// h / (n_heads / n_kv).
// Positions are taken in tiles of 1024 with an online softmax (as in FlashAttention): with m
// the running maximum, l the running Σ exp(s_j - m) and a the running Σ exp(s_j - m) · v_j,
// a tile with maximum m' = max(m, max_tile s) rescales both by exp(m - m') and adds its own
// terms; out = a / l. So no scores buffer exists ([heads, tokens, ctx] floats: a gigabyte at a
// 128k context) and any context length fits; the tile's weights live in workgroup memory.
// Launch: workgroup_size 64, one workgroup per (head, token): grid = (n_heads, tokens).
// Invocations stride over a tile's positions for the scores; for the weighted sum of values,
// groups of head_dim / 4 invocations (4 dimensions each) take every (64 / (head_dim / 4))-th
// position and add their partial sums at the end.
struct Batch { n_tokens: u32, _a: u32, _b: u32, _c: u32 }
struct Params { n_heads: u32, n_kv: u32, head_dim: u32, ctx: u32, _a: u32, scale: f32, stride: u32, _b: u32 }

const TILE: u32 = 1024u;
const LANES: u32 = 64u;

@group(0) @binding(0) var<uniform> batch: Batch;
@group(0) @binding(1) var<uniform> p: Params;
// Each token's q is the first n_heads · d values of its row of qkv (rope_kv.wgsl).
@group(0) @binding(2) var<storage, read> qkv: array<vec4<f32>>;
// f32 or f16 (get_k4/get_v4 from shaders/kv/; read_write only because those files also write).
@group(0) @binding(3) var<storage, read_write> cache_k: array<KV_VEC4>;
@group(0) @binding(4) var<storage, read_write> cache_v: array<KV_VEC4>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read> slots: array<vec2<u32>>;

var<workgroup> qv: array<vec4<f32>, 64>; // head_dim ≤ 256
var<workgroup> red: array<f32, 64>;
var<workgroup> weights: array<f32, TILE>;
var<workgroup> partial: array<vec4<f32>, 64>;

// The workgroup's maximum (or sum) of every invocation's v; all invocations get it.
fn reduce_max(li: u32, v: f32) -> f32 {
    red[li] = v;
    workgroupBarrier();
    for (var half = LANES / 2u; half > 0u; half >>= 1u) {
        if (li < half) {
            red[li] = max(red[li], red[li + half]);
        }
        workgroupBarrier();
    }
    let r = red[0];
    // red is written again by the next reduction.
    workgroupBarrier();
    return r;
}

fn reduce_sum(li: u32, v: f32) -> f32 {
    red[li] = v;
    workgroupBarrier();
    for (var half = LANES / 2u; half > 0u; half >>= 1u) {
        if (li < half) {
            red[li] += red[li + half];
        }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let h = wg.x;
    let t = wg.y;
    let seq = slots[t].x;
    let positions = slots[t].y + 1u;
    let kv = seq * p.n_kv + h / (p.n_heads / p.n_kv);
    let d4 = p.head_dim / 4u;
    for (var i = li; i < d4; i += LANES) {
        qv[i] = qkv[(t * p.stride + h * p.head_dim) / 4u + i];
    }
    workgroupBarrier();

    // For the values: `sets` groups of d4 invocations side by side, group g taking the
    // positions j ≡ g (mod sets), invocation c of a group 4 head dimensions (one vec4 load
    // a position, where one invocation per dimension took d4 times as many loads).
    let sets = LANES / d4;
    let group = li / d4;
    let c = li % d4;
    var m = -3.0e38;
    var l = 0.0;
    var acc = vec4<f32>(0.0);
    let row0 = kv * p.ctx;
    for (var t0 = 0u; t0 < positions; t0 += TILE) {
        let n = min(TILE, positions - t0);
        var tile_max = -3.0e38;
        for (var j = li; j < n; j += LANES) {
            let kb = (row0 + t0 + j) * d4;
            var s = 0.0;
            for (var i = 0u; i < d4; i++) {
                s += dot(qv[i], get_k4(kb + i));
            }
            s *= p.scale;
            weights[j] = s;
            tile_max = max(tile_max, s);
        }
        let m_new = max(m, reduce_max(li, tile_max));
        var tile_sum = 0.0;
        for (var j = li; j < n; j += LANES) {
            let e = exp(weights[j] - m_new);
            weights[j] = e;
            tile_sum += e;
        }
        let rescale = exp(m - m_new);
        // reduce_sum's barriers also make every invocation's weights visible below.
        l = l * rescale + reduce_sum(li, tile_sum);
        m = m_new;
        if (group < sets) {
            var a = acc * rescale;
            for (var j = group; j < n; j += sets) {
                a += weights[j] * get_v4((row0 + t0 + j) * d4 + c);
            }
            acc = a;
        }
        // The next tile overwrites weights.
        workgroupBarrier();
    }
    // The groups' partial sums, added.
    partial[li] = acc;
    workgroupBarrier();
    if (li < d4) {
        var a = vec4<f32>(0.0);
        for (var g = 0u; g < sets; g++) {
            a += partial[g * d4 + li];
        }
        let o = (t * p.n_heads + h) * p.head_dim + 4u * li;
        let r = a / l;
        out[o] = r.x;
        out[o + 1u] = r.y;
        out[o + 2u] = r.z;
        out[o + 3u] = r.w;
    }
}
