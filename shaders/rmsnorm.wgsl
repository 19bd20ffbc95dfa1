// RMSNorm: out[t, i] = x[t, i] / sqrt(mean_j x[t, j]² + eps) · g[i].
// Launch: workgroup_size 64, one workgroup per token: grid = (1, tokens). The 64 invocations
// stride over the row, then reduce the sum of squares in workgroup memory.
struct Batch { n_tokens: u32, _a: u32, _b: u32, _c: u32 }
struct Params { d: u32, eps: f32, _a: u32, _b: u32 }

@group(0) @binding(0) var<uniform> batch: Batch;
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

var<workgroup> red: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let base = wg.y * p.d;
    var s = 0.0;
    for (var i = li; i < p.d; i += 64u) {
        let v = x[base + i];
        s += v * v;
    }
    red[li] = s;
    workgroupBarrier();
    for (var half = 32u; half > 0u; half >>= 1u) {
        if (li < half) {
            red[li] += red[li + half];
        }
        workgroupBarrier();
    }
    let scale = inverseSqrt(red[0] / f32(p.d) + p.eps);
    for (var i = li; i < p.d; i += 64u) {
        out[base + i] = x[base + i] * scale * g[i];
    }
}
