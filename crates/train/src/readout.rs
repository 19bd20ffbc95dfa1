//! Reading values off the device: synchronously natively, or without blocking where the
//! device cannot be waited on (WebGPU in the browser). Training queues its work as tensors and
//! reads only at the end, so one code path serves both.

use burn::tensor::Tensor;

use crate::error::{Result, TrainError};

/// A tensor's values, read synchronously (native devices only: the browser cannot block).
pub fn read_values<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| TrainError::Config(format!("reading a tensor: {e:?}")))
}

/// A tensor's values, read without blocking (what WebGPU in the browser needs).
pub async fn read_values_async<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.into_data_async()
        .await
        .map_err(|e| TrainError::Config(format!("reading a tensor off the GPU: {e:?}")))?
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| TrainError::Config(format!("reading a tensor: {e:?}")))
}

/// Named tensors to read off the device in one transfer.
#[derive(Default)]
pub struct Readout {
    entries: Vec<(String, Vec<usize>)>,
    parts: Vec<Tensor<1>>,
}

/// A tensor read back: its name, shape and values (row-major).
pub type HostTensor = (String, Vec<usize>, Vec<f32>);

impl Readout {
    pub fn push<const D: usize>(&mut self, name: impl Into<String>, t: Tensor<D>) {
        let shape = t.dims().to_vec();
        let n: usize = shape.iter().product();
        self.entries.push((name.into(), shape));
        self.parts.push(t.reshape([n]));
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn read(self) -> Result<Vec<HostTensor>> {
        let Readout { entries, parts } = self;
        if parts.is_empty() {
            return Ok(Vec::new());
        }
        split(entries, read_values(Tensor::cat(parts, 0))?)
    }

    pub async fn read_async(self) -> Result<Vec<HostTensor>> {
        let Readout { entries, parts } = self;
        if parts.is_empty() {
            return Ok(Vec::new());
        }
        split(entries, read_values_async(Tensor::cat(parts, 0)).await?)
    }
}

fn split(entries: Vec<(String, Vec<usize>)>, values: Vec<f32>) -> Result<Vec<HostTensor>> {
    let mut rest = values.as_slice();
    let mut out = Vec::with_capacity(entries.len());
    for (name, shape) in entries {
        let n: usize = shape.iter().product();
        if rest.len() < n {
            return Err(TrainError::Config(format!(
                "reading `{name}`: fewer values came back than were asked for"
            )));
        }
        let (these, tail) = rest.split_at(n);
        rest = tail;
        out.push((name, shape, these.to_vec()));
    }
    Ok(out)
}
