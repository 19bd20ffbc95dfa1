// Repetition penalty on the GPU, before the arg-max or top-k kernels read the logits:
//   logits[row, t] = logits[row, t] / θ   if it is > 0,   logits[row, t] · θ   otherwise,
// for each (row, t) pair of the list (the distinct recent tokens of each row's sequence, so no
// element is written twice). The CPU sampler (crates/sampling) does the same to a read-back row.
// Launch: workgroup_size 64, one invocation per pair: grid = (ceil(count / 64), 1).
struct Params { count: u32, vocab: u32, penalty: f32, _c: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> pairs: array<vec2<u32>>;
@group(0) @binding(2) var<storage, read_write> logits: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x >= p.count) {
        return;
    }
    let pair = pairs[gid.x];
    let i = pair.x * p.vocab + pair.y;
    let l = logits[i];
    logits[i] = select(l * p.penalty, l / p.penalty, l > 0.0);
}
