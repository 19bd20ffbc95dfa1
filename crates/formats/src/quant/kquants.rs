//! The k-quants: 256-weight super-blocks split into 16- or 32-weight sub-blocks, each with its
//! own quantised scale (and for Q2_K/Q4_K/Q5_K an offset), times f16 super-block scales.
//!
//! Bit packing follows ggml: within each 128-weight half (Q2_K, Q3_K, Q6_K) or 64-weight
//! quarter (Q4_K, Q5_K), the low bits of consecutive weight groups share the same bytes at
//! increasing shifts.

use super::{f16_at, f16_bytes, f16_round, for_blocks, for_blocks_mut, nearest_int};

const QK_K: usize = 256;

// ---------------------------------------------------------------------------------------------
// Dequantisation (ggml-quants.c: dequantize_row_*_K)
// ---------------------------------------------------------------------------------------------

/// Q2_K, 84 bytes: `scales: [u8; 16] (low nibble scale, high nibble min, per 16 weights) |
/// qs: [u8; 64] (2 bits) | d: f16 | dmin: f16`. `w = d * sc * q - dmin * m`.
///
/// Weights `128 h + 32 s + l` (l < 32) are bits `2 s` of `qs[32 h + l]`; their sub-block is
/// `8 h + 2 s + l / 16`.
pub(super) fn dequant_q2_k(bytes: &[u8], out: &mut [f32]) {
    for_blocks::<84, QK_K>(bytes, out, |b, y| {
        let (scales, rest) = b.split_at(16);
        let (qs, rest) = rest.split_at(64);
        let d = f16_at(rest, 0);
        let min = f16_at(rest, 2);
        for (sub, yy) in y.chunks_exact_mut(16).enumerate() {
            let (h, s, half) = (sub / 8, (sub % 8) / 2, sub % 2);
            let sc = scales[sub];
            let dl = d * (sc & 0xF) as f32;
            let ml = min * (sc >> 4) as f32;
            let q = &qs[32 * h + 16 * half..][..16];
            for l in 0..16 {
                yy[l] = dl * ((q[l] >> (2 * s)) & 3) as f32 - ml;
            }
        }
    });
}

/// The 16 six-bit Q3_K sub-block scales packed in 12 bytes: low nibbles of scales 0–7 in the
/// low nibbles of bytes 0–7, of scales 8–15 in their high nibbles; the top 2 bits of scale `k`
/// at bit `2 (k / 4)` of byte `8 + k % 4`. Stored with a +32 bias.
fn q3_k_scales(s: &[u8]) -> [i8; 16] {
    let mut out = [0i8; 16];
    for (k, o) in out.iter_mut().enumerate() {
        let low = if k < 8 { s[k] & 0xF } else { s[k - 8] >> 4 };
        let high = (s[8 + k % 4] >> (2 * (k / 4))) & 3;
        *o = (low | (high << 4)) as i8 - 32;
    }
    out
}

/// Q3_K, 110 bytes: `hmask: [u8; 32] (3rd bit) | qs: [u8; 64] (low 2 bits) | scales: [u8; 12]
/// (sixteen 6-bit scales) | d: f16`. `w = d * (sc - 32) * (q - 4)`, where the high bit *set*
/// means no `- 4`.
///
/// Weight `128 h + 32 s + l` has low bits `2 s` of `qs[32 h + l]` and its high bit at bit
/// `4 h + s` of `hmask[l]`.
pub(super) fn dequant_q3_k(bytes: &[u8], out: &mut [f32]) {
    for_blocks::<110, QK_K>(bytes, out, |b, y| {
        let (hmask, rest) = b.split_at(32);
        let (qs, rest) = rest.split_at(64);
        let (scales, rest) = rest.split_at(12);
        let d_all = f16_at(rest, 0);
        let scales = q3_k_scales(scales);
        for (sub, yy) in y.chunks_exact_mut(16).enumerate() {
            let (h, s, half) = (sub / 8, (sub % 8) / 2, sub % 2);
            let dl = d_all * (scales[sub] as i32) as f32;
            let m = 1u8 << (4 * h + s);
            let q = &qs[32 * h + 16 * half..][..16];
            let hm = &hmask[16 * half..][..16];
            for l in 0..16 {
                let low = ((q[l] >> (2 * s)) & 3) as i32;
                let sub4 = if hm[l] & m != 0 { 0 } else { 4 };
                yy[l] = dl * (low - sub4) as f32;
            }
        }
    });
}

/// ggml's `get_scale_min_k4`: the 6-bit scale and min of sub-block `j` (0..8) of Q4_K/Q5_K.
/// Bytes 0–3 hold scales 0–3 (low 6 bits), bytes 4–7 mins 0–3; scales/mins 4–7 have their low
/// nibbles in bytes 8–11 (scale low, min high) and their top 2 bits in the top bits of bytes
/// 0–3 (scales) and 4–7 (mins).
#[inline(always)]
fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

/// Q4_K, 144 bytes: `d: f16 | dmin: f16 | scales: [u8; 12] (eight 6-bit scales and mins) |
/// qs: [u8; 128]`. `w = d * sc * q - dmin * m`.
///
/// Each 64 weights use 32 bytes of `qs`: the first 32 weights are the low nibbles (sub-block
/// `2 i`), the next 32 the high nibbles (sub-block `2 i + 1`).
pub(super) fn dequant_q4_k(bytes: &[u8], out: &mut [f32]) {
    for_blocks::<144, QK_K>(bytes, out, |b, y| {
        let d = f16_at(b, 0);
        let min = f16_at(b, 2);
        let scales = &b[4..16];
        let qs = &b[16..144];
        for (i, yy) in y.chunks_exact_mut(64).enumerate() {
            let (sc1, m1) = scale_min_k4(2 * i, scales);
            let (sc2, m2) = scale_min_k4(2 * i + 1, scales);
            let (d1, m1) = (d * sc1 as f32, min * m1 as f32);
            let (d2, m2) = (d * sc2 as f32, min * m2 as f32);
            let q = &qs[32 * i..][..32];
            let (lo, hi) = yy.split_at_mut(32);
            for l in 0..32 {
                lo[l] = d1 * (q[l] & 0xF) as f32 - m1;
                hi[l] = d2 * (q[l] >> 4) as f32 - m2;
            }
        }
    });
}

/// Q5_K, 176 bytes: `d: f16 | dmin: f16 | scales: [u8; 12] | qh: [u8; 32] | qs: [u8; 128]`.
/// As Q4_K, plus a 5th bit: weight `64 i + l` (l < 32) has it at bit `2 i` of `qh[l]`, weight
/// `64 i + 32 + l` at bit `2 i + 1`.
pub(super) fn dequant_q5_k(bytes: &[u8], out: &mut [f32]) {
    for_blocks::<176, QK_K>(bytes, out, |b, y| {
        let d = f16_at(b, 0);
        let min = f16_at(b, 2);
        let scales = &b[4..16];
        let qh = &b[16..48];
        let qs = &b[48..176];
        for (i, yy) in y.chunks_exact_mut(64).enumerate() {
            let (sc1, m1) = scale_min_k4(2 * i, scales);
            let (sc2, m2) = scale_min_k4(2 * i + 1, scales);
            let (d1, m1) = (d * sc1 as f32, min * m1 as f32);
            let (d2, m2) = (d * sc2 as f32, min * m2 as f32);
            let (u1, u2) = (1u8 << (2 * i), 2u8 << (2 * i));
            let q = &qs[32 * i..][..32];
            let (lo, hi) = yy.split_at_mut(32);
            for l in 0..32 {
                let h1 = if qh[l] & u1 != 0 { 16 } else { 0 };
                let h2 = if qh[l] & u2 != 0 { 16 } else { 0 };
                lo[l] = d1 * ((q[l] & 0xF) + h1) as f32 - m1;
                hi[l] = d2 * ((q[l] >> 4) + h2) as f32 - m2;
            }
        }
    });
}

/// Q6_K, 210 bytes: `ql: [u8; 128] (low 4 bits) | qh: [u8; 64] (high 2 bits) | scales: [i8; 16]
/// | d: f16`. `w = d * sc * (q - 32)`, computed as `(d * sc) * (q - 32)`.
///
/// In each 128-weight half `h`, weight `32 s + l` (s < 4, l < 32) takes its low nibble from
/// `ql[64 h + l + 32 (s % 2)]` (low nibble for s < 2, high for s ≥ 2) and its high bits from
/// bits `2 s` of `qh[32 h + l]`; its scale is `scales[8 h + 2 s + l / 16]`.
pub(super) fn dequant_q6_k(bytes: &[u8], out: &mut [f32]) {
    for_blocks::<210, QK_K>(bytes, out, |b, y| {
        let (ql, rest) = b.split_at(128);
        let (qh, rest) = rest.split_at(64);
        let (sc, rest) = rest.split_at(16);
        let d = f16_at(rest, 0);
        for (h, yy) in y.chunks_exact_mut(128).enumerate() {
            let ql = &ql[64 * h..][..64];
            let qh = &qh[32 * h..][..32];
            let sc = &sc[8 * h..][..8];
            for l in 0..32 {
                let is = l / 16;
                let q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) as i32 - 32;
                let q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
                let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
                let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
                yy[l] = d * (sc[is] as i8) as f32 * q1 as f32;
                yy[l + 32] = d * (sc[is + 2] as i8) as f32 * q2 as f32;
                yy[l + 64] = d * (sc[is + 4] as i8) as f32 * q3 as f32;
                yy[l + 96] = d * (sc[is + 6] as i8) as f32 * q4 as f32;
            }
        }
    });
}

/// Q8_K, 292 bytes: `d: f32 | qs: [i8; 256] | bsums: [i16; 16] (sums of 16 qs, unused here)`.
/// `w = q * d`.
pub(super) fn dequant_q8_k(bytes: &[u8], out: &mut [f32]) {
    for_blocks::<292, QK_K>(bytes, out, |b, y| {
        let d = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        for j in 0..QK_K {
            y[j] = b[4 + j] as i8 as f32 * d;
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Quantisation (ggml-quants.c: quantize_row_*_K_ref and their helpers)
//
// Transcribed operation by operation (f32, unfused, same summation order). gguf-py has no
// k-quant quantiser to compare against, so these are checked by round-trip error bounds only.
// ---------------------------------------------------------------------------------------------

/// ggml's `GROUP_MAX_EPS`: groups whose largest magnitude is below this quantise to zero.
const GROUP_MAX_EPS: f32 = 1e-15;

/// ggml's `make_qkx2_quants`: fit `x ≈ scale * L - min_out` with `L` in `0..=nmax`, weighted
/// least squares (or absolute deviation with `use_mad`), trying `nstep + 1` candidate scales.
/// Returns `(scale, min_out)` where `min_out >= 0` is subtracted.
#[allow(clippy::too_many_arguments)]
fn make_qkx2_quants(
    nmax: i32,
    x: &[f32],
    weights: &[f32],
    l_out: &mut [u8],
    l_aux: &mut [u8],
    rmin: f32,
    rdelta: f32,
    nstep: i32,
    use_mad: bool,
) -> (f32, f32) {
    let n = x.len();
    let mut min = x[0];
    let mut max = x[0];
    let mut sum_w = weights[0];
    let mut sum_x = sum_w * x[0];
    for i in 1..n {
        if x[i] < min {
            min = x[i];
        }
        if x[i] > max {
            max = x[i];
        }
        let w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if min > 0.0 {
        min = 0.0;
    }
    if max == min {
        l_out.fill(0);
        return (0.0, -min);
    }
    let err = |diff: f32| if use_mad { diff.abs() } else { diff * diff };
    let mut iscale = nmax as f32 / (max - min);
    let mut scale = 1.0 / iscale;
    let mut best_error = 0.0f32;
    for i in 0..n {
        let l = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
        l_out[i] = l as u8;
        let diff = scale * l as f32 + min - x[i];
        best_error += weights[i] * err(diff);
    }
    if nstep < 1 {
        return (scale, -min);
    }
    for is in 0..=nstep {
        iscale = (rmin + rdelta * is as f32 + nmax as f32) / (max - min);
        let (mut sum_l, mut sum_l2, mut sum_xl) = (0.0f32, 0.0f32, 0.0f32);
        for i in 0..n {
            let l = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
            l_aux[i] = l as u8;
            let (w, l) = (weights[i], l as f32);
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        let det = sum_w * sum_l2 - sum_l * sum_l;
        if det > 0.0 {
            let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
            let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
            if this_min > 0.0 {
                this_min = 0.0;
                this_scale = sum_xl / sum_l2;
            }
            let mut cur_error = 0.0f32;
            for i in 0..n {
                let diff = this_scale * l_aux[i] as f32 + this_min - x[i];
                cur_error += weights[i] * err(diff);
            }
            if cur_error < best_error {
                l_out[..n].copy_from_slice(&l_aux[..n]);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    (scale, -min)
}

/// ggml's `make_qx_quants` with `rmse_type = 1` and no importance weights: symmetric levels
/// `L - nmax` in `-nmax..nmax`, weights `x²`, trying scales around `-nmax / max`. `l_out`
/// receives the biased levels `0..2 nmax`.
fn make_qx_quants(nmax: i32, x: &[f32], l_out: &mut [u8]) -> f32 {
    let mut max = 0.0f32;
    let mut amax = 0.0f32;
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        l_out.fill(0);
        return 0.0;
    }
    let level = |iscale: f32, v: f32| nearest_int(iscale * v).clamp(-nmax, nmax - 1);
    let mut iscale = -(nmax as f32) / max;
    let (mut sumlx, mut suml2) = (0.0f32, 0.0f32);
    for (i, &v) in x.iter().enumerate() {
        let l = level(iscale, v);
        l_out[i] = (l + nmax) as u8;
        let w = v * v;
        sumlx += w * v * l as f32;
        suml2 += w * l as f32 * l as f32;
    }
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    let mut best = scale * sumlx;
    for is in -9..=9 {
        if is == 0 {
            continue;
        }
        iscale = -(nmax as f32 + 0.1 * is as f32) / max;
        sumlx = 0.0;
        suml2 = 0.0;
        for &v in x {
            let l = level(iscale, v) as f32;
            let w = v * v;
            sumlx += w * v * l;
            suml2 += w * l * l;
        }
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            for (i, &v) in x.iter().enumerate() {
                l_out[i] = (nmax + level(iscale, v)) as u8;
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    scale
}

/// ggml's `make_q3_quants` with `do_rmse`: symmetric levels in `-nmax..nmax`, refined by
/// coordinate descent on the `x²`-weighted error. `l_out` receives levels biased by `nmax`.
fn make_q3_quants(nmax: i32, x: &[f32], l_out: &mut [u8]) -> f32 {
    let mut max = 0.0f32;
    let mut amax = 0.0f32;
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        l_out.fill(0);
        return 0.0;
    }
    let iscale = -(nmax as f32) / max;
    let mut levels = [0i32; 16];
    let levels = &mut levels[..x.len()];
    let (mut sumlx, mut suml2) = (0.0f32, 0.0f32);
    for (i, &v) in x.iter().enumerate() {
        let l = nearest_int(iscale * v).clamp(-nmax, nmax - 1);
        levels[i] = l;
        let w = v * v;
        sumlx += w * v * l as f32;
        suml2 += w * l as f32 * l as f32;
    }
    for _ in 0..5 {
        let mut n_changed = 0;
        for (i, &v) in x.iter().enumerate() {
            let w = v * v;
            let li = levels[i] as f32;
            let mut slx = sumlx - w * v * li;
            if slx > 0.0 {
                let mut sl2 = suml2 - w * li * li;
                let new_l = nearest_int(v * sl2 / slx).clamp(-nmax, nmax - 1);
                if new_l != levels[i] {
                    slx += w * v * new_l as f32;
                    sl2 += w * new_l as f32 * new_l as f32;
                    if sl2 > 0.0 && slx * slx * suml2 > sumlx * sumlx * sl2 {
                        levels[i] = new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed += 1;
                    }
                }
            }
        }
        if n_changed == 0 {
            break;
        }
    }
    for (o, l) in l_out.iter_mut().zip(levels.iter()) {
        *o = (l + nmax) as u8;
    }
    if suml2 > 0.0 { sumlx / suml2 } else { 0.0 }
}

/// Q2_K: per 16 weights, an asymmetric 2-bit fit (`make_qkx2_quants`, |x| weights, absolute
/// deviation); the 16 scales and mins are then quantised to 4 bits against their maxima.
pub(super) fn quant_q2_k(values: &[f32], out: &mut [u8]) {
    const Q4SCALE: f32 = 15.0;
    for_blocks_mut::<QK_K, 84>(values, out, |x, b| {
        let mut levels = [0u8; QK_K];
        let mut aux = [0u8; 16];
        let mut weights = [0f32; 16];
        let mut scales = [0f32; 16];
        let mut mins = [0f32; 16];
        let (mut max_scale, mut max_min) = (0.0f32, 0.0f32);
        for j in 0..16 {
            let xs = &x[16 * j..][..16];
            for (w, v) in weights.iter_mut().zip(xs) {
                *w = v.abs();
            }
            let l = &mut levels[16 * j..][..16];
            (scales[j], mins[j]) =
                make_qkx2_quants(3, xs, &weights, l, &mut aux, -0.5, 0.1, 15, true);
            max_scale = max_scale.max_ggml(scales[j]);
            max_min = max_min.max_ggml(mins[j]);
        }
        let (sc, rest) = b.split_at_mut(16);
        let (qs, dd) = rest.split_at_mut(64);
        sc.fill(0);
        if max_scale > 0.0 {
            let iscale = Q4SCALE / max_scale;
            for j in 0..16 {
                sc[j] = nearest_int(iscale * scales[j]) as u8;
            }
            dd[0..2].copy_from_slice(&f16_bytes(max_scale / Q4SCALE));
        } else {
            dd[0..2].copy_from_slice(&f16_bytes(0.0));
        }
        if max_min > 0.0 {
            let iscale = Q4SCALE / max_min;
            for j in 0..16 {
                sc[j] |= (nearest_int(iscale * mins[j]) << 4) as u8;
            }
            dd[2..4].copy_from_slice(&f16_bytes(max_min / Q4SCALE));
        } else {
            dd[2..4].copy_from_slice(&f16_bytes(0.0));
        }
        let d_all = f16_at(dd, 0);
        let m_all = f16_at(dd, 2);
        for j in 0..16 {
            let d = d_all * (sc[j] & 0xF) as f32;
            if d == 0.0 {
                continue;
            }
            let dm = m_all * (sc[j] >> 4) as f32;
            for ii in 0..16 {
                levels[16 * j + ii] = nearest_int((x[16 * j + ii] + dm) / d).clamp(0, 3) as u8;
            }
        }
        pack_2bit(&levels, qs);
    });
}

/// Pack 2-bit levels as Q2_K/Q3_K store them: `qs[32 h + l]` holds weights `128 h + 32 s + l`
/// at bits `2 s`.
fn pack_2bit(levels: &[u8; QK_K], qs: &mut [u8]) {
    for h in 0..2 {
        for l in 0..32 {
            let j = 128 * h + l;
            qs[32 * h + l] =
                levels[j] | (levels[j + 32] << 2) | (levels[j + 64] << 4) | (levels[j + 96] << 6);
        }
    }
}

/// Q3_K: per 16 weights a symmetric 3-bit fit (`make_q3_quants`); the 16 scales are quantised
/// to signed 6 bits against the one of largest magnitude.
pub(super) fn quant_q3_k(values: &[f32], out: &mut [u8]) {
    for_blocks_mut::<QK_K, 110>(values, out, |x, b| {
        let mut levels = [0u8; QK_K];
        let mut scales = [0f32; 16];
        let (mut max_scale, mut amax) = (0.0f32, 0.0f32);
        for j in 0..16 {
            scales[j] = make_q3_quants(4, &x[16 * j..][..16], &mut levels[16 * j..][..16]);
            if scales[j].abs() > amax {
                amax = scales[j].abs();
                max_scale = scales[j];
            }
        }
        let (hmask, rest) = b.split_at_mut(32);
        let (qs, rest) = rest.split_at_mut(64);
        let (sc, dd) = rest.split_at_mut(12);
        sc.fill(0);
        if max_scale != 0.0 {
            let iscale = -32.0 / max_scale;
            for (j, &s) in scales.iter().enumerate() {
                // ggml stores nearest_int into an int8_t before clamping.
                let l = ((nearest_int(iscale * s) as i8).clamp(-32, 31) + 32) as u8;
                if j < 8 {
                    sc[j] = l & 0xF;
                } else {
                    sc[j - 8] |= (l & 0xF) << 4;
                }
                sc[j % 4 + 8] |= (l >> 4) << (2 * (j / 4));
            }
            dd.copy_from_slice(&f16_bytes(1.0 / iscale));
        } else {
            dd.copy_from_slice(&f16_bytes(0.0));
        }
        let d_all = f16_at(dd, 0);
        let sc6 = q3_k_scales(sc);
        for j in 0..16 {
            let d = d_all * sc6[j] as f32;
            if d == 0.0 {
                continue;
            }
            for ii in 0..16 {
                let l = nearest_int(x[16 * j + ii] / d).clamp(-4, 3);
                levels[16 * j + ii] = (l + 4) as u8;
            }
        }
        hmask.fill(0);
        for (j, l) in levels.iter_mut().enumerate() {
            if *l > 3 {
                hmask[j % 32] |= 1 << (j / 32);
                *l -= 4;
            }
        }
        pack_2bit(&levels, qs);
    });
}

/// Pack eight 6-bit scales and mins the way [`scale_min_k4`] reads them.
fn pack_scale_min_k4(ls: &[u8; 8], lm: &[u8; 8], out: &mut [u8]) {
    for j in 0..8 {
        if j < 4 {
            out[j] = ls[j];
            out[j + 4] = lm[j];
        } else {
            out[j + 4] = (ls[j] & 0xF) | ((lm[j] & 0xF) << 4);
            out[j - 4] |= (ls[j] >> 4) << 6;
            out[j] |= (lm[j] >> 4) << 6;
        }
    }
}

/// Shared by Q4_K and Q5_K: per 32 weights an asymmetric fit with `nmax` levels, weights
/// `rms(x) + |x|`; then the eight scales and mins are quantised to 6 bits. Returns the final
/// levels (re-fitted against the stored scales) after writing `d`, `dmin` and `scales`.
fn quant_k_scale_min(
    x: &[f32; QK_K],
    b: &mut [u8],
    nmax: i32,
    rmin: f32,
    nstep: i32,
) -> [u8; QK_K] {
    let mut levels = [0u8; QK_K];
    let mut aux = [0u8; 32];
    let mut weights = [0f32; 32];
    let mut scales = [0f32; 8];
    let mut mins = [0f32; 8];
    let (mut max_scale, mut max_min) = (0.0f32, 0.0f32);
    for j in 0..8 {
        let xs = &x[32 * j..][..32];
        let mut sum_x2 = 0.0f32;
        for v in xs {
            sum_x2 += v * v;
        }
        let av_x = (sum_x2 / 32.0).sqrt();
        for (w, v) in weights.iter_mut().zip(xs) {
            *w = av_x + v.abs();
        }
        let l = &mut levels[32 * j..][..32];
        (scales[j], mins[j]) =
            make_qkx2_quants(nmax, xs, &weights, l, &mut aux, rmin, 0.1, nstep, false);
        max_scale = max_scale.max_ggml(scales[j]);
        max_min = max_min.max_ggml(mins[j]);
    }
    let inv_scale = if max_scale > 0.0 {
        63.0 / max_scale
    } else {
        0.0
    };
    let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
    let mut ls = [0u8; 8];
    let mut lm = [0u8; 8];
    for j in 0..8 {
        // ggml assigns nearest_int to a uint8_t, then takes MIN(63, ·).
        ls[j] = (nearest_int(inv_scale * scales[j]) as u8).min(63);
        lm[j] = (nearest_int(inv_min * mins[j]) as u8).min(63);
    }
    b[0..2].copy_from_slice(&f16_bytes(max_scale / 63.0));
    b[2..4].copy_from_slice(&f16_bytes(max_min / 63.0));
    pack_scale_min_k4(&ls, &lm, &mut b[4..16]);
    let d_all = f16_round(max_scale / 63.0);
    let m_all = f16_round(max_min / 63.0);
    for j in 0..8 {
        let (sc, m) = scale_min_k4(j, &b[4..16]);
        let d = d_all * sc as f32;
        if d == 0.0 {
            continue;
        }
        let dm = m_all * m as f32;
        for ii in 0..32 {
            levels[32 * j + ii] = nearest_int((x[32 * j + ii] + dm) / d).clamp(0, nmax) as u8;
        }
    }
    levels
}

/// Q4_K: `make_qkx2_quants(32, 15, …, rmin = -1, rdelta = 0.1, nstep = 20)` per 32 weights.
pub(super) fn quant_q4_k(values: &[f32], out: &mut [u8]) {
    for_blocks_mut::<QK_K, 144>(values, out, |x, b| {
        let levels = quant_k_scale_min(x, b, 15, -1.0, 20);
        let qs = &mut b[16..144];
        for i in 0..4 {
            for l in 0..32 {
                qs[32 * i + l] = levels[64 * i + l] | (levels[64 * i + l + 32] << 4);
            }
        }
    });
}

/// Q5_K: `make_qkx2_quants(32, 31, …, rmin = -0.5, rdelta = 0.1, nstep = 15)` per 32 weights.
pub(super) fn quant_q5_k(values: &[f32], out: &mut [u8]) {
    for_blocks_mut::<QK_K, 176>(values, out, |x, b| {
        let levels = quant_k_scale_min(x, b, 31, -0.5, 15);
        let (qh, qs) = b[16..176].split_at_mut(32);
        qh.fill(0);
        for i in 0..4 {
            let (m1, m2) = (1u8 << (2 * i), 2u8 << (2 * i));
            for l in 0..32 {
                let mut l1 = levels[64 * i + l];
                let mut l2 = levels[64 * i + l + 32];
                if l1 > 15 {
                    l1 -= 16;
                    qh[l] |= m1;
                }
                if l2 > 15 {
                    l2 -= 16;
                    qh[l] |= m2;
                }
                qs[32 * i + l] = l1 | (l2 << 4);
            }
        }
    });
}

/// Q6_K: per 16 weights a symmetric 6-bit fit (`make_qx_quants(16, 32, …, rmse_type = 1)`); the
/// 16 scales are quantised to signed 8 bits against the one of largest magnitude.
pub(super) fn quant_q6_k(values: &[f32], out: &mut [u8]) {
    for_blocks_mut::<QK_K, 210>(values, out, |x, b| {
        let mut levels = [0u8; QK_K];
        let mut scales = [0f32; 16];
        let (mut max_scale, mut max_abs_scale) = (0.0f32, 0.0f32);
        for ib in 0..16 {
            scales[ib] = make_qx_quants(32, &x[16 * ib..][..16], &mut levels[16 * ib..][..16]);
            if scales[ib].abs() > max_abs_scale {
                max_abs_scale = scales[ib].abs();
                max_scale = scales[ib];
            }
        }
        if max_abs_scale < GROUP_MAX_EPS {
            b.fill(0);
            return;
        }
        let (ql, rest) = b.split_at_mut(128);
        let (qh, rest) = rest.split_at_mut(64);
        let (sc, dd) = rest.split_at_mut(16);
        let iscale = -128.0 / max_scale;
        dd.copy_from_slice(&f16_bytes(1.0 / iscale));
        for ib in 0..16 {
            sc[ib] = nearest_int(iscale * scales[ib]).min(127) as i8 as u8;
        }
        let d_all = f16_at(dd, 0);
        for j in 0..16 {
            let d = d_all * (sc[j] as i8) as f32;
            if d == 0.0 {
                continue;
            }
            for ii in 0..16 {
                let l = nearest_int(x[16 * j + ii] / d).clamp(-32, 31);
                levels[16 * j + ii] = (l + 32) as u8;
            }
        }
        for h in 0..2 {
            let lv = &levels[128 * h..][..128];
            for l in 0..32 {
                let (q1, q2, q3, q4) = (lv[l], lv[l + 32], lv[l + 64], lv[l + 96]);
                ql[64 * h + l] = (q1 & 0xF) | ((q3 & 0xF) << 4);
                ql[64 * h + l + 32] = (q2 & 0xF) | ((q4 & 0xF) << 4);
                qh[32 * h + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
            }
        }
    });
}

/// Q8_K: `d = max / -127` for the signed value of largest magnitude, `q = min(127,
/// nearest_int(x / d))`, plus the sums of each 16 quants. An all-zero block stays zero.
pub(super) fn quant_q8_k(values: &[f32], out: &mut [u8]) {
    for_blocks_mut::<QK_K, 292>(values, out, |x, b| {
        let mut max = 0.0f32;
        let mut amax = 0.0f32;
        for &v in x.iter() {
            if v.abs() > amax {
                amax = v.abs();
                max = v;
            }
        }
        if amax == 0.0 {
            b.fill(0);
            return;
        }
        let iscale = -127.0 / max;
        let mut qs = [0i8; QK_K];
        for (q, &v) in qs.iter_mut().zip(x.iter()) {
            *q = nearest_int(iscale * v).min(127) as i8;
        }
        b[0..4].copy_from_slice(&(1.0 / iscale).to_le_bytes());
        for (o, q) in b[4..260].iter_mut().zip(qs) {
            *o = q as u8;
        }
        for j in 0..16 {
            let sum: i16 = qs[16 * j..][..16].iter().map(|&q| q as i16).sum();
            b[260 + 2 * j..][..2].copy_from_slice(&sum.to_le_bytes());
        }
    });
}

/// ggml's `if (v > max) max = v;` (differs from `f32::max` only for NaN).
trait MaxGgml {
    fn max_ggml(self, v: f32) -> f32;
}

impl MaxGgml for f32 {
    #[inline(always)]
    fn max_ggml(self, v: f32) -> f32 {
        if v > self { v } else { self }
    }
}
