// KV-cache access of rope_kv.wgsl and attention.wgsl, f32 cache: cache_k and cache_v are
// array<vec4<f32>> (KV_VEC4 in those kernels), 4 values of one head's row per element.
// i4 is an element's index and e a value's index in [sequences, n_kv, ctx, head_dim];
// put_*2 write the values at e and e + 1 (e even).
fn get_k4(i4: u32) -> vec4<f32> {
    return cache_k[i4];
}

fn get_v4(i4: u32) -> vec4<f32> {
    return cache_v[i4];
}

fn put_k2(e: u32, a: f32, b: f32) {
    cache_k[e / 4u][e % 4u] = a;
    cache_k[e / 4u][e % 4u + 1u] = b;
}

fn put_v2(e: u32, a: f32, b: f32) {
    cache_v[e / 4u][e % 4u] = a;
    cache_v[e / 4u][e % 4u + 1u] = b;
}
