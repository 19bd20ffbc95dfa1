//! Writer/reader agreement: a GGUF built by `GgufWriter` from fuzzer-chosen metadata (every
//! value type, nested arrays) and tensors (every type, 1–4 dims, arbitrary data bytes) must
//! parse, read back exactly what was written, and re-serialise to the same bytes.

#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use xlingo_formats::gguf::MetaArray;
use xlingo_formats::{GgmlType, Gguf, GgufWriter, MetaValue};

const TYPES: [u32; 20] = [
    0, 1, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 30,
];

fn value(u: &mut Unstructured, type_id: u32, depth: usize) -> Result<MetaValue> {
    Ok(match type_id {
        0 => MetaValue::U8(u.arbitrary()?),
        1 => MetaValue::I8(u.arbitrary()?),
        2 => MetaValue::U16(u.arbitrary()?),
        3 => MetaValue::I16(u.arbitrary()?),
        4 => MetaValue::U32(u.arbitrary()?),
        5 => MetaValue::I32(u.arbitrary()?),
        6 => MetaValue::F32(u.arbitrary()?),
        7 => MetaValue::Bool(u.arbitrary()?),
        8 => MetaValue::String(u.arbitrary()?),
        10 => MetaValue::U64(u.arbitrary()?),
        11 => MetaValue::I64(u.arbitrary()?),
        12 => MetaValue::F64(u.arbitrary()?),
        _ => {
            // Arrays: an empty one may carry any item type id, a non-empty one a real type.
            let item_type = if depth >= 3 {
                u.int_in_range(0..=12)? & !1 // never 9 (array) this deep
            } else {
                u.int_in_range(0..=12)?
            };
            let n = u.int_in_range(0..=6)?;
            let items = (0..n)
                .map(|_| value(u, item_type, depth + 1))
                .collect::<Result<_>>()?;
            let item_type = if n == 0 && u.arbitrary()? {
                u.arbitrary()?
            } else {
                item_type
            };
            MetaValue::Array(MetaArray { item_type, items })
        }
    })
}

fn build(u: &mut Unstructured) -> Result<(GgufWriter, Vec<String>, Vec<(String, GgmlType)>)> {
    let mut w = GgufWriter::new();
    let mut keys = Vec::new();
    if u.arbitrary()? {
        let align = 1u32 << u.int_in_range(0..=9)?;
        w.set("general.alignment", MetaValue::U32(align));
        keys.push("general.alignment".to_string());
    }
    for _ in 0..u.int_in_range(0..=8)? {
        let key: String = u.arbitrary()?;
        if key == "general.alignment" {
            continue; // alignment is chosen above, as a power of two
        }
        let type_id = u.int_in_range(0..=12)?;
        let v = value(u, type_id, 0)?;
        if !keys.contains(&key) {
            keys.push(key.clone());
        }
        w.set(&key, v);
    }
    let mut tensors = Vec::new();
    for _ in 0..u.int_in_range(0..=4)? {
        let name: String = u.arbitrary()?;
        let ty = GgmlType::from_id(*u.choose(&TYPES)?).expect("known id");
        let n_dims = u.int_in_range(1..=4)?;
        let mut shape: Vec<usize> = (0..n_dims)
            .map(|_| u.int_in_range(0..=3))
            .collect::<Result<_>>()?;
        let last = shape.len() - 1;
        shape[last] *= ty.block_len(); // row length (ggml dims[0]) in whole blocks
        let n: usize = shape.iter().product();
        let len = n / ty.block_len() * ty.block_bytes();
        let data = u.bytes(len)?.to_vec();
        if w.add_tensor(&name, &shape, ty, data).is_ok() {
            tensors.push((name, ty));
        }
    }
    Ok((w, keys, tensors))
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok((w, keys, tensors)) = build(&mut u) else {
        return;
    };
    let bytes = w.to_bytes();
    let g = Gguf::from_bytes(bytes.clone()).expect("the writer's output parses");
    let h = &g.header;
    assert_eq!(h.metadata_order, keys);
    assert_eq!(h.tensors.len(), tensors.len());
    assert_eq!(h.data_offset % h.alignment, 0);
    let mut again = GgufWriter::new();
    for k in &h.metadata_order {
        again.set(k, h.metadata[k].clone());
    }
    for (t, (name, ty)) in h.tensors.iter().zip(&tensors) {
        assert_eq!((&t.name, t.ty), (name, *ty));
        assert_eq!(t.offset % h.alignment, 0);
        let raw = g.tensor_bytes(t).unwrap();
        let _ = g.tensor_f32(&t.name);
        again
            .add_tensor(&t.name, &t.shape(), t.ty, raw.to_vec())
            .unwrap();
    }
    assert_eq!(again.to_bytes(), bytes, "re-serialisation differs");
});
