// KV-cache access of rope_kv.wgsl and attention.wgsl, f16 cache (half the memory and reads of
// the f32 one; llama.cpp's default): values are packed two per u32 with pack2x16float (core
// WGSL: no shader-f16 needed). cache_k and cache_v are array<vec2<u32>> (KV_VEC4 in those
// kernels), 4 values of one head's row per element, the lower index in the low half.
// i4 is an element's index and e a value's index in [sequences, n_kv, ctx, head_dim];
// put_*2 write the values at e and e + 1 (e even) as one word.
fn get_k4(i4: u32) -> vec4<f32> {
    let w = cache_k[i4];
    return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y));
}

fn get_v4(i4: u32) -> vec4<f32> {
    let w = cache_v[i4];
    return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y));
}

fn put_k2(e: u32, a: f32, b: f32) {
    cache_k[e / 4u][(e % 4u) / 2u] = pack2x16float(vec2<f32>(a, b));
}

fn put_v2(e: u32, a: f32, b: f32) {
    cache_v[e / 4u][(e % 4u) / 2u] = pack2x16float(vec2<f32>(a, b));
}
