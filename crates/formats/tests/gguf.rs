//! GGUF reader and writer: a round trip through every metadata value type and several tensor
//! types with a non-default alignment, GGUF v2, and every kind of bad input giving the right
//! error variant with a message that names the key or tensor at fault (never a panic, never
//! an allocation sized by a count read from the file).
//!
//! Also keeps the fuzzing seeds in `fuzz/seeds/` current (see `fuzz_seeds_are_current`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::PathBuf;

use xlingo_formats::gguf::{DEFAULT_ALIGNMENT, MetaArray};
use xlingo_formats::quant::quantize;
use xlingo_formats::{FormatError, GgmlType, Gguf, GgufHeader, GgufWriter, MetaValue, ModelConfig};

// ---------------------------------------------------------------------------------------------
// Largest single allocation made by the current thread, to prove that absurd counts read from
// a file are rejected before anything is allocated for them.

struct TrackingAlloc;

thread_local! {
    static LARGEST_ALLOC: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for TrackingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = LARGEST_ALLOC.try_with(|m| m.set(m.get().max(layout.size())));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = LARGEST_ALLOC.try_with(|m| m.set(m.get().max(new_size)));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: TrackingAlloc = TrackingAlloc;

/// Run `f` and return its result with the largest single allocation it made on this thread.
fn largest_alloc<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST_ALLOC.with(|m| m.set(0));
    let out = f();
    (out, LARGEST_ALLOC.with(|m| m.get()))
}

// ---------------------------------------------------------------------------------------------
// Helpers.

fn arr(item_type: u32, items: Vec<MetaValue>) -> MetaValue {
    MetaValue::Array(MetaArray { item_type, items })
}

fn s(v: &str) -> MetaValue {
    MetaValue::String(v.into())
}

/// Every metadata value type, arrays of each, an empty array and nested arrays of strings,
/// in a deliberately unsorted key order.
fn all_value_types() -> Vec<(&'static str, MetaValue)> {
    use MetaValue::*;
    vec![
        ("z.u8", U8(250)),
        ("a.i8", I8(-7)),
        ("m.u16", U16(65_000)),
        ("b.i16", I16(-30_000)),
        ("y.u32", U32(4_000_000_000)),
        ("c.i32", I32(-2_000_000_000)),
        ("x.f32", F32(-1.5e-3)),
        ("d.bool.true", Bool(true)),
        ("d.bool.false", Bool(false)),
        ("w.string", s("héllo ✓ wörld")),
        ("w.string.empty", s("")),
        ("e.u64", U64(u64::MAX - 1)),
        ("v.i64", I64(i64::MIN + 1)),
        ("f.f64", F64(std::f64::consts::PI)),
        ("arr.u8", arr(0, vec![U8(0), U8(255)])),
        ("arr.i8", arr(1, vec![I8(-128), I8(127)])),
        ("arr.u16", arr(2, vec![U16(1), U16(65_535)])),
        ("arr.i16", arr(3, vec![I16(-1), I16(i16::MAX)])),
        ("arr.u32", arr(4, vec![U32(7), U32(u32::MAX)])),
        ("arr.i32", arr(5, vec![I32(i32::MIN), I32(0)])),
        ("arr.f32", arr(6, vec![F32(0.5), F32(f32::MAX), F32(-0.0)])),
        (
            "arr.bool",
            arr(7, vec![Bool(true), Bool(false), Bool(true)]),
        ),
        ("arr.string", arr(8, vec![s("a"), s(""), s("ünïcode")])),
        ("arr.u64", arr(10, vec![U64(u64::MAX)])),
        ("arr.i64", arr(11, vec![I64(i64::MIN), I64(i64::MAX)])),
        ("arr.f64", arr(12, vec![F64(1e300), F64(-1e-300)])),
        ("arr.empty", arr(4, vec![])),
        ("arr.empty.of.arrays", arr(9, vec![])),
        (
            "arr.nested",
            arr(
                9,
                vec![
                    arr(8, vec![s("x"), s("yy")]),
                    arr(8, vec![]),
                    arr(8, vec![s("zzz")]),
                ],
            ),
        ),
        (
            "arr.nested.deeper",
            arr(
                9,
                vec![arr(9, vec![arr(8, vec![s("deep")])]), arr(5, vec![])],
            ),
        ),
    ]
}

struct TestTensor {
    name: &'static str,
    shape: Vec<usize>,
    ty: GgmlType,
    data: Vec<u8>,
}

fn ramp(n: usize) -> Vec<f32> {
    (0..n).map(|i| (i as f32 * 0.37).sin() * 2.0).collect()
}

/// Tensors of several types, quantised from a ramp so their data is not all zeros.
fn test_tensors() -> Vec<TestTensor> {
    let t = |name, shape: Vec<usize>, ty| {
        let n = shape.iter().product();
        let data = quantize(ty, &ramp(n)).unwrap();
        TestTensor {
            name,
            shape,
            ty,
            data,
        }
    };
    vec![
        t("token_embd.weight", vec![3, 5], GgmlType::F32),
        t("blk.0.attn_q.weight", vec![2, 6], GgmlType::F16),
        t("blk.0.ffn_up.weight", vec![2, 64], GgmlType::Q8_0),
        t("blk.0.ffn_down.weight", vec![1, 256], GgmlType::Q4K),
        t("blk.0.attn_k.weight", vec![2, 32], GgmlType::Q4_0),
        t("output_norm.weight", vec![2, 1, 1, 7], GgmlType::BF16),
        t("blk.0.ffn_gate.weight", vec![1, 256], GgmlType::Q6K),
        // Ends the file: 16 f32 = 64 bytes, a whole alignment unit, so no trailing padding.
        t("output.weight", vec![4, 4], GgmlType::F32),
    ]
}

fn writer_with(meta: &[(&str, MetaValue)], tensors: &[TestTensor]) -> GgufWriter {
    let mut w = GgufWriter::new();
    for (k, v) in meta {
        w.set(k, v.clone());
    }
    for t in tensors {
        w.add_tensor(t.name, &t.shape, t.ty, t.data.clone())
            .unwrap();
    }
    w
}

/// The round-trip file: every value type, eight tensors, alignment 64.
fn full_file() -> Vec<u8> {
    let mut meta = vec![("general.alignment", MetaValue::U32(64))];
    meta.extend(all_value_types());
    writer_with(&meta, &test_tensors()).to_bytes()
}

fn err_of<T>(r: Result<T, FormatError>) -> FormatError {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

/// Assert that `msg` contains every one of `parts`.
fn assert_mentions(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(
            msg.contains(p),
            "error message {msg:?} does not mention {p:?}"
        );
    }
}

/// Hand-built GGUF bytes, for inputs the writer refuses to produce.
struct Raw(Vec<u8>);

impl Raw {
    fn new(version: u32, n_tensors: u64, n_kv: u64) -> Self {
        let mut r = Raw(b"GGUF".to_vec());
        r.u32(version).u64(n_tensors).u64(n_kv);
        r
    }
    fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn str(&mut self, s: &[u8]) -> &mut Self {
        self.u64(s.len() as u64);
        self.0.extend_from_slice(s);
        self
    }
    fn kv_u32(&mut self, key: &str, v: u32) -> &mut Self {
        self.str(key.as_bytes()).u32(4).u32(v)
    }
    fn tensor(&mut self, name: &str, dims: &[u64], ty: u32, offset: u64) -> &mut Self {
        self.str(name.as_bytes()).u32(dims.len() as u32);
        for &d in dims {
            self.u64(d);
        }
        self.u32(ty).u64(offset)
    }
    /// Pad to 32 and append `n` data bytes.
    fn data(&mut self, n: usize) -> Vec<u8> {
        let mut b = self.0.clone();
        b.resize(b.len().div_ceil(32) * 32 + n, 0x3c);
        b
    }
    fn parse(&self) -> Result<Gguf, FormatError> {
        Gguf::from_bytes(self.0.clone())
    }
}

// ---------------------------------------------------------------------------------------------
// Round trips.

#[test]
fn round_trip_every_value_type_and_tensor_type() {
    let bytes = full_file();
    let gguf = Gguf::from_bytes(bytes.clone()).unwrap();
    let h = &gguf.header;

    assert_eq!(h.version, 3);
    assert_eq!(h.alignment, 64);
    assert_eq!(h.data_offset % 64, 0);

    // Metadata: every value identical, in file order.
    let mut expected = vec![("general.alignment", MetaValue::U32(64))];
    expected.extend(all_value_types());
    let order: Vec<&str> = expected.iter().map(|(k, _)| *k).collect();
    assert_eq!(h.metadata_order, order);
    assert_eq!(h.metadata.len(), expected.len());
    for (k, v) in &expected {
        assert_eq!(h.get(k), Some(v), "metadata `{k}`");
        assert_eq!(h.get(k).unwrap().type_id(), v.type_id());
    }
    // -0.0 == 0.0, so check the sign bit of that one explicitly.
    let neg_zero = &h.get_array("arr.f32").unwrap()[2];
    assert!(matches!(neg_zero, MetaValue::F32(z) if z.to_bits() == (-0.0f32).to_bits()));
    // Empty arrays keep their item type.
    assert!(matches!(h.get("arr.empty"), Some(MetaValue::Array(a)) if a.item_type == 4));
    assert_eq!(
        h.get_str_array("arr.string").unwrap(),
        vec!["a", "", "ünïcode"]
    );

    // Tensors: order, infos, shapes, aligned offsets, data bytes and values.
    let tensors = test_tensors();
    assert_eq!(h.tensors.len(), tensors.len());
    let mut next_offset = 0;
    for (info, t) in h.tensors.iter().zip(&tensors) {
        assert_eq!(info.name, t.name);
        assert_eq!(info.ty, t.ty);
        assert_eq!(info.shape(), t.shape);
        let dims: Vec<u64> = t.shape.iter().rev().map(|&d| d as u64).collect();
        assert_eq!(info.dims, dims);
        assert_eq!(info.offset % 64, 0, "`{}` offset {}", t.name, info.offset);
        assert_eq!(info.offset, next_offset, "tensors are packed in order");
        next_offset = (info.offset + t.data.len() as u64).div_ceil(64) * 64;
        assert_eq!((h.data_offset + info.offset) % 64, 0);
        assert_eq!(info.byte_len(), t.data.len() as u64);
        assert_eq!(gguf.tensor_bytes(info).unwrap(), &t.data[..]);
        let (shape, values) = gguf.tensor_f32(t.name).unwrap();
        assert_eq!(shape, t.shape);
        let n: usize = t.shape.iter().product();
        let direct = xlingo_formats::quant::dequantize(t.ty, &t.data, n).unwrap();
        assert_eq!(values, direct);
    }
    // The last tensor ends the file exactly (the truncation test relies on it).
    assert_eq!(h.data_offset + next_offset, bytes.len() as u64);

    // The header alone parses from a prefix, and rewriting what was read gives the same bytes.
    let header_only = GgufHeader::parse(&bytes[..h.data_offset as usize]).unwrap();
    assert_eq!(&header_only, h);
    let mut again = GgufWriter::new();
    for k in &h.metadata_order {
        again.set(k, h.metadata[k].clone());
    }
    for info in &h.tensors {
        let data = gguf.tensor_bytes(info).unwrap().to_vec();
        again
            .add_tensor(&info.name, &info.shape(), info.ty, data)
            .unwrap();
    }
    assert_eq!(again.to_bytes(), bytes);
}

#[test]
fn round_trip_through_a_file() {
    let bytes = full_file();
    let path = std::env::temp_dir().join(format!("xlingo-gguf-test-{}.gguf", std::process::id()));
    std::fs::write(&path, &bytes).unwrap();
    let opened = Gguf::open(&path);
    std::fs::remove_file(&path).unwrap();
    let opened = opened.unwrap();
    let owned = Gguf::from_bytes(bytes).unwrap();
    assert_eq!(opened.header, owned.header);
    for info in &owned.header.tensors {
        assert_eq!(
            opened.tensor_bytes(info).unwrap(),
            owned.tensor_bytes(info).unwrap()
        );
    }

    let missing = std::env::temp_dir().join("xlingo-no-such-file.gguf");
    let e = err_of(Gguf::open(&missing));
    assert!(matches!(e, FormatError::Io { .. }), "{e:?}");
    assert_mentions(&e.to_string(), &["xlingo-no-such-file.gguf"]);
}

#[test]
fn empty_file_and_default_alignment() {
    let bytes = GgufWriter::new().to_bytes();
    assert_eq!(bytes.len(), 32, "24-byte header padded to 32");
    let g = Gguf::from_bytes(bytes.clone()).unwrap();
    assert_eq!(g.header.alignment, DEFAULT_ALIGNMENT);
    assert_eq!(g.header.data_offset, 32);
    assert!(g.header.metadata.is_empty() && g.header.tensors.is_empty());
    // Without tensors the padding is optional: the bare 24-byte header parses too.
    assert!(Gguf::from_bytes(bytes[..24].to_vec()).is_ok());
}

// ---------------------------------------------------------------------------------------------
// Versions. The GGUF spec (ggml docs/gguf.md, "Version History"): v2 changed most countable
// values (lengths, counts) from uint32 to uint64; v3 only adds big-endian support (with no
// marker in the file). So little-endian v2 and v3 files are byte-for-byte the same layout, and
// v1 (u32 counts and lengths) needs a different parser, which we do not have.

fn with_version(mut bytes: Vec<u8>, version: u32) -> Vec<u8> {
    bytes[4..8].copy_from_slice(&version.to_le_bytes());
    bytes
}

#[test]
fn version_2_reads_like_version_3() {
    let v3 = full_file();
    let v2 = with_version(v3.clone(), 2);
    let g3 = Gguf::from_bytes(v3).unwrap();
    let g2 = Gguf::from_bytes(v2).unwrap();
    assert_eq!(g2.header.version, 2);
    let mut h2 = g2.header.clone();
    h2.version = 3;
    assert_eq!(h2, g3.header);
    for info in &g3.header.tensors {
        assert_eq!(
            g2.tensor_bytes(info).unwrap(),
            g3.tensor_bytes(info).unwrap()
        );
        assert_eq!(
            g2.tensor_f32(&info.name).unwrap(),
            g3.tensor_f32(&info.name).unwrap()
        );
    }
}

#[test]
fn other_versions_are_rejected_clearly() {
    for version in [0, 1, 4, 0x0300_0000, u32::MAX] {
        let e = err_of(Gguf::from_bytes(with_version(full_file(), version)));
        assert!(
            matches!(e, FormatError::UnsupportedVersion(v) if v == version),
            "{e:?}"
        );
        assert_mentions(
            &e.to_string(),
            &[&format!("unsupported GGUF version {version}"), "2, 3"],
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Bad input.

#[test]
fn wrong_magic() {
    for magic in [*b"GGML", *b"ggjt", *b"FUGG", [0; 4]] {
        let mut bytes = full_file();
        bytes[..4].copy_from_slice(&magic);
        let e = err_of(Gguf::from_bytes(bytes));
        assert!(
            matches!(e, FormatError::BadMagic { found } if found == magic),
            "{e:?}"
        );
        assert_mentions(&e.to_string(), &["not a GGUF file", "\"GGUF\""]);
    }
    // A safetensors or JSON file handed over by mistake.
    let e = err_of(Gguf::from_bytes(b"{\"model_type\": \"llama\"}".to_vec()));
    assert!(matches!(e, FormatError::BadMagic { .. }), "{e:?}");
}

#[test]
fn every_prefix_is_an_error() {
    let bytes = full_file();
    let data_offset = Gguf::from_bytes(bytes.clone()).unwrap().header.data_offset as usize;
    // The header proper (before padding) ends where a prefix first parses as a header.
    let header_len = (0..=bytes.len())
        .find(|&n| GgufHeader::parse(&bytes[..n]).is_ok())
        .unwrap();
    assert!(header_len <= data_offset && data_offset - header_len < 64);

    for cut in 0..bytes.len() {
        let prefix = &bytes[..cut];
        let e = err_of(Gguf::from_bytes(prefix.to_vec()));
        let msg = e.to_string();
        match &e {
            FormatError::Truncated { offset, .. } => {
                assert!(cut < header_len, "cut {cut}: {e:?}");
                assert!(*offset <= cut as u64, "cut {cut}: {e:?}");
                assert_mentions(&msg, &["truncated while reading"]);
            }
            FormatError::BadMagic { .. } => unreachable!("cut {cut}: {e:?}"),
            FormatError::TensorOutOfRange { tensor, .. } => {
                assert!(cut >= header_len, "cut {cut}: {e:?}");
                assert_mentions(&msg, &[tensor, &format!("({cut} bytes)")]);
            }
            other => panic!("cut {cut}: unexpected {other:?}"),
        }
        // The header parser alone fails exactly on the prefixes that cut the header.
        assert_eq!(GgufHeader::parse(prefix).is_err(), cut < header_len);
    }
    // Named parts of the header: the 4-byte magic, the version, and a metadata key.
    let msg = |cut: usize| err_of(GgufHeader::parse(&bytes[..cut])).to_string();
    assert_mentions(&msg(2), &["magic", "at byte 0"]);
    assert_mentions(&msg(6), &["version", "at byte 4"]);
    assert_mentions(&msg(12), &["tensor count", "at byte 8"]);
    assert_mentions(&msg(20), &["metadata count", "at byte 16"]);
    assert_mentions(&msg(30), &["metadata key #0", "at byte 24"]);
}

#[test]
fn unknown_metadata_value_type() {
    for type_id in [13, 100, u32::MAX] {
        let mut r = Raw::new(3, 0, 2);
        r.kv_u32("fine", 1)
            .str(b"general.mystery")
            .u32(type_id)
            .u32(0);
        let e = err_of(r.parse());
        assert!(
            matches!(&e, FormatError::UnknownMetadataType { key, type_id: t }
                if key == "general.mystery" && *t == type_id),
            "{e:?}"
        );
        assert_mentions(
            &e.to_string(),
            &[
                "`general.mystery`",
                &format!("unknown value type {type_id}"),
            ],
        );
    }
    // Inside an array, too.
    let mut r = Raw::new(3, 0, 1);
    r.str(b"some.array").u32(9).u32(77).u64(1).u32(0);
    let e = err_of(r.parse());
    assert!(
        matches!(&e, FormatError::UnknownMetadataType { key, type_id: 77 } if key == "some.array"),
        "{e:?}"
    );
}

#[test]
fn unknown_tensor_type_names_the_tensor() {
    // 4 and 5 were Q4_2/Q4_3 (removed); 16.. are i-quants we do not read; 40 is unassigned.
    for type_id in [4, 5, 16, 29, 40, u32::MAX] {
        let mut r = Raw::new(3, 1, 0);
        r.tensor("blk.3.ffn_up.weight", &[32, 2], type_id, 0);
        let e = err_of(r.parse());
        assert!(
            matches!(&e, FormatError::UnknownTensorType { tensor, type_id: t }
                if tensor == "blk.3.ffn_up.weight" && *t == type_id),
            "{e:?}"
        );
        assert_mentions(
            &e.to_string(),
            &["`blk.3.ffn_up.weight`", &type_id.to_string()],
        );
    }
}

#[test]
fn tensor_data_out_of_range_names_the_tensor() {
    // 2×8 f32 = 64 bytes, but only 60 are there.
    let mut r = Raw::new(3, 1, 0);
    r.tensor("output.weight", &[8, 2], 0, 0);
    let e = err_of(Gguf::from_bytes(r.data(60)));
    assert!(
        matches!(&e, FormatError::TensorOutOfRange { tensor, .. } if tensor == "output.weight"),
        "{e:?}"
    );
    assert_mentions(&e.to_string(), &["`output.weight`", "outside the file"]);
    assert!(Gguf::from_bytes(r.data(64)).is_ok());

    // Offsets far beyond the file, up to ones whose end overflows u64.
    for offset in [32, 1 << 40, u64::MAX - 31] {
        let mut r = Raw::new(3, 2, 0);
        r.tensor("a", &[8], 0, 0)
            .tensor("blk.0.attn_v.weight", &[8], 0, offset);
        let e = err_of(Gguf::from_bytes(r.data(32)));
        assert!(
            matches!(&e, FormatError::TensorOutOfRange { tensor, .. } if tensor == "blk.0.attn_v.weight"),
            "offset {offset}: {e:?}"
        );
        assert_mentions(&e.to_string(), &["`blk.0.attn_v.weight`"]);
    }
}

#[test]
fn misaligned_tensor_offset_names_the_tensor() {
    let mut r = Raw::new(3, 1, 0);
    r.tensor("tok.w", &[8], 0, 4);
    let e = err_of(Gguf::from_bytes(r.data(64)));
    assert!(matches!(e, FormatError::Invalid(_)), "{e:?}");
    assert_mentions(&e.to_string(), &["`tok.w`", "offset 4", "alignment 32"]);
}

#[test]
fn row_length_not_a_multiple_of_the_block_size() {
    for (ty, row) in [(8u32, 16u64), (12, 32), (2, 33), (14, 255)] {
        let mut r = Raw::new(3, 1, 0);
        r.tensor("blk.0.ffn_down.weight", &[row, 256], ty, 0);
        let e = err_of(r.parse());
        assert!(matches!(e, FormatError::Invalid(_)), "{e:?}");
        let name = GgmlType::from_id(ty).unwrap().name();
        assert_mentions(
            &e.to_string(),
            &[
                "`blk.0.ffn_down.weight`",
                &format!("row length {row}"),
                name,
            ],
        );
    }
    // Only the row (ggml dims[0]) matters: 256 rows of 32 is fine for Q8_0.
    let mut r = Raw::new(3, 1, 0);
    r.tensor("ok", &[32, 3], 8, 0);
    assert!(Gguf::from_bytes(r.data(3 * 34)).is_ok());
}

#[test]
fn duplicate_key() {
    let mut r = Raw::new(3, 0, 3);
    r.kv_u32("llama.block_count", 2)
        .kv_u32("llama.context_length", 2)
        .kv_u32("llama.block_count", 3);
    let e = err_of(r.parse());
    assert!(matches!(e, FormatError::Invalid(_)), "{e:?}");
    assert_mentions(&e.to_string(), &["`llama.block_count`", "twice"]);
}

#[test]
fn duplicate_tensor_name() {
    let mut r = Raw::new(3, 3, 0);
    r.tensor("blk.0.attn_q.weight", &[8], 0, 0)
        .tensor("blk.0.attn_k.weight", &[8], 0, 32)
        .tensor("blk.0.attn_q.weight", &[8], 0, 64);
    let e = err_of(Gguf::from_bytes(r.data(96)));
    assert!(matches!(e, FormatError::Invalid(_)), "{e:?}");
    assert_mentions(&e.to_string(), &["`blk.0.attn_q.weight`", "twice"]);
}

#[test]
fn invalid_utf8() {
    // In a key: the key cannot be printed, so its position is named instead.
    let mut r = Raw::new(3, 0, 2);
    r.kv_u32("ok", 1).str(b"bad\xff\xfekey").u32(4).u32(0);
    let e = err_of(r.parse());
    assert!(matches!(e, FormatError::InvalidUtf8 { .. }), "{e:?}");
    assert_mentions(&e.to_string(), &["invalid UTF-8", "metadata key #1"]);

    // In a string value, and in an array of strings: the key is named.
    let mut r = Raw::new(3, 0, 1);
    r.str(b"general.name").u32(8).str(b"\xc3\x28");
    let e = err_of(r.parse());
    assert!(
        matches!(&e, FormatError::InvalidUtf8 { what } if what == "general.name"),
        "{e:?}"
    );
    assert_mentions(&e.to_string(), &["general.name"]);

    let mut r = Raw::new(3, 0, 1);
    r.str(b"tokenizer.ggml.tokens")
        .u32(9)
        .u32(8)
        .u64(2)
        .str(b"ok")
        .str(b"\x80");
    let e = err_of(r.parse());
    assert!(matches!(e, FormatError::InvalidUtf8 { .. }), "{e:?}");
    assert_mentions(&e.to_string(), &["tokenizer.ggml.tokens"]);

    // In a tensor name.
    let mut r = Raw::new(3, 1, 0);
    r.str(b"blk.\xe2\x28\xa1").u32(1).u64(8).u32(0).u64(0);
    let e = err_of(r.parse());
    assert!(matches!(e, FormatError::InvalidUtf8 { .. }), "{e:?}");
    assert_mentions(&e.to_string(), &["name of tensor #0"]);
}

#[test]
fn invalid_bool_and_deep_nesting() {
    let mut r = Raw::new(3, 0, 1);
    r.str(b"general.flag").u32(7).u8(2);
    let e = err_of(r.parse());
    assert!(matches!(e, FormatError::Invalid(_)), "{e:?}");
    assert_mentions(&e.to_string(), &["`general.flag`", "bool byte 2"]);

    // 100 nested single-item arrays: refused at a fixed depth, not by overflowing the stack.
    let mut r = Raw::new(3, 0, 1);
    r.str(b"deep").u32(9);
    for _ in 0..100 {
        r.u32(9).u64(1);
    }
    let e = err_of(r.parse());
    assert!(matches!(e, FormatError::Invalid(_)), "{e:?}");
    assert_mentions(&e.to_string(), &["`deep`", "nested deeper"]);
}

#[test]
fn bad_alignment() {
    for value in [
        MetaValue::U32(0),
        MetaValue::U32(48),
        MetaValue::I32(-32),
        s("32"),
    ] {
        let mut r = Raw::new(3, 0, 1);
        r.str(b"general.alignment").u32(value.type_id());
        match &value {
            MetaValue::U32(v) => r.u32(*v),
            MetaValue::I32(v) => r.u32(*v as u32),
            MetaValue::String(v) => r.str(v.as_bytes()),
            _ => unreachable!(),
        };
        let e = err_of(r.parse());
        assert!(
            matches!(&e, FormatError::WrongKeyType { key, .. } if key == "general.alignment"),
            "{value:?}: {e:?}"
        );
        assert_mentions(&e.to_string(), &["general.alignment", "power of two"]);
    }
}

#[test]
fn writer_with_bad_alignment_does_not_panic() {
    // `to_bytes` is infallible: an alignment of 0 (or not a power of two) must not make it
    // divide by zero; the reader then rejects the file, naming the key.
    for value in [
        MetaValue::U32(0),
        MetaValue::U64(48),
        MetaValue::I8(-1),
        s("64"),
    ] {
        let mut w = GgufWriter::new();
        w.set("general.alignment", value.clone());
        w.add_tensor("t", &[8], GgmlType::F32, vec![0; 32]).unwrap();
        let e = err_of(Gguf::from_bytes(w.to_bytes()));
        assert!(
            matches!(&e, FormatError::WrongKeyType { key, .. } if key == "general.alignment"),
            "{value:?}: {e:?}"
        );
    }
}

#[test]
fn absurd_counts_are_rejected_without_allocating() {
    const LIMIT: usize = 1 << 20;
    let cases: Vec<(&str, Raw, &[&str])> = vec![
        ("kv count", Raw::new(3, 0, u64::MAX), &["metadata key #0"]),
        (
            "tensor count",
            Raw::new(3, u64::MAX, 0),
            &["name of tensor #0"],
        ),
        (
            "array count",
            {
                let mut r = Raw::new(3, 0, 1);
                r.str(b"tokenizer.ggml.tokens").u32(9).u32(8).u64(u64::MAX);
                r
            },
            &["`tokenizer.ggml.tokens`", "18446744073709551615 items"],
        ),
        (
            "array of u8, one short",
            {
                let mut r = Raw::new(3, 0, 1);
                r.str(b"bytes").u32(9).u32(0).u64(1 << 40).u8(1);
                r
            },
            &["`bytes`", "1099511627776 items"],
        ),
        (
            "string length",
            {
                let mut r = Raw::new(3, 0, 1);
                r.str(b"general.name").u32(8).u64(u64::MAX).u8(b'x');
                r
            },
            &["general.name"],
        ),
        (
            "key length",
            {
                let mut r = Raw::new(3, 0, 1);
                r.u64(u64::MAX - 3).u32(4);
                r
            },
            &["metadata key #0"],
        ),
        (
            "tensor name length",
            {
                let mut r = Raw::new(3, 1, 0);
                r.u64(1 << 62);
                r
            },
            &["name of tensor #0"],
        ),
    ];
    for (what, raw, parts) in cases {
        let (result, largest) = largest_alloc(|| raw.parse());
        let e = err_of(result);
        assert!(matches!(e, FormatError::Truncated { .. }), "{what}: {e:?}");
        assert_mentions(&e.to_string(), parts);
        assert!(largest < LIMIT, "{what}: allocated {largest} bytes");
    }
}

#[test]
fn absurd_dims() {
    let cases: Vec<(&[u64], u32, &[&str])> = vec![
        (&[u64::MAX, 2], 0, &["overflow"]),
        (&[1 << 32, 1 << 32], 0, &["overflow"]),
        (&[1 << 16, 1 << 16, 1 << 16, 1 << 16], 1, &["overflow"]),
        // The element count fits in u64, the byte count does not.
        (&[1 << 62], 0, &["overflow"]),
        (&[1 << 40, 1 << 23], 30, &["overflow"]),
    ];
    for (dims, ty, parts) in cases {
        let mut r = Raw::new(3, 1, 0);
        r.tensor("blk.9.attn_output.weight", dims, ty, 0);
        let (result, largest) = largest_alloc(|| Gguf::from_bytes(r.data(64)));
        let e = err_of(result);
        assert!(matches!(e, FormatError::Invalid(_)), "{dims:?}: {e:?}");
        assert_mentions(&e.to_string(), &["`blk.9.attn_output.weight`"]);
        assert_mentions(&e.to_string(), parts);
        assert!(largest < 1 << 20);
    }
    for n_dims in [0u32, 5, u32::MAX] {
        let mut r = Raw::new(3, 1, 0);
        r.str(b"t")
            .u32(n_dims)
            .u64(1)
            .u64(1)
            .u64(1)
            .u64(1)
            .u64(1)
            .u32(0)
            .u64(0);
        let e = err_of(r.parse());
        assert!(matches!(e, FormatError::Invalid(_)), "{n_dims}: {e:?}");
        assert_mentions(&e.to_string(), &["`t`", &format!("{n_dims} dimensions")]);
    }
    // A huge tensor whose size fits is only refused once its data is found missing.
    let mut r = Raw::new(3, 1, 0);
    r.tensor("big", &[1 << 20, 1 << 20], 1, 0);
    let (result, largest) = largest_alloc(|| Gguf::from_bytes(r.data(64)));
    assert!(matches!(
        err_of(result),
        FormatError::TensorOutOfRange { .. }
    ));
    assert!(largest < 1 << 20);
}

// ---------------------------------------------------------------------------------------------
// ModelConfig::from_gguf.

const LLAMA_REQUIRED: [&str; 7] = [
    "general.architecture",
    "llama.embedding_length",
    "llama.attention.head_count",
    "llama.feed_forward_length",
    "llama.block_count",
    "llama.context_length",
    "llama.attention.layer_norm_rms_epsilon",
];

fn llama_meta(arch: &str) -> Vec<(String, MetaValue)> {
    use MetaValue::*;
    vec![
        ("general.architecture".into(), s(arch)),
        (format!("{arch}.embedding_length"), U32(16)),
        (format!("{arch}.attention.head_count"), U32(4)),
        (format!("{arch}.attention.head_count_kv"), U32(2)),
        (format!("{arch}.feed_forward_length"), U32(32)),
        (format!("{arch}.block_count"), U32(2)),
        (format!("{arch}.context_length"), U32(64)),
        (
            format!("{arch}.attention.layer_norm_rms_epsilon"),
            F32(1e-5),
        ),
        (format!("{arch}.rope.freq_base"), F32(10_000.0)),
        (
            "tokenizer.ggml.tokens".into(),
            arr(8, vec![s("<s>"), s("</s>"), s("a"), s("b")]),
        ),
    ]
}

fn header_of(meta: &[(String, MetaValue)]) -> GgufHeader {
    let mut w = GgufWriter::new();
    for (k, v) in meta {
        w.set(k, v.clone());
    }
    GgufHeader::parse(&w.to_bytes()).unwrap()
}

#[test]
fn model_config_from_gguf() {
    let c = ModelConfig::from_gguf(&header_of(&llama_meta("llama"))).unwrap();
    assert_eq!(
        (
            c.arch.as_str(),
            c.hidden_size,
            c.n_heads,
            c.n_kv_heads,
            c.head_dim
        ),
        ("llama", 16, 4, 2, 4)
    );
    assert_eq!((c.vocab_size, c.n_layers, c.context_length), (4, 2, 64));
    let q = ModelConfig::from_gguf(&header_of(&llama_meta("qwen2"))).unwrap();
    assert_eq!(q.arch, "qwen2");
}

/// Found by the `gguf_parse` fuzzer: a valid llama header with huge (but in-range) sizes made
/// `parameter_count` (used by `xlingo inspect`) overflow. It now saturates.
#[test]
fn parameter_count_of_absurd_sizes_saturates() {
    let c = ModelConfig::from_gguf(&header_of(&llama_meta("llama"))).unwrap();
    let small = c.parameter_count();
    assert!(small > 0 && small < 1_000_000);

    let mut meta = llama_meta("llama");
    meta[1].1 = MetaValue::U32(0x5d00_0010); // embedding_length
    meta[2].1 = MetaValue::U32(0xf9fc); // head_count
    meta[3].1 = MetaValue::U32(0xf9fc); // head_count_kv (the fuzzer's input had none)
    let c = ModelConfig::from_gguf(&header_of(&meta)).unwrap();
    assert_eq!(c.parameter_count(), u64::MAX);

    for (i, big) in [(1, u64::MAX), (4, u64::MAX), (5, u64::MAX), (6, u64::MAX)] {
        let mut meta = llama_meta("llama");
        meta[i].1 = MetaValue::U64(big);
        if let Ok(c) = ModelConfig::from_gguf(&header_of(&meta)) {
            assert_eq!(c.parameter_count() == u64::MAX, i != 6, "{}", meta[i].0);
        }
    }
}

#[test]
fn model_config_names_each_missing_key() {
    for key in LLAMA_REQUIRED {
        let meta: Vec<_> = llama_meta("llama")
            .into_iter()
            .filter(|(k, _)| k != key)
            .collect();
        let e = err_of(ModelConfig::from_gguf(&header_of(&meta)));
        assert!(
            matches!(&e, FormatError::MissingKey { key: k } if k == key),
            "{key}: {e:?}"
        );
        assert_mentions(&e.to_string(), &[&format!("missing metadata key `{key}`")]);
    }
    // A required key of the wrong type is named too.
    let mut meta = llama_meta("llama");
    meta[5].1 = s("two");
    let e = err_of(ModelConfig::from_gguf(&header_of(&meta)));
    assert!(
        matches!(&e, FormatError::WrongKeyType { key, .. } if key == "llama.block_count"),
        "{e:?}"
    );
    assert_mentions(&e.to_string(), &["`llama.block_count`"]);
}

#[test]
fn model_config_unsupported_architecture() {
    for arch in ["gpt2", "bert", "mamba", ""] {
        let e = err_of(ModelConfig::from_gguf(&header_of(&llama_meta(arch))));
        assert!(
            matches!(&e, FormatError::UnsupportedArchitecture(a) if a == arch),
            "{arch}: {e:?}"
        );
        assert_mentions(&e.to_string(), &[&format!("`{arch}`"), "llama, qwen2"]);
    }
    let mut meta = llama_meta("llama");
    meta[0].1 = MetaValue::U32(1);
    let e = err_of(ModelConfig::from_gguf(&header_of(&meta)));
    assert!(
        matches!(&e, FormatError::WrongKeyType { key, .. } if key == "general.architecture"),
        "{e:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Fuzzing seeds.

fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    // A complete tiny llama: config keys, tokens, and one tensor of each common weight type.
    let mut llama = GgufWriter::new();
    for (k, v) in llama_meta("llama") {
        llama.set(&k, v);
    }
    let q = |ty, n| quantize(ty, &ramp(n)).unwrap();
    llama
        .add_tensor(
            "token_embd.weight",
            &[4, 16],
            GgmlType::F16,
            q(GgmlType::F16, 64),
        )
        .unwrap()
        .add_tensor(
            "blk.0.attn_q.weight",
            &[1, 32],
            GgmlType::Q8_0,
            q(GgmlType::Q8_0, 32),
        )
        .unwrap()
        .add_tensor(
            "blk.0.ffn_up.weight",
            &[1, 256],
            GgmlType::Q4K,
            q(GgmlType::Q4K, 256),
        )
        .unwrap()
        .add_tensor(
            "output_norm.weight",
            &[16],
            GgmlType::F32,
            q(GgmlType::F32, 16),
        )
        .unwrap();

    // Every metadata value type, alignment 64, and small tensors of the other quant types.
    let mut meta = vec![("general.alignment", MetaValue::U32(64))];
    meta.extend(all_value_types());
    let mut all = writer_with(&meta, &[]);
    for (i, ty) in [
        GgmlType::BF16,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
        GgmlType::Q8_1,
    ]
    .into_iter()
    .enumerate()
    {
        all.add_tensor(&format!("t{i}"), &[1, 32], ty, q(ty, 32))
            .unwrap();
    }

    // A qwen2 header as GGUF v2 (no tensors).
    let qwen = with_version(
        {
            let mut w = GgufWriter::new();
            for (k, v) in llama_meta("qwen2") {
                w.set(&k, v);
            }
            w.to_bytes()
        },
        2,
    );

    vec![
        ("tiny_llama.bin", llama.to_bytes()),
        ("all_value_types.bin", all.to_bytes()),
        ("qwen2_v2_header.bin", qwen),
        ("empty.bin", GgufWriter::new().to_bytes()),
    ]
}

/// The seeds under `fuzz/seeds/` are written by this test: run it with `XLINGO_BLESS=1` to
/// (re)write them after a format change. Otherwise it checks that they are current and parse.
#[test]
fn fuzz_seeds_are_current() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds");
    let bless = std::env::var_os("XLINGO_BLESS").is_some();
    let mut total = 0;
    for (name, bytes) in seeds() {
        let g = Gguf::from_bytes(bytes.clone()).unwrap();
        for info in &g.header.tensors {
            g.tensor_f32(&info.name).unwrap();
        }
        let path = dir.join(name);
        if bless {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        } else {
            let on_disk = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("{}: {e} (run with XLINGO_BLESS=1)", path.display()));
            assert!(on_disk == bytes, "{name} is stale: run with XLINGO_BLESS=1");
        }
        total += bytes.len();
    }
    assert!(total < 10_000, "seeds total {total} bytes");
}
