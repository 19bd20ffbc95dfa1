//! The WGSL kernels of shaders/, assembled and compiled into compute pipelines.
//!
//! A kernel that reads weights calls `load_<name>(block, &w)`; the loader for the weight's
//! quantisation type (shaders/quant/<type>.wgsl, written for a binding called `WEIGHT`) is
//! prepended once per weight binding with `WEIGHT` renamed (after the helpers it shares with a
//! sibling type: k_blocks.wgsl for Q4_K/Q5_K, q5_bits.wgsl for Q5_0/Q5_1). So there is one
//! matmul kernel and one loader per type, not one matmul per type.

use std::collections::HashMap;

use xlingo_formats::GgmlType;

use crate::context::Gpu;

pub const MATMUL: &str = include_str!("../../../shaders/matmul.wgsl");
pub const MATMUL_SWIGLU: &str = include_str!("../../../shaders/matmul_swiglu.wgsl");
pub const EMBED: &str = include_str!("../../../shaders/embed.wgsl");
pub const RMSNORM: &str = include_str!("../../../shaders/rmsnorm.wgsl");
pub const ROPE_KV: &str = include_str!("../../../shaders/rope_kv.wgsl");
pub const ATTENTION: &str = include_str!("../../../shaders/attention.wgsl");
pub const ATTENTION_COMBINE: &str = include_str!("../../../shaders/attention_combine.wgsl");
pub const ARGMAX: &str = include_str!("../../../shaders/argmax.wgsl");
pub const TOPK: &str = include_str!("../../../shaders/topk.wgsl");
pub const PENALTY: &str = include_str!("../../../shaders/penalty.wgsl");
pub const MATMUL_CPU: &str = include_str!("../../../shaders/matmul_cpu.wgsl");
pub const MATMUL_SWIGLU_CPU: &str = include_str!("../../../shaders/matmul_swiglu_cpu.wgsl");

/// `load_x` of the matmul kernels: plain loads, or subgroup broadcasts in the CPU kernels where
/// the device has them.
const X_PLAIN: &str = include_str!("../../../shaders/activations/plain.wgsl");
const X_SUBGROUP: &str = include_str!("../../../shaders/activations/subgroup.wgsl");

/// KV-cache access of rope_kv.wgsl and attention.wgsl, and the element type (4 values of a
/// head's row) they substitute for `KV_VEC4`.
const KV_F32: (&str, &str) = (include_str!("../../../shaders/kv/f32.wgsl"), "vec4<f32>");
const KV_F16: (&str, &str) = (include_str!("../../../shaders/kv/f16.wgsl"), "vec2<u32>");
/// The same cache as KV_F16, read and written as f16 where the device has shader-f16.
const KV_F16_NATIVE: (&str, &str) = (
    include_str!("../../../shaders/kv/f16_native.wgsl"),
    "vec4<f16>",
);

/// `head_group` of attention.wgsl and attention_combine.wgsl: which query heads a workgroup
/// serves.
const HEAD_GROUP_HELPER: &str = include_str!("../../../shaders/heads/group.wgsl");

const K_BLOCKS: &str = include_str!("../../../shaders/quant/k_blocks.wgsl");
const Q5_BITS: &str = include_str!("../../../shaders/quant/q5_bits.wgsl");

/// The loader of a type: its file, after the helpers it shares with a sibling type.
fn loader(ty: GgmlType) -> &'static [&'static str] {
    match ty {
        GgmlType::F32 => &[include_str!("../../../shaders/quant/f32.wgsl")],
        GgmlType::F16 => &[include_str!("../../../shaders/quant/f16.wgsl")],
        GgmlType::Q4_0 => &[include_str!("../../../shaders/quant/q4_0.wgsl")],
        GgmlType::Q4_1 => &[include_str!("../../../shaders/quant/q4_1.wgsl")],
        GgmlType::Q5_0 => &[Q5_BITS, include_str!("../../../shaders/quant/q5_0.wgsl")],
        GgmlType::Q5_1 => &[Q5_BITS, include_str!("../../../shaders/quant/q5_1.wgsl")],
        GgmlType::Q8_0 => &[include_str!("../../../shaders/quant/q8_0.wgsl")],
        GgmlType::Q4K => &[K_BLOCKS, include_str!("../../../shaders/quant/q4_k.wgsl")],
        GgmlType::Q5K => &[K_BLOCKS, include_str!("../../../shaders/quant/q5_k.wgsl")],
        GgmlType::Q6K => &[include_str!("../../../shaders/quant/q6_k.wgsl")],
        _ => unreachable!("weights::is_supported is checked at upload"),
    }
}

/// What a binding is, in binding order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Slot {
    Uniform,
    Read,
    Write,
}

pub struct Kernel {
    pub name: &'static str,
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
}

/// Compiled kernels, one per (kernel, weight type, size written in), built on first use.
pub struct Kernels {
    cache: HashMap<(&'static str, Option<GgmlType>, u32), std::sync::Arc<Kernel>>,
    /// Invocations sharing one matrix row (the matmul kernels' `LANES`).
    pub lanes: u32,
    /// A CPU adapter: the matmuls may use the *_cpu kernels (engine::cpu_chunk decides).
    pub cpu: bool,
    /// The activation loader the CPU kernels get.
    cpu_activations: &'static str,
    /// The KV cache holds f16 instead of f32.
    pub kv_f16: bool,
    /// The device has shader-f16 ([`Gpu::shader_f16`]): the f16 cache is accessed as f16,
    /// not through packed u32 words.
    pub shader_f16: bool,
}

impl Kernels {
    /// CPU adapters (lavapipe, SwiftShader) run invocations as SIMD lanes of one thread:
    /// there a row per invocation and no reduction is fastest; GPUs want lanes to share a row.
    pub fn for_gpu(gpu: &Gpu) -> Kernels {
        let lanes = match gpu.device_type {
            wgpu::DeviceType::Cpu => 1,
            _ => 8,
        };
        Kernels {
            cache: HashMap::new(),
            cpu: gpu.device_type == wgpu::DeviceType::Cpu,
            cpu_activations: if gpu.subgroups { X_SUBGROUP } else { X_PLAIN },
            kv_f16: false,
            shader_f16: gpu.shader_f16,
            lanes: std::env::var("XLINGO_MATMUL_LANES")
                .ok()
                .and_then(|v| v.parse().ok())
                .filter(|l: &u32| [1, 2, 4, 8].contains(l))
                .unwrap_or(lanes),
        }
    }

    /// Rows of a matrix one matmul workgroup covers.
    pub fn rows_per_workgroup(&self) -> usize {
        64 / self.lanes as usize
    }
}

impl Kernels {
    /// `weights`: the names of the kernel's weight bindings (`w`, or `gate` and `up`), all of
    /// type `ty`.
    pub fn get(
        &mut self,
        gpu: &Gpu,
        name: &'static str,
        source: &'static str,
        weights: &[&str],
        ty: Option<GgmlType>,
        slots: &[Slot],
    ) -> std::sync::Arc<Kernel> {
        self.get_sized(gpu, name, source, weights, ty, slots, 0)
    }

    /// [`Kernels::get`] for a kernel with a size written into its source: `X_VEC4S`, the vec4s
    /// of x read as a uniform array (the CPU matmuls; WGSL sizes uniform arrays at compile
    /// time), or `HEAD_GROUP`, the query heads one attention workgroup serves (a constant, so
    /// unused lanes compile away).
    #[allow(clippy::too_many_arguments)]
    pub fn get_sized(
        &mut self,
        gpu: &Gpu,
        name: &'static str,
        source: &'static str,
        weights: &[&str],
        ty: Option<GgmlType>,
        slots: &[Slot],
        size: u32,
    ) -> std::sync::Arc<Kernel> {
        self.cache
            .entry((name, ty, size))
            .or_insert_with(|| {
                let mut code = String::new();
                if let Some(ty) = ty {
                    for w in weights {
                        for part in loader(ty) {
                            code.push_str(&part.replace("WEIGHT", w));
                        }
                        code.push('\n');
                    }
                }
                if source.contains("load_x(") {
                    // In the GPU kernels the lanes of a row load different blocks: plain loads.
                    code.push_str(if name.ends_with("_cpu") {
                        self.cpu_activations
                    } else {
                        X_PLAIN
                    });
                    code.push('\n');
                }
                if source.contains("head_group(") {
                    code.push_str(HEAD_GROUP_HELPER);
                    code.push('\n');
                }
                let mut source = source
                    .replace("X_VEC4S", &format!("{size}u"))
                    .replace("HEAD_GROUP", &format!("{size}u"));
                let kv = source.contains("KV_VEC4");
                let native_f16 = kv && self.kv_f16 && self.shader_f16;
                if kv {
                    let (helpers, element) = match (self.kv_f16, native_f16) {
                        (false, _) => KV_F32,
                        (true, false) => KV_F16,
                        (true, true) => KV_F16_NATIVE,
                    };
                    code.push_str(helpers);
                    code.push('\n');
                    source = source.replace("KV_VEC4", element);
                }
                code.push_str(&source);
                if native_f16 {
                    code.insert_str(0, "enable f16;\n");
                }
                let lanes = code.contains("override LANES").then_some(self.lanes);
                std::sync::Arc::new(compile(gpu, name, &code, slots, lanes))
            })
            .clone()
    }
}

fn compile(
    gpu: &Gpu,
    name: &'static str,
    code: &str,
    slots: &[Slot],
    lanes: Option<u32>,
) -> Kernel {
    let device = &gpu.device;
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(name),
        source: wgpu::ShaderSource::Wgsl(code.into()),
    });
    let entries: Vec<wgpu::BindGroupLayoutEntry> = slots
        .iter()
        .enumerate()
        .map(|(i, slot)| wgpu::BindGroupLayoutEntry {
            binding: i as u32,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: match slot {
                Slot::Uniform => wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                Slot::Read | Slot::Write => wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage {
                        read_only: *slot == Slot::Read,
                    },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
            },
            count: None,
        })
        .collect();
    let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some(name),
        entries: &entries,
    });
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(name),
        bind_group_layouts: &[Some(&layout)],
        immediate_size: 0,
    });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(name),
        layout: Some(&pipeline_layout),
        module: &module,
        entry_point: Some("main"),
        compilation_options: wgpu::PipelineCompilationOptions {
            constants: &lanes.map(|l| vec![("LANES", l as f64)]).unwrap_or_default(),
            ..Default::default()
        },
        cache: None,
    });
    Kernel {
        name,
        pipeline,
        layout,
    }
}
