// Activation loader of the CPU matmul kernels (matmul_cpu.wgsl, matmul_swiglu_cpu.wgsl): the
// 32 values x[xb .. xb + 8) (vec4 indices into the kernel's uniform `x`) of one block of one
// token, the same for every invocation of a workgroup. Plain uniform loads: where the device
// has no subgroup operations (browsers, SwiftShader); subgroup.wgsl where it has.
fn x_setup() {}

fn load_x(xb: u32, xs: ptr<function, array<vec4<f32>, 8>>) {
    for (var i = 0u; i < 8u; i++) {
        (*xs)[i] = x[xb + i];
    }
}
