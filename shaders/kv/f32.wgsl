// KV-cache access of rope_kv.wgsl and attention.wgsl, f32 cache: cache_k is array<vec4<f32>>,
// cache_v array<f32> (KV_K and KV_V in those kernels). e is a value's index in
// [sequences, n_kv, ctx, head_dim]; put_*2 write the values at e and e + 1 (e even).
fn get_k4(i4: u32) -> vec4<f32> {
    return cache_k[i4];
}

fn get_v(e: u32) -> f32 {
    return cache_v[e];
}

fn put_k2(e: u32, a: f32, b: f32) {
    cache_k[e / 4u][e % 4u] = a;
    cache_k[e / 4u][e % 4u + 1u] = b;
}

fn put_v2(e: u32, a: f32, b: f32) {
    cache_v[e] = a;
    cache_v[e + 1u] = b;
}
