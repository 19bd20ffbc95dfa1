// The splits of attention.wgsl's positions (flash-decoding), added up: for each token and
// query head, with (m_s, l_s, a_s) split s's running maximum, sum of exp(score - m_s) and
// exp-weighted sum of values,
//   M = max_s m_s,   out = Σ_s exp(m_s - M) · a_s / Σ_s exp(m_s - M) · l_s
// (a split without positions has m_s = -3e38 and adds nothing).
// partials: [tokens, attention workgroups along x, splits] × (m, l, a for 4 heads ×
// head_dim / 4), vec4s over a workgroup's heads (attention.wgsl).
// Launch: workgroup_size 64, one workgroup per attention workgroup of the pass's first split:
// grid = (n_kv · ceil((n_heads / n_kv) / GROUP), tokens); invocation i < head_dim / 4 takes
// dimensions 4i..4i + 3 of every head of the group.
struct Batch { n_tokens: u32, splits: u32, _b: u32, _c: u32 }
struct Params { n_heads: u32, n_kv: u32, head_dim: u32, _a: u32 }

const GROUP: u32 = HEAD_GROUP;

@group(0) @binding(0) var<uniform> batch: Batch;
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> partials: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(
    @builtin(local_invocation_index) li: u32,
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) grid: vec3<u32>,
) {
    let d4 = p.head_dim / 4u;
    let t = wg.y;
    if (li >= d4 || t >= batch.n_tokens) {
        return;
    }
    let hg = head_group(wg.x, p.n_heads, p.n_kv);
    let h0 = hg.y;
    let heads = hg.z;
    let splits = batch.splits;
    let stride = 2u + 4u * d4;
    let base = (t * grid.x + wg.x) * splits * stride;
    var m = vec4<f32>(-3.0e38);
    for (var s = 0u; s < splits; s++) {
        m = max(m, partials[base + s * stride]);
    }
    var l = vec4<f32>(0.0);
    var a = array<vec4<f32>, 4>();
    for (var s = 0u; s < splits; s++) {
        let b = base + s * stride;
        let w = exp(partials[b] - m);
        l += w * partials[b + 1u];
        for (var g = 0u; g < heads; g++) {
            a[g] += w[g] * partials[b + 2u + g * d4 + li];
        }
    }
    for (var g = 0u; g < heads; g++) {
        let o = (t * p.n_heads + h0 + g) * p.head_dim + 4u * li;
        let v = a[g] / l[g];
        out[o] = v.x;
        out[o + 1u] = v.y;
        out[o + 2u] = v.z;
        out[o + 3u] = v.w;
    }
}
