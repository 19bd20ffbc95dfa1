// KV-cache access of rope_kv.wgsl and attention.wgsl, f16 cache on devices with shader-f16
// (`enable f16;` is put first in the module): the same bytes as f16.wgsl's packed words (two
// halves per u32, the lower index in the low half), read and written as f16 directly instead
// of through pack2x16float/unpack2x16float. cache_k and cache_v are array<vec4<f16>> (KV_VEC4
// in those kernels). i4 is an element's index and e a value's index in
// [sequences, n_kv, ctx, head_dim]; put_*2 write the values at e and e + 1 (e even).
fn get_k4(i4: u32) -> vec4<f32> {
    return vec4<f32>(cache_k[i4]);
}

fn get_v4(i4: u32) -> vec4<f32> {
    return vec4<f32>(cache_v[i4]);
}

fn put_k2(e: u32, a: f32, b: f32) {
    cache_k[e / 4u][e % 4u] = f16(a);
    cache_k[e / 4u][e % 4u + 1u] = f16(b);
}

fn put_v2(e: u32, a: f32, b: f32) {
    cache_v[e / 4u][e % 4u] = f16(a);
    cache_v[e / 4u][e % 4u + 1u] = f16(b);
}
