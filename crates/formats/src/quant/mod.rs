//! GGML tensor types: block layout, dequantisation to f32 and quantisation from f32.
//!
//! A quantised tensor is a sequence of blocks; each block stores `block_len` weights in
//! `block_bytes` bytes, exactly as ggml lays them out (all multi-byte fields little-endian).
//!
//! Dequantisation is bit-exact with ggml's reference `dequantize_row_*` (ggml-quants.c):
//! every product is computed in f32 in the same order, without fused multiply-add.
//! Quantisation follows ggml's reference `quantize_row_*_ref` (see each function for the few
//! places where ggml's own result depends on the compiler, and which choice we make).
//!
//! The per-family code lives in [`float`] (plain and integer element types), [`legacy`]
//! (32-weight blocks: Q4_0 … Q8_1) and [`kquants`] (256-weight super-blocks: Q2_K … Q8_K).

mod float;
mod kquants;
mod legacy;

use crate::error::{FormatError, Result};

/// The tensor element types of GGUF, numbered as in ggml.h.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GgmlType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q8_1,
    Q2K,
    Q3K,
    Q4K,
    Q5K,
    Q6K,
    Q8K,
    I8,
    I16,
    I32,
    I64,
    F64,
    BF16,
}

impl GgmlType {
    /// Map ggml's numeric type id; `None` for ids we do not know (the i-quants, ternary, …).
    pub fn from_id(id: u32) -> Option<Self> {
        use GgmlType::*;
        Some(match id {
            0 => F32,
            1 => F16,
            2 => Q4_0,
            3 => Q4_1,
            6 => Q5_0,
            7 => Q5_1,
            8 => Q8_0,
            9 => Q8_1,
            10 => Q2K,
            11 => Q3K,
            12 => Q4K,
            13 => Q5K,
            14 => Q6K,
            15 => Q8K,
            24 => I8,
            25 => I16,
            26 => I32,
            27 => I64,
            28 => F64,
            30 => BF16,
            _ => return None,
        })
    }

    pub fn id(self) -> u32 {
        use GgmlType::*;
        match self {
            F32 => 0,
            F16 => 1,
            Q4_0 => 2,
            Q4_1 => 3,
            Q5_0 => 6,
            Q5_1 => 7,
            Q8_0 => 8,
            Q8_1 => 9,
            Q2K => 10,
            Q3K => 11,
            Q4K => 12,
            Q5K => 13,
            Q6K => 14,
            Q8K => 15,
            I8 => 24,
            I16 => 25,
            I32 => 26,
            I64 => 27,
            F64 => 28,
            BF16 => 30,
        }
    }

    /// ggml's name for the type ("q4_K", "f16", …).
    pub fn name(self) -> &'static str {
        use GgmlType::*;
        match self {
            F32 => "f32",
            F16 => "f16",
            Q4_0 => "q4_0",
            Q4_1 => "q4_1",
            Q5_0 => "q5_0",
            Q5_1 => "q5_1",
            Q8_0 => "q8_0",
            Q8_1 => "q8_1",
            Q2K => "q2_K",
            Q3K => "q3_K",
            Q4K => "q4_K",
            Q5K => "q5_K",
            Q6K => "q6_K",
            Q8K => "q8_K",
            I8 => "i8",
            I16 => "i16",
            I32 => "i32",
            I64 => "i64",
            F64 => "f64",
            BF16 => "bf16",
        }
    }

    /// Weights per block.
    pub fn block_len(self) -> usize {
        use GgmlType::*;
        match self {
            F32 | F16 | BF16 | I8 | I16 | I32 | I64 | F64 => 1,
            Q4_0 | Q4_1 | Q5_0 | Q5_1 | Q8_0 | Q8_1 => 32,
            Q2K | Q3K | Q4K | Q5K | Q6K | Q8K => 256,
        }
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        use GgmlType::*;
        match self {
            F32 | I32 => 4,
            F16 | BF16 | I16 => 2,
            I8 => 1,
            I64 | F64 => 8,
            Q4_0 => 18,
            Q4_1 => 20,
            Q5_0 => 22,
            Q5_1 => 24,
            Q8_0 => 34,
            Q8_1 => 36,
            Q2K => 84,
            Q3K => 110,
            Q4K => 144,
            Q5K => 176,
            Q6K => 210,
            Q8K => 292,
        }
    }

    /// Bytes needed for `n_elements` weights, or an error if they do not fill whole blocks.
    pub fn bytes_for(self, n_elements: u64) -> Option<u64> {
        let bl = self.block_len() as u64;
        if !n_elements.is_multiple_of(bl) {
            return None;
        }
        (n_elements / bl).checked_mul(self.block_bytes() as u64)
    }
}

/// Dequantise `n_elements` weights of type `ty` stored in `bytes` into a new f32 vector.
///
/// `bytes` must hold exactly `n_elements / block_len` blocks, and `n_elements` must be a
/// multiple of the block length; otherwise a [`FormatError::Invalid`] names the type and sizes.
pub fn dequantize(ty: GgmlType, bytes: &[u8], n_elements: usize) -> Result<Vec<f32>> {
    check_sizes(ty, bytes.len(), n_elements)?;
    let mut out = vec![0.0f32; n_elements];
    dequantize_into(ty, bytes, &mut out)?;
    Ok(out)
}

/// Dequantise `bytes` of type `ty` into `out`, whose length is the number of weights.
///
/// Same size rules as [`dequantize`]; on error `out` is left untouched.
pub fn dequantize_into(ty: GgmlType, bytes: &[u8], out: &mut [f32]) -> Result<()> {
    check_sizes(ty, bytes.len(), out.len())?;
    use GgmlType::*;
    match ty {
        F32 => float::dequant_f32(bytes, out),
        F16 => float::dequant_f16(bytes, out),
        BF16 => float::dequant_bf16(bytes, out),
        F64 => float::dequant_f64(bytes, out),
        I8 => float::dequant_i8(bytes, out),
        I16 => float::dequant_i16(bytes, out),
        I32 => float::dequant_i32(bytes, out),
        I64 => float::dequant_i64(bytes, out),
        Q4_0 => legacy::dequant_q4_0(bytes, out),
        Q4_1 => legacy::dequant_q4_1(bytes, out),
        Q5_0 => legacy::dequant_q5_0(bytes, out),
        Q5_1 => legacy::dequant_q5_1(bytes, out),
        Q8_0 => legacy::dequant_q8_0(bytes, out),
        Q8_1 => legacy::dequant_q8_1(bytes, out),
        Q2K => kquants::dequant_q2_k(bytes, out),
        Q3K => kquants::dequant_q3_k(bytes, out),
        Q4K => kquants::dequant_q4_k(bytes, out),
        Q5K => kquants::dequant_q5_k(bytes, out),
        Q6K => kquants::dequant_q6_k(bytes, out),
        Q8K => kquants::dequant_q8_k(bytes, out),
    }
    Ok(())
}

/// Whether [`quantize`] supports `ty`.
pub fn can_quantize(ty: GgmlType) -> bool {
    use GgmlType::*;
    !matches!(ty, I8 | I16 | I32 | I64 | F64)
}

/// Quantise `values` to type `ty` with ggml's reference (round-to-nearest) algorithm.
///
/// `values.len()` must be a multiple of the block length. The integer types and F64 are not
/// supported (they are not weight formats); see [`can_quantize`].
pub fn quantize(ty: GgmlType, values: &[f32]) -> Result<Vec<u8>> {
    let n_bytes = expected_bytes(ty, values.len())?;
    let mut out = vec![0u8; n_bytes];
    quantize_into(ty, values, &mut out)?;
    Ok(out)
}

/// Quantise `values` to type `ty` into `out`, which must be exactly the right size.
pub fn quantize_into(ty: GgmlType, values: &[f32], out: &mut [u8]) -> Result<()> {
    use GgmlType::*;
    if !can_quantize(ty) {
        return Err(FormatError::Invalid(format!(
            "quantisation to {} is not supported",
            ty.name()
        )));
    }
    check_sizes(ty, out.len(), values.len())?;
    match ty {
        F32 => float::quant_f32(values, out),
        F16 => float::quant_f16(values, out),
        BF16 => float::quant_bf16(values, out),
        Q4_0 => legacy::quant_q4_0(values, out),
        Q4_1 => legacy::quant_q4_1(values, out),
        Q5_0 => legacy::quant_q5_0(values, out),
        Q5_1 => legacy::quant_q5_1(values, out),
        Q8_0 => legacy::quant_q8_0(values, out),
        Q8_1 => legacy::quant_q8_1(values, out),
        Q2K => kquants::quant_q2_k(values, out),
        Q3K => kquants::quant_q3_k(values, out),
        Q4K => kquants::quant_q4_k(values, out),
        Q5K => kquants::quant_q5_k(values, out),
        Q6K => kquants::quant_q6_k(values, out),
        Q8K => kquants::quant_q8_k(values, out),
        I8 | I16 | I32 | I64 | F64 => {} // rejected above by can_quantize
    }
    Ok(())
}

/// Bytes that `n_elements` weights of `ty` occupy, or an error naming the type if they do not
/// fill whole blocks.
fn expected_bytes(ty: GgmlType, n_elements: usize) -> Result<usize> {
    let bl = ty.block_len();
    if !n_elements.is_multiple_of(bl) {
        return Err(FormatError::Invalid(format!(
            "{}: {n_elements} elements is not a multiple of the block length {bl}",
            ty.name()
        )));
    }
    (n_elements / bl)
        .checked_mul(ty.block_bytes())
        .ok_or_else(|| {
            FormatError::Invalid(format!(
                "{}: {n_elements} elements overflow usize bytes",
                ty.name()
            ))
        })
}

fn check_sizes(ty: GgmlType, n_bytes: usize, n_elements: usize) -> Result<()> {
    let expected = expected_bytes(ty, n_elements)?;
    if n_bytes != expected {
        return Err(FormatError::Invalid(format!(
            "{}: {n_elements} elements need {expected} bytes ({} blocks of {} bytes), found {n_bytes}",
            ty.name(),
            n_elements / ty.block_len(),
            ty.block_bytes()
        )));
    }
    Ok(())
}

/// Run `f` on every (block of bytes, block of weights) pair. Callers have checked the sizes;
/// the fixed-size arrays let the compiler drop bounds checks inside each block.
#[inline(always)]
fn for_blocks<const BB: usize, const BL: usize>(
    bytes: &[u8],
    out: &mut [f32],
    f: impl Fn(&[u8; BB], &mut [f32; BL]),
) {
    let (blocks, _) = bytes.as_chunks::<BB>();
    let (outs, _) = out.as_chunks_mut::<BL>();
    for (b, y) in blocks.iter().zip(outs) {
        f(b, y);
    }
}

/// Run `f` on every (block of weights, block of bytes) pair; the quantising mirror of
/// [`for_blocks`].
#[inline(always)]
fn for_blocks_mut<const BL: usize, const BB: usize>(
    values: &[f32],
    out: &mut [u8],
    f: impl Fn(&[f32; BL], &mut [u8; BB]),
) {
    let (blocks, _) = values.as_chunks::<BL>();
    let (outs, _) = out.as_chunks_mut::<BB>();
    for (x, b) in blocks.iter().zip(outs) {
        f(x, b);
    }
}

/// The little-endian f16 at `b[at..at + 2]`, widened to f32 (exact).
#[inline(always)]
fn f16_at(b: &[u8], at: usize) -> f32 {
    half::f16::from_bits(u16::from_le_bytes([b[at], b[at + 1]])).to_f32()
}

/// `v` rounded to f16 (round-to-nearest-even, as ggml's `GGML_FP32_TO_FP16`), little-endian.
#[inline(always)]
fn f16_bytes(v: f32) -> [u8; 2] {
    half::f16::from_f32(v).to_bits().to_le_bytes()
}

/// `v` rounded to f16 and back: the value a dequantiser will see for a stored scale.
#[inline(always)]
fn f16_round(v: f32) -> f32 {
    half::f16::from_f32(v).to_f32()
}

/// ggml's `nearest_int`: round half to even (its magic-number trick under the default FPU
/// rounding mode). Out-of-range inputs saturate instead of being undefined.
#[inline(always)]
fn nearest_int(v: f32) -> i32 {
    v.round_ties_even() as i32
}
