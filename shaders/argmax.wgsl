// Greedy sampling on the GPU: result[r] = (argmax_i logits[r, i], logits[r, argmax]) for each
// row r of n values, the lowest index on ties (as the CPU sampler). Only 8 bytes per row are
// read back.
// Launch: workgroup_size 256, one workgroup per row: grid = (1, rows). Invocations stride over
// the row, then reduce (value, index) pairs in workgroup memory.
struct Params { n: u32, _a: u32, _b: u32, _c: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> result: array<u32>;

var<workgroup> best_v: array<f32, 256>;
var<workgroup> best_i: array<u32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let row = wg.y * p.n;
    var v = -3.4e38;
    var idx = 0xffffffffu;
    for (var i = li; i < p.n; i += 256u) {
        let l = logits[row + i];
        if (l > v) {
            v = l;
            idx = i;
        }
    }
    best_v[li] = v;
    best_i[li] = idx;
    workgroupBarrier();
    for (var half = 128u; half > 0u; half >>= 1u) {
        if (li < half) {
            let ov = best_v[li + half];
            let oi = best_i[li + half];
            if (ov > best_v[li] || (ov == best_v[li] && oi < best_i[li])) {
                best_v[li] = ov;
                best_i[li] = oi;
            }
        }
        workgroupBarrier();
    }
    if (li == 0u) {
        result[2u * wg.y] = best_i[0];
        result[2u * wg.y + 1u] = bitcast<u32>(best_v[0]);
    }
}
