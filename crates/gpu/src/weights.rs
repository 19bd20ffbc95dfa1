//! Weight matrices on the GPU in their GGUF quantisation.
//!
//! Each matrix is repacked on upload into two arrays of u32 — per-block scales and the packed
//! codes — so that every load in the kernels is aligned (ggml's 18- and 34-byte blocks are
//! not). Nothing is expanded: a Q4_0 matrix takes 4.5 bits per weight on the GPU as on disk.
//! Matrices larger than the device's storage-binding limit are split into row chunks, each its
//! own pair of buffers and its own dispatch.

use wgpu::util::DeviceExt;
use xlingo_formats::GgmlType;

use crate::context::Gpu;
use crate::error::{GpuError, Result};

/// The quantisation types the kernels read directly.
pub const SUPPORTED: &str = "F32, F16, Q4_0, Q4_1, Q8_0";

pub fn is_supported(ty: GgmlType) -> bool {
    matches!(
        ty,
        GgmlType::F32 | GgmlType::F16 | GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q8_0
    )
}

/// Bytes of one 32-value block that go to the scales array and to the codes array.
fn split(ty: GgmlType) -> (usize, usize) {
    match ty {
        GgmlType::F32 => (0, 128),
        GgmlType::F16 => (0, 64),
        GgmlType::Q4_0 => (2, 16),
        GgmlType::Q4_1 => (4, 16),
        GgmlType::Q8_0 => (2, 32),
        _ => unreachable!("checked by is_supported"),
    }
}

/// A contiguous range of rows of a matrix, in its own buffers.
pub struct Chunk {
    pub row0: usize,
    pub rows: usize,
    pub scales: wgpu::Buffer,
    pub qs: wgpu::Buffer,
}

pub struct GpuMatrix {
    pub name: String,
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    pub chunks: Vec<Chunk>,
}

impl GpuMatrix {
    /// Upload `bytes` (ggml blocks of `ty`, row-major [rows, cols]) without dequantising them.
    pub fn upload(
        gpu: &Gpu,
        name: &str,
        ty: GgmlType,
        rows: usize,
        cols: usize,
        bytes: &[u8],
        max_binding: u64,
    ) -> Result<GpuMatrix> {
        let bad = |reason: String| GpuError::BadTensor {
            tensor: name.into(),
            reason,
        };
        if !is_supported(ty) {
            return Err(GpuError::UnsupportedType {
                tensor: name.into(),
                ty: ty.name(),
                supported: SUPPORTED,
            });
        }
        if !cols.is_multiple_of(32) {
            return Err(bad(format!(
                "rows of {cols} values; the GPU kernels need a multiple of 32"
            )));
        }
        let row_bytes = cols / ty.block_len() * ty.block_bytes();
        if bytes.len() != rows * row_bytes {
            return Err(bad(format!(
                "{} bytes of data, expected {} for [{rows}, {cols}] {}",
                bytes.len(),
                rows * row_bytes,
                ty.name()
            )));
        }
        let (scale_bytes, code_bytes) = split(ty);
        let row_code_bytes = (cols / 32 * code_bytes) as u64;
        let row_scale_bytes = (cols / 32 * scale_bytes) as u64;
        let widest_row = row_code_bytes.max(row_scale_bytes + 4);
        if widest_row > max_binding {
            return Err(GpuError::TooLarge {
                tensor: name.into(),
                row_bytes: widest_row,
                limit: max_binding,
            });
        }
        // Rows per chunk: within the binding limit, and few enough that ceil(rows / 8)
        // workgroups fit one grid dimension.
        let max_rows = ((max_binding / widest_row) as usize)
            .min(gpu.limits.max_compute_workgroups_per_dimension as usize * 8);
        let mut chunks = Vec::new();
        let mut row0 = 0;
        while row0 < rows {
            let n = max_rows.min(rows - row0);
            let data = &bytes[row0 * row_bytes..(row0 + n) * row_bytes];
            let (scales, qs) = repack(ty, data);
            let label = format!("{name}[{row0}..{}]", row0 + n);
            chunks.push(Chunk {
                row0,
                rows: n,
                scales: storage(gpu, &format!("{label} scales"), &scales),
                qs: storage(gpu, &format!("{label} codes"), &qs),
            });
            row0 += n;
        }
        Ok(GpuMatrix {
            name: name.into(),
            ty,
            rows,
            cols,
            chunks,
        })
    }

    pub fn gpu_bytes(&self) -> u64 {
        self.chunks
            .iter()
            .map(|c| c.scales.size() + c.qs.size())
            .sum()
    }
}

/// Split ggml blocks into (scales, codes), each padded to whole u32 words.
fn repack(ty: GgmlType, data: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let (scale_bytes, code_bytes) = split(ty);
    if scale_bytes == 0 {
        return (vec![0; 4], pad4(data.to_vec()));
    }
    let block = ty.block_bytes();
    let n_blocks = data.len() / block;
    let mut scales = Vec::with_capacity(n_blocks * scale_bytes + 4);
    let mut qs = Vec::with_capacity(n_blocks * code_bytes);
    for b in data.chunks_exact(block) {
        scales.extend_from_slice(&b[..scale_bytes]);
        qs.extend_from_slice(&b[scale_bytes..scale_bytes + code_bytes]);
    }
    (pad4(scales), pad4(qs))
}

fn pad4(mut v: Vec<u8>) -> Vec<u8> {
    v.resize(v.len().next_multiple_of(4).max(4), 0);
    v
}

pub fn storage(gpu: &Gpu, label: &str, bytes: &[u8]) -> wgpu::Buffer {
    gpu.device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytes,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        })
}
