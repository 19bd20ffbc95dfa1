// Rotary position embedding of q and k, and the KV-cache write, fused.
// For token t of sequence seq at position pos ((seq, pos) = slots[t]: a prompt chunk is one
// sequence at consecutive positions, a batched decoding step one token of each of several
// sequences), and each pair (x₀, x₁) of a head's dimensions:
//   x₀' = x₀·cos(pos·θᵢ) − x₁·sin(pos·θᵢ),  x₁' = x₀·sin(pos·θᵢ) + x₁·cos(pos·θᵢ)
// with pairs (2i, 2i+1) when neox = 0 (interleaved, GGUF llama) or (i, i + d/2) when
// neox = 1 (NeoX, e.g. qwen2). cos/sin come from a table computed on the host in f64
// (cs[pos · d/2 + i] = (cos, sin)), so long positions keep their precision on any GPU.
// qkv [tokens, stride] holds each token's q (n_heads · d), k and v (n_kv · d each) side by
// side; q is rotated in place; rotated k and plain v of kv-head h go to cache_k/cache_v
// [sequences, n_kv, ctx, d] at [seq, h, pos], in f32 or f16 (put_k2/put_v2 from
// shaders/kv/, two adjacent values at a time, so each f16 word has one writer).
// A cache larger than one binding is split into parts of whole (sequence, kv head) slabs
// (slab = seq · n_kv + h): this dispatch's cache_k/cache_v hold slabs first..first + slabs,
// and the dispatch writes only those; the one holding slab 0 also rotates q.
// An invocation owns a rotation pair of a q head (rotated in place) or the adjacent output
// dimensions (2i, 2i + 1) of a kv head (in the NeoX layout their partners are d/2 away).
// Launch: workgroup_size 64, one invocation per (head, pair): grid = (ceil((n_heads + n_kv) · d/2 / 64), tokens).
struct Batch { n_tokens: u32, _a: u32, _b: u32, _c: u32 }
struct Params { n_heads: u32, n_kv: u32, head_dim: u32, ctx: u32, neox: u32, stride: u32, first: u32, slabs: u32 }

@group(0) @binding(0) var<uniform> batch: Batch;
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> cs: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> qkv: array<f32>;
@group(0) @binding(4) var<storage, read_write> cache_k: array<KV_VEC4>;
@group(0) @binding(5) var<storage, read_write> cache_v: array<KV_VEC4>;
@group(0) @binding(6) var<storage, read> slots: array<vec2<u32>>;

// Dimension e of the rotated vector at qkv offset o, position pos.
fn rotated(o: u32, e: u32, pos: u32) -> f32 {
    let half = p.head_dim / 2u;
    var j = e / 2u;
    var lead = e % 2u == 0u;
    var partner = e + 1u;
    if (p.neox == 1u) {
        j = e % half;
        lead = e < half;
        partner = e + half;
    }
    if (!lead) {
        partner = select(e - 1u, e - half, p.neox == 1u);
    }
    let c = cs[pos * half + j];
    if (lead) {
        return qkv[o + e] * c.x - qkv[o + partner] * c.y;
    }
    return qkv[o + partner] * c.y + qkv[o + e] * c.x;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let half = p.head_dim / 2u;
    let t = gid.y;
    let head = gid.x / half;
    let i = gid.x % half;
    if (head >= p.n_heads + p.n_kv || t >= batch.n_tokens) {
        return;
    }
    let seq = slots[t].x;
    let pos = slots[t].y;
    // Heads 0..n_heads are q's, the rest k's; v follows k at n_kv · d.
    let o = t * p.stride + head * p.head_dim;
    if (head < p.n_heads) {
        if (p.first != 0u) {
            return;
        }
        let c = cs[pos * half + i];
        var i0 = 2u * i;
        var i1 = 2u * i + 1u;
        if (p.neox == 1u) {
            i0 = i;
            i1 = i + half;
        }
        let x0 = qkv[o + i0];
        let x1 = qkv[o + i1];
        qkv[o + i0] = x0 * c.x - x1 * c.y;
        qkv[o + i1] = x0 * c.y + x1 * c.x;
    } else {
        let slab = seq * p.n_kv + head - p.n_heads;
        if (slab < p.first || slab >= p.first + p.slabs) {
            return;
        }
        let e = 2u * i;
        let dst = ((slab - p.first) * p.ctx + pos) * p.head_dim + e;
        let ov = o + p.n_kv * p.head_dim;
        put_k2(dst, rotated(o, e, pos), rotated(o, e + 1u, pos));
        put_v2(dst, qkv[ov + e], qkv[ov + e + 1u]);
    }
}
