//! The original 32-weight block formats: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1.
//!
//! In every 4- and 5-bit format, byte `j` of `qs` packs weight `j` in its low nibble and weight
//! `j + 16` in its high nibble. Scales are f16 (`d`), offsets f16 (`m`).

use super::{f16_at, f16_bytes, for_blocks, for_blocks_mut};

const QK: usize = 32;

// ---------------------------------------------------------------------------------------------
// Dequantisation (ggml-quants.c: dequantize_row_*)
// ---------------------------------------------------------------------------------------------

/// Q4_0, 18 bytes: `d: f16 | qs: [u8; 16]`. `w = (q - 8) * d`.
pub(super) fn dequant_q4_0(bytes: &[u8], out: &mut [f32]) {
    for_blocks::<18, QK>(bytes, out, |b, y| {
        let d = f16_at(b, 0);
        for j in 0..QK / 2 {
            let q = b[2 + j];
            y[j] = ((q & 0x0F) as i32 - 8) as f32 * d;
            y[j + QK / 2] = ((q >> 4) as i32 - 8) as f32 * d;
        }
    });
}

/// Q4_1, 20 bytes: `d: f16 | m: f16 | qs: [u8; 16]`. `w = q * d + m`.
pub(super) fn dequant_q4_1(bytes: &[u8], out: &mut [f32]) {
    for_blocks::<20, QK>(bytes, out, |b, y| {
        let d = f16_at(b, 0);
        let m = f16_at(b, 2);
        for j in 0..QK / 2 {
            let q = b[4 + j];
            y[j] = (q & 0x0F) as f32 * d + m;
            y[j + QK / 2] = (q >> 4) as f32 * d + m;
        }
    });
}

/// Q5_0, 22 bytes: `d: f16 | qh: u32 (bit j = 5th bit of weight j) | qs: [u8; 16]`.
/// `w = (q - 16) * d`.
pub(super) fn dequant_q5_0(bytes: &[u8], out: &mut [f32]) {
    for_blocks::<22, QK>(bytes, out, |b, y| {
        let d = f16_at(b, 0);
        let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
        for j in 0..QK / 2 {
            let q = b[6 + j];
            let h0 = ((qh >> j) << 4) as u8 & 0x10;
            let h1 = (qh >> (j + 12)) as u8 & 0x10;
            y[j] = (((q & 0x0F) | h0) as i32 - 16) as f32 * d;
            y[j + QK / 2] = (((q >> 4) | h1) as i32 - 16) as f32 * d;
        }
    });
}

/// Q5_1, 24 bytes: `d: f16 | m: f16 | qh: u32 | qs: [u8; 16]`. `w = q * d + m`.
pub(super) fn dequant_q5_1(bytes: &[u8], out: &mut [f32]) {
    for_blocks::<24, QK>(bytes, out, |b, y| {
        let d = f16_at(b, 0);
        let m = f16_at(b, 2);
        let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        for j in 0..QK / 2 {
            let q = b[8 + j];
            let h0 = ((qh >> j) << 4) as u8 & 0x10;
            let h1 = (qh >> (j + 12)) as u8 & 0x10;
            y[j] = ((q & 0x0F) | h0) as f32 * d + m;
            y[j + QK / 2] = ((q >> 4) | h1) as f32 * d + m;
        }
    });
}

/// Q8_0, 34 bytes: `d: f16 | qs: [i8; 32]`. `w = q * d`.
pub(super) fn dequant_q8_0(bytes: &[u8], out: &mut [f32]) {
    for_blocks::<34, QK>(bytes, out, |b, y| {
        let d = f16_at(b, 0);
        for j in 0..QK {
            y[j] = b[2 + j] as i8 as f32 * d;
        }
    });
}

/// Q8_1, 36 bytes: `d: f16 | s: f16 (= d * sum(qs), unused here) | qs: [i8; 32]`. `w = q * d`.
/// (ggml only uses Q8_1 for activations and has no dequantiser; this is the obvious one.)
pub(super) fn dequant_q8_1(bytes: &[u8], out: &mut [f32]) {
    for_blocks::<36, QK>(bytes, out, |b, y| {
        let d = f16_at(b, 0);
        for j in 0..QK {
            y[j] = b[4 + j] as i8 as f32 * d;
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Quantisation (ggml-quants.c: quantize_row_*_ref)
// ---------------------------------------------------------------------------------------------

/// The value of largest magnitude (the first one on ties), with its sign.
fn signed_absmax(x: &[f32]) -> f32 {
    let mut amax = 0.0f32;
    let mut max = 0.0f32;
    for &v in x {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    max
}

fn min_max(x: &[f32]) -> (f32, f32) {
    let mut min = f32::MAX;
    let mut max = -f32::MAX;
    for &v in x {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    (min, max)
}

fn inverse(d: f32) -> f32 {
    if d != 0.0 { 1.0 / d } else { 0.0 }
}

/// ggml computes `(int8_t)(x * id + offset)` and, built with FMA (the default on x86-64 with
/// `-march=native`), the compiler fuses it into one rounding. gguf-py emulates that in f64 and
/// rounds the sum to f32 before truncating; we do the same, which also matches the fused form
/// except in astronomically rare double-rounding ties.
#[inline(always)]
fn fused_trunc(x: f32, id: f32, offset: f64) -> i32 {
    ((x as f64 * id as f64 + offset) as f32) as i32
}

/// Q4_0: `d = max / -8` where `max` is the signed value of largest magnitude, so that value maps
/// to q = 0 exactly; `q = min(15, trunc(x / d + 8.5))`.
pub(super) fn quant_q4_0(values: &[f32], out: &mut [u8]) {
    for_blocks_mut::<QK, 18>(values, out, |x, b| {
        let d = signed_absmax(x) / -8.0;
        let id = inverse(d);
        b[0..2].copy_from_slice(&f16_bytes(d));
        for j in 0..QK / 2 {
            let q0 = fused_trunc(x[j], id, 8.5).clamp(0, 15) as u8;
            let q1 = fused_trunc(x[j + QK / 2], id, 8.5).clamp(0, 15) as u8;
            b[2 + j] = q0 | (q1 << 4);
        }
    });
}

/// Q4_1: `d = (max - min) / 15`, `m = min`, `q = min(15, trunc((x - min) / d + 0.5))` (f32,
/// unfused, as gguf-py).
pub(super) fn quant_q4_1(values: &[f32], out: &mut [u8]) {
    for_blocks_mut::<QK, 20>(values, out, |x, b| {
        let (min, max) = min_max(x);
        let d = (max - min) / 15.0;
        let id = inverse(d);
        b[0..2].copy_from_slice(&f16_bytes(d));
        b[2..4].copy_from_slice(&f16_bytes(min));
        for j in 0..QK / 2 {
            let q0 = (((x[j] - min) * id + 0.5) as i32).clamp(0, 15) as u8;
            let q1 = (((x[j + QK / 2] - min) * id + 0.5) as i32).clamp(0, 15) as u8;
            b[4 + j] = q0 | (q1 << 4);
        }
    });
}

/// Q5_0: `d = max / -16`, `q = min(31, trunc(x / d + 16.5))` (fused as in Q4_0).
pub(super) fn quant_q5_0(values: &[f32], out: &mut [u8]) {
    for_blocks_mut::<QK, 22>(values, out, |x, b| {
        let d = signed_absmax(x) / -16.0;
        let id = inverse(d);
        b[0..2].copy_from_slice(&f16_bytes(d));
        let mut qh = 0u32;
        for j in 0..QK / 2 {
            let q0 = fused_trunc(x[j], id, 16.5).clamp(0, 31) as u32;
            let q1 = fused_trunc(x[j + QK / 2], id, 16.5).clamp(0, 31) as u32;
            b[6 + j] = ((q0 & 0x0F) | ((q1 & 0x0F) << 4)) as u8;
            qh |= ((q0 & 0x10) >> 4) << j;
            qh |= ((q1 & 0x10) >> 4) << (j + QK / 2);
        }
        b[2..6].copy_from_slice(&qh.to_le_bytes());
    });
}

/// Q5_1: `d = (max - min) / 31`, `m = min`, `q = trunc((x - min) / d + 0.5)`.
pub(super) fn quant_q5_1(values: &[f32], out: &mut [u8]) {
    for_blocks_mut::<QK, 24>(values, out, |x, b| {
        let (min, max) = min_max(x);
        let d = (max - min) / 31.0;
        let id = inverse(d);
        b[0..2].copy_from_slice(&f16_bytes(d));
        b[2..4].copy_from_slice(&f16_bytes(min));
        let mut qh = 0u32;
        for j in 0..QK / 2 {
            let q0 = (((x[j] - min) * id + 0.5) as i32).clamp(0, 31) as u32;
            let q1 = (((x[j + QK / 2] - min) * id + 0.5) as i32).clamp(0, 31) as u32;
            b[8 + j] = ((q0 & 0x0F) | ((q1 & 0x0F) << 4)) as u8;
            qh |= ((q0 & 0x10) >> 4) << j;
            qh |= ((q1 & 0x10) >> 4) << (j + QK / 2);
        }
        b[4..8].copy_from_slice(&qh.to_le_bytes());
    });
}

fn absmax(x: &[f32]) -> f32 {
    x.iter().fold(0.0f32, |a, v| a.max(v.abs()))
}

/// Q8_0: `d = max|x| / 127`, `q = roundf(x / d)` (half away from zero).
pub(super) fn quant_q8_0(values: &[f32], out: &mut [u8]) {
    for_blocks_mut::<QK, 34>(values, out, |x, b| {
        let d = absmax(x) / 127.0;
        let id = inverse(d);
        b[0..2].copy_from_slice(&f16_bytes(d));
        for j in 0..QK {
            b[2 + j] = (x[j] * id).round() as i8 as u8;
        }
    });
}

/// Q8_1: as Q8_0, plus `s = d * sum(q)` (f32 products, stored as f16).
pub(super) fn quant_q8_1(values: &[f32], out: &mut [u8]) {
    for_blocks_mut::<QK, 36>(values, out, |x, b| {
        let d = absmax(x) / 127.0;
        let id = inverse(d);
        let mut sum = 0i32;
        for j in 0..QK / 2 {
            let v0 = (x[j] * id).round() as i8;
            let v1 = (x[j + QK / 2] * id).round() as i8;
            b[4 + j] = v0 as u8;
            b[4 + j + QK / 2] = v1 as u8;
            sum += v0 as i32 + v1 as i32;
        }
        b[0..2].copy_from_slice(&f16_bytes(d));
        b[2..4].copy_from_slice(&f16_bytes(sum as f32 * d));
    });
}
