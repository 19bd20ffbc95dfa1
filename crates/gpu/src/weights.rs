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
pub const SUPPORTED: &str = "F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K";

pub fn is_supported(ty: GgmlType) -> bool {
    use GgmlType::*;
    matches!(
        ty,
        F32 | F16 | Q4_0 | Q4_1 | Q5_0 | Q5_1 | Q8_0 | Q4K | Q5K | Q6K
    )
}

/// Where the bytes of one ggml block go: byte ranges copied to the scales array, byte
/// ranges copied to the codes array, and zero bytes added after the scales to keep each
/// block's scales whole words (see the loaders in shaders/quant/ for the resulting layout).
struct Split {
    scales: &'static [std::ops::Range<usize>],
    codes: &'static [std::ops::Range<usize>],
    scale_pad: usize,
}

// Lists of byte ranges, most of one range: not a mistaken `vec![0..n]`.
#[allow(clippy::single_range_in_vec_init)]
fn split(ty: GgmlType) -> Split {
    let (scales, codes, scale_pad): (&'static [_], &'static [_], _) = match ty {
        GgmlType::F32 => (&[], &[0..128], 0),
        GgmlType::F16 => (&[], &[0..64], 0),
        GgmlType::Q4_0 => (&[0..2], &[2..18], 0),
        GgmlType::Q4_1 => (&[0..4], &[4..20], 0),
        // d | qh, qs → scales d; codes qh then qs.
        GgmlType::Q5_0 => (&[0..2], &[2..22], 0),
        GgmlType::Q5_1 => (&[0..4], &[4..24], 0),
        GgmlType::Q8_0 => (&[0..2], &[2..34], 0),
        // d, dmin, scales[12] | qs[128].
        GgmlType::Q4K => (&[0..16], &[16..144], 0),
        // d, dmin, scales[12] | qs[128], then qh[32].
        GgmlType::Q5K => (&[0..16], &[48..176, 16..48], 0),
        // ql[128], qh[64] | scales[16], d (18 bytes, padded to 20).
        GgmlType::Q6K => (&[192..210], &[0..192], 2),
        _ => unreachable!("checked by is_supported"),
    };
    Split {
        scales,
        codes,
        scale_pad,
    }
}

impl Split {
    /// Bytes per ggml block in the scales array and in the codes array.
    fn sizes(&self) -> (usize, usize) {
        let len = |r: &[std::ops::Range<usize>]| r.iter().map(|r| r.len()).sum::<usize>();
        (len(self.scales) + self.scale_pad, len(self.codes))
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
        // The kernels work in blocks of 32 values; a K-quant super-block is 8 of them.
        let block_len = ty.block_len().max(32);
        if !cols.is_multiple_of(block_len) {
            return Err(bad(format!(
                "rows of {cols} values; the GPU kernels need a multiple of {block_len} for {}",
                ty.name()
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
        let (scale_bytes, code_bytes) = split(ty).sizes();
        let blocks_per_row = cols / ty.block_len();
        let row_code_bytes = (blocks_per_row * code_bytes) as u64;
        let row_scale_bytes = (blocks_per_row * scale_bytes) as u64;
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
    let split = split(ty);
    let (scale_bytes, code_bytes) = split.sizes();
    if scale_bytes == 0 {
        return (vec![0; 4], pad4(data.to_vec()));
    }
    let n_blocks = data.len() / ty.block_bytes();
    let mut scales = Vec::with_capacity(n_blocks * scale_bytes + 4);
    let mut qs = Vec::with_capacity(n_blocks * code_bytes);
    for b in data.chunks_exact(ty.block_bytes()) {
        for r in split.scales {
            scales.extend_from_slice(&b[r.clone()]);
        }
        scales.resize(scales.len() + split.scale_pad, 0);
        for r in split.codes {
            qs.extend_from_slice(&b[r.clone()]);
        }
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
