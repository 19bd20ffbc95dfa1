// Activation loader of the CPU matmul kernels (see plain.wgsl) through subgroup operations,
// for subgroups of at least 8 invocations that all load the same block: lane l loads x[xb + l mod 8] and every lane takes
// the 8 vec4s by broadcast. Why: llvmpipe runs a subgroup as the SIMD lanes of one thread and
// turns each uniform load into a gather over all lanes, even when every lane reads the same
// address; so a block cost 32 gathers of one value each, and now costs 4 gathers of 8 values
// (measured on llvmpipe, Q4_1 1536 × 576, 4 tokens: ~4.8 → ~3 ns per token and block).
// Every lane must reach x_setup() and load_x() (no lane may have returned before).
var<private> lane8: u32;

fn x_setup() {
    // The lane's index in its subgroup (all lanes active), mod 8.
    lane8 = subgroupExclusiveAdd(1u) & 7u;
}

fn load_x(xb: u32, xs: ptr<function, array<vec4<f32>, 8>>) {
    let mine = x[xb + lane8];
    (*xs)[0] = subgroupBroadcast(mine, 0u);
    (*xs)[1] = subgroupBroadcast(mine, 1u);
    (*xs)[2] = subgroupBroadcast(mine, 2u);
    (*xs)[3] = subgroupBroadcast(mine, 3u);
    (*xs)[4] = subgroupBroadcast(mine, 4u);
    (*xs)[5] = subgroupBroadcast(mine, 5u);
    (*xs)[6] = subgroupBroadcast(mine, 6u);
    (*xs)[7] = subgroupBroadcast(mine, 7u);
}
