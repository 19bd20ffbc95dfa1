//! Element types stored one value at a time: F32, F16, BF16, F64 and the integer types.
//! All little-endian; the byte slices need not be aligned.

use half::f16;

/// Apply `f` to each `N`-byte little-endian element. Sizes were checked by the caller.
#[inline(always)]
fn each<const N: usize>(bytes: &[u8], out: &mut [f32], f: impl Fn([u8; N]) -> f32) {
    let (elems, _) = bytes.as_chunks::<N>();
    for (e, y) in elems.iter().zip(out.iter_mut()) {
        *y = f(*e);
    }
}

pub(super) fn dequant_f32(bytes: &[u8], out: &mut [f32]) {
    each(bytes, out, f32::from_le_bytes);
}

/// F16 → f32 is exact.
pub(super) fn dequant_f16(bytes: &[u8], out: &mut [f32]) {
    each(bytes, out, |b| {
        f16::from_bits(u16::from_le_bytes(b)).to_f32()
    });
}

/// BF16 is the top half of an f32, so widening is a shift (exact, NaN payloads kept).
pub(super) fn dequant_bf16(bytes: &[u8], out: &mut [f32]) {
    each(bytes, out, |b| {
        f32::from_bits((u16::from_le_bytes(b) as u32) << 16)
    });
}

/// F64 → f32 rounds to nearest.
pub(super) fn dequant_f64(bytes: &[u8], out: &mut [f32]) {
    each(bytes, out, |b| f64::from_le_bytes(b) as f32);
}

pub(super) fn dequant_i8(bytes: &[u8], out: &mut [f32]) {
    each(bytes, out, |b: [u8; 1]| b[0] as i8 as f32);
}

pub(super) fn dequant_i16(bytes: &[u8], out: &mut [f32]) {
    each(bytes, out, |b| i16::from_le_bytes(b) as f32);
}

/// I32 → f32 rounds to nearest beyond 2^24.
pub(super) fn dequant_i32(bytes: &[u8], out: &mut [f32]) {
    each(bytes, out, |b| i32::from_le_bytes(b) as f32);
}

pub(super) fn dequant_i64(bytes: &[u8], out: &mut [f32]) {
    each(bytes, out, |b| i64::from_le_bytes(b) as f32);
}

pub(super) fn quant_f32(values: &[f32], out: &mut [u8]) {
    let (elems, _) = out.as_chunks_mut::<4>();
    for (e, v) in elems.iter_mut().zip(values) {
        *e = v.to_le_bytes();
    }
}

/// Round to nearest even; overflow gives ±inf, as ggml's `GGML_FP32_TO_FP16`.
pub(super) fn quant_f16(values: &[f32], out: &mut [u8]) {
    let (elems, _) = out.as_chunks_mut::<2>();
    for (e, v) in elems.iter_mut().zip(values) {
        *e = f16::from_f32(*v).to_bits().to_le_bytes();
    }
}

/// ggml's `ggml_compute_fp32_to_bf16`: NaNs are made quiet (bit 6 of the upper half set),
/// everything else rounds to nearest even.
pub(super) fn quant_bf16(values: &[f32], out: &mut [u8]) {
    let (elems, _) = out.as_chunks_mut::<2>();
    for (e, v) in elems.iter_mut().zip(values) {
        *e = fp32_to_bf16_bits(*v).to_le_bytes();
    }
}

fn fp32_to_bf16_bits(v: f32) -> u16 {
    let u = v.to_bits();
    if (u & 0x7fff_ffff) > 0x7f80_0000 {
        return ((u >> 16) | 64) as u16;
    }
    ((u as u64 + (0x7fff + ((u >> 16) & 1)) as u64) >> 16) as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::bf16;

    #[test]
    fn bf16_rounding_matches_half() {
        // 0x3F80_8000 and 0x3F81_8000 are exact ties (round down / up to even).
        for v in [
            0.0f32,
            -0.0,
            1.0,
            f32::from_bits(0x3F80_8000),
            f32::from_bits(0x3F81_8000),
            f32::from_bits(0x3F80_8001),
            -3.3e38,
            f32::MAX,
            f32::INFINITY,
        ] {
            assert_eq!(fp32_to_bf16_bits(v), bf16::from_f32(v).to_bits(), "{v}");
        }
        assert!(bf16::from_bits(fp32_to_bf16_bits(f32::NAN)).is_nan());
    }
}
