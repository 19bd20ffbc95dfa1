//! Arbitrary bytes into the GGUF reader. Whatever the input, parsing, reading every tensor,
//! deriving the model config and printing the metadata must return (Ok or Err), never panic,
//! overflow, or allocate without bound.

#![no_main]

use libfuzzer_sys::fuzz_target;
use xlingo_formats::{Gguf, GgufHeader, ModelConfig};

fuzz_target!(|data: &[u8]| {
    // The header parser on a borrowed prefix (what `inspect` reads) ...
    let header = GgufHeader::parse(data);
    // ... and the whole-file reader, which also checks every tensor's data range.
    let Ok(gguf) = Gguf::from_bytes(data.to_vec()) else {
        return;
    };
    // Compared through Debug: a NaN in the metadata is not `==` to itself.
    let header = header.expect("from_bytes parsed this header");
    assert_eq!(format!("{header:?}"), format!("{:?}", gguf.header));
    for info in &gguf.header.tensors {
        let bytes = gguf.tensor_bytes(info).expect("ranges are checked at open");
        assert_eq!(bytes.len() as u64, info.byte_len());
        // Duplicate names resolve to the first tensor, so only check what we can.
        if let Ok((shape, values)) = gguf.tensor_f32(&info.name) {
            assert_eq!(shape.iter().product::<usize>(), values.len());
        }
    }
    for (key, value) in &gguf.header.metadata {
        let _ = format!("{key} = {value}");
    }
    if let Ok(config) = ModelConfig::from_gguf(&gguf.header) {
        let _ = config.parameter_count();
    }
});
