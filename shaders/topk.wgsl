// Top-k candidates on the GPU, for sampling with a small read-back: for each row r of n
// logits, every (i, logits[r, i]) whose logit is at least the k-th largest — the k best and
// all tokens tied with the k-th — in any order; the host ranks them (crates/sampling). Only
// 8 + 8·cap bytes per row come back instead of 4·n.
//   key(l) = bits of l mapped so that unsigned order is f32 total order (as Rust's total_cmp)
//   threshold = the k-th largest key, found by radix selection: four rounds over the row, each
//   fixing 8 more bits of the threshold from a 256-bin histogram of the keys that share the
//   bits fixed so far.
// out[r * (2 + 2·cap)] = how many logits reach the threshold (≥ k; when it exceeds cap, only
// cap of them are written and the host reads the whole row instead), then (index, logit bits)
// pairs.
// Launch: workgroup_size 256, one workgroup per row: grid = (1, rows).
struct Params { n: u32, k: u32, cap: u32, _c: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;

var<workgroup> histogram: array<atomic<u32>, 256>;
var<workgroup> prefix: u32;
var<workgroup> rank: u32;
var<workgroup> count: atomic<u32>;

// Positive floats above all negative ones, negative ones in reverse: total order as u32.
fn key(l: f32) -> u32 {
    let b = bitcast<u32>(l);
    return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let row = wg.y * p.n;
    if (li == 0u) {
        prefix = 0u;
        rank = min(p.k, p.n);
        atomicStore(&count, 0u);
    }
    for (var round = 0u; round < 4u; round++) {
        let shift = 24u - 8u * round;
        atomicStore(&histogram[li], 0u);
        workgroupBarrier();
        let fixed = prefix;
        for (var i = li; i < p.n; i += 256u) {
            let k = key(logits[row + i]);
            // In round 0 no bits are fixed (and a shift by 32 is not defined).
            if (round == 0u || (k >> (shift + 8u)) == fixed) {
                atomicAdd(&histogram[(k >> shift) & 255u], 1u);
            }
        }
        workgroupBarrier();
        if (li == 0u) {
            // The bin of the rank-th largest remaining key, counting from the top bin down.
            var need = rank;
            var bin = 255u;
            loop {
                let c = atomicLoad(&histogram[bin]);
                if (c >= need || bin == 0u) {
                    break;
                }
                need -= c;
                bin -= 1u;
            }
            rank = need;
            prefix = (fixed << 8u) | bin;
        }
        workgroupBarrier();
    }
    let threshold = prefix;
    let o = wg.y * (2u + 2u * p.cap);
    for (var i = li; i < p.n; i += 256u) {
        let l = logits[row + i];
        if (key(l) >= threshold) {
            let slot = atomicAdd(&count, 1u);
            if (slot < p.cap) {
                out[o + 2u + 2u * slot] = i;
                out[o + 3u + 2u * slot] = bitcast<u32>(l);
            }
        }
    }
    workgroupBarrier();
    if (li == 0u) {
        out[o] = atomicLoad(&count);
    }
}
