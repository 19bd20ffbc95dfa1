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
// [sequences, n_kv, ctx, d] at [seq, h, pos].
// Launch: workgroup_size 64, one invocation per (head, pair): grid = (ceil((n_heads + n_kv) · d/2 / 64), tokens).
struct Batch { n_tokens: u32, pos0: u32, _a: u32, _b: u32 }
struct Params { n_heads: u32, n_kv: u32, head_dim: u32, ctx: u32, neox: u32, stride: u32, _b: u32, _c: u32 }

@group(0) @binding(0) var<uniform> batch: Batch;
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> cs: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> qkv: array<f32>;
@group(0) @binding(4) var<storage, read_write> cache_k: array<f32>;
@group(0) @binding(5) var<storage, read_write> cache_v: array<f32>;
@group(0) @binding(6) var<storage, read> slots: array<vec2<u32>>;

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
    let c = cs[pos * half + i];
    var i0 = 2u * i;
    var i1 = 2u * i + 1u;
    if (p.neox == 1u) {
        i0 = i;
        i1 = i + half;
    }
    // Heads 0..n_heads are q's, the rest k's; v follows k at n_kv · d.
    let o = t * p.stride + head * p.head_dim;
    let x0 = qkv[o + i0];
    let x1 = qkv[o + i1];
    let r0 = x0 * c.x - x1 * c.y;
    let r1 = x0 * c.y + x1 * c.x;
    if (head < p.n_heads) {
        qkv[o + i0] = r0;
        qkv[o + i1] = r1;
    } else {
        let h = head - p.n_heads;
        let dst = ((seq * p.n_kv + h) * p.ctx + pos) * p.head_dim;
        let ov = o + p.n_kv * p.head_dim;
        cache_k[dst + i0] = r0;
        cache_k[dst + i1] = r1;
        cache_v[dst + i0] = qkv[ov + i0];
        cache_v[dst + i1] = qkv[ov + i1];
    }
}
