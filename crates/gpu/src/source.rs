//! Where the weights come from (a GGUF file, kept in its quantisation, or any other
//! checkpoint) and how they go to the GPU: [`Uploader`] turns tensors into [`GpuMatrix`]es,
//! split into row chunks that fit one binding, and keeps count of the bytes and the notes.

use xlingo_formats::{FormatError, GgmlType, Gguf, WeightSource};

use crate::context::Gpu;
use crate::error::Result;
use crate::weights::{self, GpuMatrix};

/// Where the weights come from: a GGUF file (kept in its quantisation) or any
/// [`WeightSource`] such as a Hugging Face checkpoint (uploaded as F16).
pub enum Source<'a> {
    Gguf(&'a Gguf),
    Weights(&'a dyn WeightSource),
}

impl Source<'_> {
    pub(crate) fn contains(&self, name: &str) -> bool {
        match self {
            Source::Gguf(g) => g.header.tensor(name).is_some(),
            Source::Weights(w) => w.contains(name),
        }
    }

    pub(crate) fn vector(&self, name: &str, len: usize) -> Result<Vec<f32>> {
        let (shape, values) = match self {
            Source::Gguf(g) => g.tensor_f32(name)?,
            Source::Weights(w) => w.tensor_f32(name)?,
        };
        if shape.iter().product::<usize>() != len || shape.len() != 1 {
            return Err(FormatError::ShapeMismatch {
                tensor: name.into(),
                expected: vec![len],
                found: shape,
            }
            .into());
        }
        Ok(values)
    }

    /// The matrix as ggml blocks: its own type when the kernels read it, else re-quantised to
    /// Q8_0 on the host (with a note), never expanded to f32 on the GPU.
    pub(crate) fn matrix(
        &self,
        name: &str,
        rows: usize,
        cols: usize,
        notes: &mut Vec<String>,
    ) -> Result<(GgmlType, std::borrow::Cow<'_, [u8]>)> {
        let check = |shape: Vec<usize>| -> Result<()> {
            if shape != [rows, cols] {
                return Err(FormatError::ShapeMismatch {
                    tensor: name.into(),
                    expected: vec![rows, cols],
                    found: shape,
                }
                .into());
            }
            Ok(())
        };
        match self {
            Source::Gguf(g) => {
                let info = g.tensor_info(name)?;
                check(info.shape())?;
                if weights::is_supported(info.ty) {
                    return Ok((info.ty, g.tensor_bytes(info)?.into()));
                }
                let (_, values) = g.tensor_f32(name)?;
                notes.push(format!(
                    "{name}: {} re-quantised to Q8_0 for the GPU kernels",
                    info.ty.name()
                ));
                let bytes = xlingo_formats::quant::quantize(GgmlType::Q8_0, &values)?;
                Ok((GgmlType::Q8_0, bytes.into()))
            }
            Source::Weights(w) => {
                let (shape, values) = w.tensor_f32(name)?;
                check(shape)?;
                let halves: Vec<half::f16> =
                    values.iter().map(|&v| half::f16::from_f32(v)).collect();
                Ok((GgmlType::F16, bytemuck::cast_slice(&halves).to_vec().into()))
            }
        }
    }
}

/// Uploads weight matrices, counting their bytes and collecting notes (re-quantisations).
pub(crate) struct Uploader<'a> {
    pub(crate) gpu: &'a Gpu,
    pub(crate) source: &'a Source<'a>,
    pub(crate) limit: u64,
    pub(crate) bytes: u64,
    pub(crate) notes: Vec<String>,
}

impl Uploader<'_> {
    pub(crate) fn matrix(&mut self, name: &str, rows: usize, cols: usize) -> Result<GpuMatrix> {
        let (ty, bytes) = self.source.matrix(name, rows, cols, &mut self.notes)?;
        self.upload(name, ty, rows, cols, &bytes)
    }

    pub(crate) fn upload(
        &mut self,
        name: &str,
        ty: GgmlType,
        rows: usize,
        cols: usize,
        bytes: &[u8],
    ) -> Result<GpuMatrix> {
        let m = GpuMatrix::upload(self.gpu, name, ty, rows, cols, bytes, self.limit)?;
        self.bytes += m.gpu_bytes();
        Ok(m)
    }

    /// Matrices with the same columns, stacked row-wise into one (named `stacked_name`) when
    /// they share a quantisation type, so one dispatch computes them all; else one each. Each
    /// comes with its first row in the stack.
    pub(crate) fn stacked(
        &mut self,
        parts: &[(&str, usize)],
        cols: usize,
        stacked_name: &str,
    ) -> Result<Vec<(usize, GpuMatrix)>> {
        let mut loaded = Vec::with_capacity(parts.len());
        for &(name, rows) in parts {
            let (ty, bytes) = self.source.matrix(name, rows, cols, &mut self.notes)?;
            loaded.push((name, rows, ty, bytes));
        }
        if loaded.iter().all(|l| l.2 == loaded[0].2) {
            let rows = loaded.iter().map(|l| l.1).sum();
            let bytes: Vec<u8> = loaded.iter().flat_map(|l| l.3.iter().copied()).collect();
            return Ok(vec![(
                0,
                self.upload(stacked_name, loaded[0].2, rows, cols, &bytes)?,
            )]);
        }
        let mut row0 = 0;
        let mut out = Vec::with_capacity(loaded.len());
        for (name, rows, ty, bytes) in loaded {
            out.push((row0, self.upload(name, ty, rows, cols, &bytes)?));
            row0 += rows;
        }
        Ok(out)
    }
}
