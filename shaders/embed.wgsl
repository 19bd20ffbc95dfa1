// Embedding lookup: out[t, :] = dequant(E[token[t], :]) for the tokens whose row lies in this
// row-chunk of E (rows row0 .. row0 + rows); other tokens are left to the chunk that holds them.
// E stays in its GGUF quantisation; load_w comes from shaders/quant/.
// Launch: workgroup_size 64, one invocation per 32-value block: grid = (ceil(k / 32 / 64), tokens).
struct Batch { n_tokens: u32, _a: u32, _b: u32, _c: u32 }
struct Params { k: u32, row0: u32, rows: u32, _a: u32 }

@group(0) @binding(0) var<uniform> batch: Batch;
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> w_scales: array<u32>;
@group(0) @binding(3) var<storage, read> w_qs: array<u32>;
@group(0) @binding(4) var<storage, read> tokens: array<u32>;
@group(0) @binding(5) var<storage, read_write> out: array<vec4<f32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let nb = p.k / 32u;
    let b = gid.x;
    let t = gid.y;
    if (b >= nb || t >= batch.n_tokens) {
        return;
    }
    let token = tokens[t];
    if (token < p.row0 || token >= p.row0 + p.rows) {
        return;
    }
    var w: array<vec4<f32>, 8>;
    load_w((token - p.row0) * nb + b, &w);
    let o = t * (p.k / 4u) + b * 8u;
    for (var i = 0u; i < 8u; i++) {
        out[o + i] = w[i];
    }
}
