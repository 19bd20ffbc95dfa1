// Query heads of attention workgroup x (attention.wgsl, attention_combine.wgsl): a kv head's
// n_heads / n_kv query heads are taken GROUP (the kernel's constant) at a time, the last
// group holding the rest. Returns (kv head, its first query head h0, heads in the group).
fn head_group(x: u32, n_heads: u32, n_kv: u32) -> vec3<u32> {
    let per_kv = n_heads / n_kv;
    let groups = (per_kv + GROUP - 1u) / GROUP;
    let kv_head = x / groups;
    let h0 = kv_head * per_kv + (x % groups) * GROUP;
    return vec3<u32>(kv_head, h0, min(GROUP, (kv_head + 1u) * per_kv - h0));
}
