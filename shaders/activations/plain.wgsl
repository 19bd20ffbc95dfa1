// Activation loader of the matmul kernels: xv = the 32 values x[xb .. xb + 8) (vec4 indices
// into the kernel's `x`: a storage array in the GPU kernels, a uniform array in the CPU ones)
// of one block of one token, which the weight loaders' dot_w / load_w pair with a weight block.
// Plain loads; the CPU kernels take subgroup.wgsl instead where the device has subgroups.
fn x_setup() {}

fn load_x(xb: u32, xv: ptr<function, array<vec4<f32>, 8>>) {
    for (var i = 0u; i < 8u; i++) {
        (*xv)[i] = x[xb + i];
    }
}
