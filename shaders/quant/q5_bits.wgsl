// Shared by the Q5_0 and Q5_1 loaders (prepended before either): the 5-bit codes of one word
// q of low nibbles (code bytes 4i..4i + 3) with their fifth bits from qh.
//   lo5: values 4i..4i + 3,        (low nibbles)  | (bits 4i..4i + 3 of qh) << 4
//   hi5: values 16 + 4i..16 + 4i + 3, (high nibbles) | (bits 16 + 4i.. of qh) << 4
fn lo5_WEIGHT(q: u32, qh: u32, i: u32) -> vec4<f32> {
    let h = (vec4<u32>(qh) >> (vec4<u32>(0u, 1u, 2u, 3u) + 4u * i)) & vec4<u32>(1u);
    return vec4<f32>((vec4<u32>(q, q >> 8u, q >> 16u, q >> 24u) & vec4<u32>(15u)) | (h << vec4<u32>(4u)));
}
fn hi5_WEIGHT(q: u32, qh: u32, i: u32) -> vec4<f32> {
    let h = (vec4<u32>(qh) >> (vec4<u32>(16u, 17u, 18u, 19u) + 4u * i)) & vec4<u32>(1u);
    return vec4<f32>((vec4<u32>(q >> 4u, q >> 12u, q >> 20u, q >> 28u) & vec4<u32>(15u)) | (h << vec4<u32>(4u)));
}
