// Causal attention of one query against the KV cache, grouped-query heads:
//   s_j = (q · k_j) / sqrt(d) for j in 0..=pos,   p = softmax(s),   out = Σ_j p_j · v_j
// where (seq, pos) = slots[t] are token t's sequence and position (rope_kv.wgsl has written
// the chunk's own keys first, so a prefill chunk sees itself causally), keys and values are
// those of sequence seq (cache [sequences, n_kv, ctx, d]) and query head h reads kv-head
// h / (n_heads / n_kv). A cache larger than one binding is split into parts of whole
// (sequence, kv head) slabs (slab = seq · n_kv + kv head, see rope_kv.wgsl): this dispatch's
// cache_k/cache_v hold slabs first..first + slabs, and workgroups of other slabs return.
// One workgroup serves up to GROUP = min(4, n_heads / n_kv) query heads of one kv head, so each
// key and value is read once for all of them: a kv head's heads are taken GROUP at a time, the
// last group holding the rest (7 heads a kv head, Qwen2.5-0.5B: 4 + 3; SmolLM2: 3). Every
// quantity below is a vec4 over a group's heads; GROUP is a constant written in when the
// kernel is assembled, so lanes past it cost nothing (a grouped-query kernel would otherwise
// do 4× the work for a model without grouped-query attention), and heads missing from a last
// group have q = 0 and are not written.
// Positions are taken in tiles of 256 with an online softmax (as in FlashAttention): with m
// the running maximum, l the running Σ exp(s_j - m) and a the running Σ exp(s_j - m) · v_j,
// a tile with maximum m' = max(m, max_tile s) rescales both by exp(m - m') and adds its own
// terms; out = a / l. So no scores buffer exists ([heads, tokens, ctx] floats: a gigabyte at a
// 128k context) and any context length fits; the tile's weights live in workgroup memory.
// Split positions (flash-decoding): when a pass has too few (group, token) workgroups to fill
// the device (decoding one token: SmolLM2 has 3), the engine splits each token's tiles into
// `splits` consecutive ranges, one workgroup each (z); each writes its running maximum m, sum
// l and weighted values a to `partials`, and attention_combine.wgsl adds them up. With
// splits = 1 the output is written here.
// Launch: workgroup_size 64, one workgroup per (group of heads, token, split):
// grid = (n_kv · ceil((n_heads / n_kv) / GROUP), tokens, splits). Invocations stride over a
// tile's positions for the scores; for the weighted sum of values, groups of head_dim / 4
// invocations (4 dimensions each) take every (64 / (head_dim / 4))-th position and add their
// partial sums at the end.
struct Batch { n_tokens: u32, splits: u32, _b: u32, _c: u32 }
struct Params {
    n_heads: u32, n_kv: u32, head_dim: u32, ctx: u32, _a: u32, scale: f32, stride: u32,
    first: u32, slabs: u32, _b: u32, _c: u32, _d: u32,
}

const GROUP: u32 = HEAD_GROUP;

const TILE: u32 = 256u;
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
// [tokens, workgroups along x, splits] × (m, l, a for 4 heads × head_dim / 4), when split.
@group(0) @binding(7) var<storage, read_write> partials: array<vec4<f32>>;

var<workgroup> qv: array<array<vec4<f32>, 64>, 4>; // [head of the group][head_dim / 4 ≤ 64]
var<workgroup> red: array<vec4<f32>, 64>;
var<workgroup> weights: array<vec4<f32>, TILE>;
var<workgroup> partial: array<array<vec4<f32>, 64>, 4>;

// The workgroup's maximum (max_not_sum) or sum of every invocation's v, per head; all invocations
// get it (max_not_sum is a constant at each call, so compilers fold the select).
fn reduce(li: u32, v: vec4<f32>, max_not_sum: bool) -> vec4<f32> {
    red[li] = v;
    workgroupBarrier();
    for (var half = LANES / 2u; half > 0u; half >>= 1u) {
        if (li < half) {
            let a = red[li];
            let b = red[li + half];
            red[li] = select(a + b, max(a, b), max_not_sum);
        }
        workgroupBarrier();
    }
    let r = red[0];
    // red is written again by the next reduction.
    workgroupBarrier();
    return r;
}

// q · k for each head of the group, lanes past GROUP left at 0 (GROUP is a constant, so the
// compiler drops their products).
fn head_dots(i: u32, k: vec4<f32>) -> vec4<f32> {
    var s = vec4<f32>(dot(qv[0][i], k), 0.0, 0.0, 0.0);
    if (GROUP > 1u) {
        s.y = dot(qv[1][i], k);
    }
    if (GROUP > 2u) {
        s.z = dot(qv[2][i], k);
    }
    if (GROUP > 3u) {
        s.w = dot(qv[3][i], k);
    }
    return s;
}

@compute @workgroup_size(64)
fn main(
    @builtin(local_invocation_index) li: u32,
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) grid: vec3<u32>,
) {
    // Query heads of this workgroup: h0..h0 + heads, all of kv head `kv_head`.
    let hg = head_group(wg.x, p.n_heads, p.n_kv);
    let kv_head = hg.x;
    let h0 = hg.y;
    let heads = hg.z;
    let t = wg.y;
    let seq = slots[t].x;
    let positions = slots[t].y + 1u;
    let slab = seq * p.n_kv + kv_head;
    // Uniform over the workgroup (slots and p are read-only), so no barrier is skipped by some.
    if (slab < p.first || slab >= p.first + p.slabs) {
        return;
    }
    let d4 = p.head_dim / 4u;
    for (var i = li; i < d4; i += LANES) {
        let q = (t * p.stride + h0 * p.head_dim) / 4u + i;
        for (var g = 0u; g < GROUP; g++) {
            qv[g][i] = select(vec4<f32>(0.0), qkv[q + g * d4], g < heads);
        }
    }
    workgroupBarrier();

    // For the values: `sets` groups of d4 invocations side by side, group r taking the
    // positions j ≡ r (mod sets), invocation c of a group 4 head dimensions.
    let sets = LANES / d4;
    let r = li / d4;
    let c = li % d4;
    var m = vec4<f32>(-3.0e38);
    var l = vec4<f32>(0.0);
    var a0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0);
    var a2 = vec4<f32>(0.0);
    var a3 = vec4<f32>(0.0);
    let row0 = (slab - p.first) * p.ctx;
    // This workgroup's positions: split wg.z's share of the tiles.
    let splits = max(batch.splits, 1u);
    let tiles_per_split = ((positions + TILE - 1u) / TILE + splits - 1u) / splits;
    let begin = min(wg.z * tiles_per_split * TILE, positions);
    let end = min(begin + tiles_per_split * TILE, positions);
    for (var t0 = begin; t0 < end; t0 += TILE) {
        let n = min(TILE, end - t0);
        var tile_max = vec4<f32>(-3.0e38);
        for (var j = li; j < n; j += LANES) {
            let kb = (row0 + t0 + j) * d4;
            var s = vec4<f32>(0.0);
            for (var i = 0u; i < d4; i++) {
                s += head_dots(i, get_k4(kb + i));
            }
            s *= p.scale;
            weights[j] = s;
            tile_max = max(tile_max, s);
        }
        let m_new = max(m, reduce(li, tile_max, true));
        var tile_sum = vec4<f32>(0.0);
        for (var j = li; j < n; j += LANES) {
            let e = exp(weights[j] - m_new);
            weights[j] = e;
            tile_sum += e;
        }
        let rescale = exp(m - m_new);
        // reduce's barriers also make every invocation's weights visible below.
        l = l * rescale + reduce(li, tile_sum, false);
        m = m_new;
        if (r < sets) {
            var b0 = a0 * rescale.x;
            var b1 = a1 * rescale.y;
            var b2 = a2 * rescale.z;
            var b3 = a3 * rescale.w;
            for (var j = r; j < n; j += sets) {
                let v = get_v4((row0 + t0 + j) * d4 + c);
                let w = weights[j];
                b0 += w.x * v;
                if (GROUP > 1u) {
                    b1 += w.y * v;
                }
                if (GROUP > 2u) {
                    b2 += w.z * v;
                }
                if (GROUP > 3u) {
                    b3 += w.w * v;
                }
            }
            a0 = b0;
            a1 = b1;
            a2 = b2;
            a3 = b3;
        }
        // The next tile overwrites weights.
        workgroupBarrier();
    }
    // The groups' partial sums, added.
    partial[0][li] = a0;
    partial[1][li] = a1;
    partial[2][li] = a2;
    partial[3][li] = a3;
    workgroupBarrier();
    if (li >= d4) {
        return;
    }
    // One split's (m, l, a) go to partials for attention_combine.wgsl.
    let base = ((t * grid.x + wg.x) * splits + wg.z) * (2u + 4u * d4);
    if (splits > 1u && li == 0u) {
        partials[base] = m;
        partials[base + 1u] = l;
    }
    for (var g = 0u; g < heads; g++) {
        var a = vec4<f32>(0.0);
        for (var k = 0u; k < sets; k++) {
            a += partial[g][k * d4 + li];
        }
        if (splits > 1u) {
            partials[base + 2u + g * d4 + li] = a;
            continue;
        }
        let o = (t * p.n_heads + h0 + g) * p.head_dim + 4u * li;
        let v = a / l[g];
        out[o] = v.x;
        out[o + 1u] = v.y;
        out[o + 2u] = v.z;
        out[o + 3u] = v.w;
    }
}
