//! Key/value cache: the keys and values of every position seen so far, per layer, so that
//! decoding one token costs one position's worth of projections instead of the whole prefix.

use burn::tensor::Tensor;

/// One layer's keys and values, [batch, kv_heads, positions, head_dim].
#[derive(Debug, Default, Clone)]
pub struct LayerCache {
    kv: Option<(Tensor<4>, Tensor<4>)>,
}

impl LayerCache {
    /// Append new keys/values and return everything cached (old + new).
    pub fn append(&mut self, k: Tensor<4>, v: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let (k, v) = match self.kv.take() {
            Some((k0, v0)) => (Tensor::cat(vec![k0, k], 2), Tensor::cat(vec![v0, v], 2)),
            None => (k, v),
        };
        self.kv = Some((k.clone(), v.clone()));
        (k, v)
    }

    pub fn len(&self) -> usize {
        self.kv.as_ref().map_or(0, |(k, _)| k.dims()[2])
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keep only the first `n` positions.
    pub fn truncate(&mut self, n: usize) {
        if n == 0 {
            self.kv = None;
        } else if n < self.len() {
            self.kv = self
                .kv
                .take()
                .map(|(k, v)| (k.narrow(2, 0, n), v.narrow(2, 0, n)));
        }
    }
}

#[derive(Debug, Clone)]
pub struct KvCache {
    pub layers: Vec<LayerCache>,
}

impl KvCache {
    pub fn new(n_layers: usize) -> Self {
        KvCache {
            layers: vec![LayerCache::default(); n_layers],
        }
    }

    /// Positions cached so far.
    pub fn len(&self) -> usize {
        self.layers.first().map_or(0, LayerCache::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forget everything: a new conversation.
    pub fn clear(&mut self) {
        self.layers.iter_mut().for_each(|l| l.kv = None);
    }

    /// Keep only the first `n` positions (a prefix the next prompt shares).
    pub fn truncate(&mut self, n: usize) {
        self.layers.iter_mut().for_each(|l| l.truncate(n));
    }
}
