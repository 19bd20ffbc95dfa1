// Greedy sampling on the GPU: result = (argmax_i logits[i], logits[argmax]) over one row, the
// lowest index on ties (as the CPU sampler). Only 8 bytes are read back per token.
// Launch: workgroup_size 256, a single workgroup: grid = (1, 1). Invocations stride over the row,
// then reduce (value, index) pairs in workgroup memory.
struct Params { n: u32, _a: u32, _b: u32, _c: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> result: array<u32>;

var<workgroup> best_v: array<f32, 256>;
var<workgroup> best_i: array<u32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) li: u32) {
    var v = -3.4e38;
    var idx = 0xffffffffu;
    for (var i = li; i < p.n; i += 256u) {
        let l = logits[i];
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
        result[0] = best_i[0];
        result[1] = bitcast<u32>(best_v[0]);
    }
}
