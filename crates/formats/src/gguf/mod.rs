//! GGUF v2/v3: header, metadata, tensor infos and tensor data.
//!
//! Layout (little-endian): magic "GGUF", version u32, tensor count u64, metadata count u64,
//! then `metadata count` key/value pairs, then `tensor count` tensor infos
//! (name, n_dims u32, dims u64 × n_dims, type u32, offset u64), then padding up to
//! `general.alignment` (default 32), then the tensor data. Tensor offsets are relative to the
//! start of the data section. Every count and offset read from the file is checked against the
//! bytes that are actually there, so a corrupt or hostile file gives an error, never a panic or
//! a huge allocation.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::{FormatError, Result};
use crate::quant::{self, GgmlType};

pub const MAGIC: [u8; 4] = *b"GGUF";
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// A metadata value. Arrays may nest (an array of arrays of strings is legal GGUF).
#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    Array(MetaArray),
    U64(u64),
    I64(i64),
    F64(f64),
}

/// A typed array. `item_type` is kept so that empty arrays round-trip exactly.
#[derive(Debug, Clone, PartialEq)]
pub struct MetaArray {
    pub item_type: u32,
    pub items: Vec<MetaValue>,
}

impl MetaValue {
    /// GGUF's numeric id of this value's type.
    pub fn type_id(&self) -> u32 {
        match self {
            MetaValue::U8(_) => 0,
            MetaValue::I8(_) => 1,
            MetaValue::U16(_) => 2,
            MetaValue::I16(_) => 3,
            MetaValue::U32(_) => 4,
            MetaValue::I32(_) => 5,
            MetaValue::F32(_) => 6,
            MetaValue::Bool(_) => 7,
            MetaValue::String(_) => 8,
            MetaValue::Array(_) => 9,
            MetaValue::U64(_) => 10,
            MetaValue::I64(_) => 11,
            MetaValue::F64(_) => 12,
        }
    }

    /// Any integer type as u64 (negative values give `None`).
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            MetaValue::U8(v) => Some(v as u64),
            MetaValue::U16(v) => Some(v as u64),
            MetaValue::U32(v) => Some(v as u64),
            MetaValue::U64(v) => Some(v),
            MetaValue::I8(v) => u64::try_from(v).ok(),
            MetaValue::I16(v) => u64::try_from(v).ok(),
            MetaValue::I32(v) => u64::try_from(v).ok(),
            MetaValue::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// Any integer type as i64.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            MetaValue::I8(v) => Some(v as i64),
            MetaValue::I16(v) => Some(v as i64),
            MetaValue::I32(v) => Some(v as i64),
            MetaValue::I64(v) => Some(v),
            _ => self.as_u64().and_then(|v| i64::try_from(v).ok()),
        }
    }

    /// Any numeric type as f64.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            // The shortest decimal that round-trips the f32 (1e-5, not 9.99999974e-6): what
            // the file's writer meant.
            MetaValue::F32(v) => Some(v.to_string().parse().unwrap_or(v as f64)),
            MetaValue::F64(v) => Some(v),
            _ => self.as_i64().map(|v| v as f64),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            MetaValue::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            MetaValue::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[MetaValue]> {
        match self {
            MetaValue::Array(a) => Some(&a.items),
            _ => None,
        }
    }
}

impl fmt::Display for MetaValue {
    /// Short human form; long arrays are summarised.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetaValue::U8(v) => write!(f, "{v}"),
            MetaValue::I8(v) => write!(f, "{v}"),
            MetaValue::U16(v) => write!(f, "{v}"),
            MetaValue::I16(v) => write!(f, "{v}"),
            MetaValue::U32(v) => write!(f, "{v}"),
            MetaValue::I32(v) => write!(f, "{v}"),
            MetaValue::F32(v) => write!(f, "{v}"),
            MetaValue::Bool(v) => write!(f, "{v}"),
            MetaValue::String(s) if s.len() > 80 => {
                let cut: String = s.chars().take(77).collect();
                write!(f, "{cut:?}… ({} bytes)", s.len())
            }
            MetaValue::String(s) => write!(f, "{s:?}"),
            MetaValue::U64(v) => write!(f, "{v}"),
            MetaValue::I64(v) => write!(f, "{v}"),
            MetaValue::F64(v) => write!(f, "{v}"),
            MetaValue::Array(a) if a.items.len() > 8 => {
                write!(f, "[")?;
                for v in &a.items[..3] {
                    write!(f, "{v}, ")?;
                }
                write!(f, "… {} items]", a.items.len())
            }
            MetaValue::Array(a) => {
                write!(f, "[")?;
                for (i, v) in a.items.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{v}")?;
                }
                write!(f, "]")
            }
        }
    }
}

/// Where one tensor lives and what it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// ggml order: `dims[0]` is the fastest-varying (contiguous) dimension.
    pub dims: Vec<u64>,
    pub ty: GgmlType,
    /// Offset from the start of the data section.
    pub offset: u64,
}

impl TensorInfo {
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }

    /// Row-major shape as PyTorch/burn see it: ggml dims reversed. A weight matrix with
    /// ggml dims [in, out] has shape [out, in].
    pub fn shape(&self) -> Vec<usize> {
        self.dims.iter().rev().map(|&d| d as usize).collect()
    }

    /// Size of the tensor's data in bytes.
    pub fn byte_len(&self) -> u64 {
        // Checked at parse time, so this cannot overflow for parsed tensors.
        self.ty.bytes_for(self.n_elements()).unwrap_or(u64::MAX)
    }
}

/// Everything before the tensor data: version, metadata, tensor infos.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufHeader {
    pub version: u32,
    pub metadata: BTreeMap<String, MetaValue>,
    /// Insertion order of metadata keys as in the file (the map itself is sorted).
    pub metadata_order: Vec<String>,
    pub tensors: Vec<TensorInfo>,
    pub alignment: u64,
    /// Absolute file offset of the data section.
    pub data_offset: u64,
}

impl GgufHeader {
    /// Parse a header from the start of a GGUF file. `bytes` may be a prefix of the file:
    /// a prefix too short to hold the whole header gives [`FormatError::Truncated`].
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader { bytes, pos: 0 };
        let magic: [u8; 4] = r.take(4, "magic")?.try_into().expect("4 bytes");
        if magic != MAGIC {
            return Err(FormatError::BadMagic { found: magic });
        }
        let version = r.u32("version")?;
        if !(2..=3).contains(&version) {
            return Err(FormatError::UnsupportedVersion(version));
        }
        let n_tensors = r.u64("tensor count")?;
        let n_kv = r.u64("metadata count")?;

        let mut metadata = BTreeMap::new();
        let mut metadata_order = Vec::new();
        for i in 0..n_kv {
            let key = r.string(&format!("metadata key #{i}"))?;
            let type_id = r.u32(&format!("type of `{key}`"))?;
            let value = r.value(&key, type_id, 0)?;
            if metadata.insert(key.clone(), value).is_some() {
                return Err(FormatError::Invalid(format!(
                    "metadata key `{key}` appears twice"
                )));
            }
            metadata_order.push(key);
        }

        let mut tensors = Vec::new();
        let mut names = std::collections::HashSet::new();
        for i in 0..n_tensors {
            let info = r.tensor_info(i)?;
            // Names must be unique (llama.cpp refuses duplicates too): `tensor(name)` could
            // only ever find the first.
            if !names.insert(info.name.clone()) {
                return Err(FormatError::Invalid(format!(
                    "tensor `{}` appears twice",
                    info.name
                )));
            }
            tensors.push(info);
        }

        let alignment = match metadata.get("general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some(v) => match v.as_u64() {
                Some(a) if a > 0 && a.is_power_of_two() => a,
                _ => {
                    return Err(FormatError::WrongKeyType {
                        key: "general.alignment".into(),
                        expected: "a power of two".into(),
                    });
                }
            },
        };
        let data_offset = (r.pos as u64).div_ceil(alignment) * alignment;
        for t in &tensors {
            if t.offset % alignment != 0 {
                return Err(FormatError::Invalid(format!(
                    "tensor `{}`: offset {} is not a multiple of the alignment {alignment}",
                    t.name, t.offset
                )));
            }
        }
        Ok(GgufHeader {
            version,
            metadata,
            metadata_order,
            tensors,
            alignment,
            data_offset,
        })
    }

    pub fn get(&self, key: &str) -> Option<&MetaValue> {
        self.metadata.get(key)
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// `general.architecture`, required by every GGUF model.
    pub fn architecture(&self) -> Result<&str> {
        self.get_str("general.architecture")
    }

    pub fn get_str(&self, key: &str) -> Result<&str> {
        let v = self.get(key).ok_or_else(|| missing(key))?;
        v.as_str().ok_or_else(|| wrong_type(key, "a string"))
    }

    pub fn get_u64(&self, key: &str) -> Result<u64> {
        let v = self.get(key).ok_or_else(|| missing(key))?;
        v.as_u64()
            .ok_or_else(|| wrong_type(key, "an unsigned integer"))
    }

    pub fn get_f64(&self, key: &str) -> Result<f64> {
        let v = self.get(key).ok_or_else(|| missing(key))?;
        v.as_f64().ok_or_else(|| wrong_type(key, "a number"))
    }

    pub fn get_array(&self, key: &str) -> Result<&[MetaValue]> {
        let v = self.get(key).ok_or_else(|| missing(key))?;
        v.as_array().ok_or_else(|| wrong_type(key, "an array"))
    }

    /// An array of strings, e.g. `tokenizer.ggml.tokens`.
    pub fn get_str_array(&self, key: &str) -> Result<Vec<&str>> {
        self.get_array(key)?
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| wrong_type(key, "an array of strings"))
            })
            .collect()
    }

    /// Byte range of a tensor's data inside a file of `file_len` bytes, checked.
    pub fn tensor_range(&self, info: &TensorInfo, file_len: u64) -> Result<std::ops::Range<usize>> {
        let start = self.data_offset.checked_add(info.offset);
        let end = start.and_then(|s| s.checked_add(info.byte_len()));
        match (start, end) {
            (Some(s), Some(e)) if e <= file_len => Ok(s as usize..e as usize),
            _ => Err(FormatError::TensorOutOfRange {
                tensor: info.name.clone(),
                offset: self.data_offset.saturating_add(info.offset),
                end: end.unwrap_or(u64::MAX),
                file_len,
            }),
        }
    }
}

fn missing(key: &str) -> FormatError {
    FormatError::MissingKey { key: key.into() }
}

fn wrong_type(key: &str, expected: &str) -> FormatError {
    FormatError::WrongKeyType {
        key: key.into(),
        expected: expected.into(),
    }
}

/// The file's bytes: a memory map natively, an owned buffer in the browser or in tests.
pub enum GgufBytes {
    Owned(Vec<u8>),
    #[cfg(not(target_family = "wasm"))]
    Mapped(memmap2::Mmap),
}

impl std::ops::Deref for GgufBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            GgufBytes::Owned(v) => v,
            #[cfg(not(target_family = "wasm"))]
            GgufBytes::Mapped(m) => m,
        }
    }
}

/// A whole GGUF file: header plus access to every tensor's bytes.
pub struct Gguf {
    pub header: GgufHeader,
    bytes: GgufBytes,
}

impl Gguf {
    /// Parse a file held in memory (the browser path).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        Self::from_gguf_bytes(GgufBytes::Owned(bytes))
    }

    /// Memory-map and parse a file; tensor data is only paged in when read.
    #[cfg(not(target_family = "wasm"))]
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<Self> {
        let path = path.as_ref();
        let io = |source| FormatError::Io {
            path: path.display().to_string(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        // SAFETY: the map is read-only; a file truncated underneath us by another process is
        // the usual caveat of every mmap-based model loader (llama.cpp, candle, safetensors).
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        Self::from_gguf_bytes(GgufBytes::Mapped(map))
    }

    fn from_gguf_bytes(bytes: GgufBytes) -> Result<Self> {
        let header = GgufHeader::parse(&bytes)?;
        let file_len = bytes.len() as u64;
        for t in &header.tensors {
            header.tensor_range(t, file_len)?;
        }
        Ok(Gguf { header, bytes })
    }

    pub fn file_len(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// Raw (possibly quantised) bytes of a tensor.
    pub fn tensor_bytes(&self, info: &TensorInfo) -> Result<&[u8]> {
        let range = self.header.tensor_range(info, self.file_len())?;
        Ok(&self.bytes[range])
    }

    pub fn tensor_info(&self, name: &str) -> Result<&TensorInfo> {
        self.header
            .tensor(name)
            .ok_or_else(|| FormatError::MissingTensor {
                tensor: name.into(),
            })
    }

    /// A tensor dequantised to f32, with its row-major shape.
    pub fn tensor_f32(&self, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
        let info = self.tensor_info(name)?;
        let data = quant::dequantize(
            info.ty,
            self.tensor_bytes(info)?,
            info.n_elements() as usize,
        )
        .map_err(|e| FormatError::Invalid(format!("tensor `{name}`: {e}")))?;
        Ok((info.shape(), data))
    }
}

/// Bounds-checked little-endian cursor.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

/// Arrays nest at most this deep; deeper is surely corrupt and would risk the stack.
const MAX_NESTING: usize = 8;

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end {
            Some(end) => {
                let s = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(FormatError::Truncated {
                what: what.into(),
                offset: self.pos as u64,
            }),
        }
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        Ok(self.take(N, what)?.try_into().expect("length checked"))
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn string(&mut self, what: &str) -> Result<String> {
        let len = self.u64(what)?;
        if len > self.remaining() as u64 {
            return Err(FormatError::Truncated {
                what: what.into(),
                offset: self.pos as u64,
            });
        }
        let raw = self.take(len as usize, what)?;
        String::from_utf8(raw.to_vec()).map_err(|_| FormatError::InvalidUtf8 { what: what.into() })
    }

    fn value(&mut self, key: &str, type_id: u32, depth: usize) -> Result<MetaValue> {
        Ok(match type_id {
            0 => MetaValue::U8(self.array::<1>(key)?[0]),
            1 => MetaValue::I8(self.array::<1>(key)?[0] as i8),
            2 => MetaValue::U16(u16::from_le_bytes(self.array(key)?)),
            3 => MetaValue::I16(i16::from_le_bytes(self.array(key)?)),
            4 => MetaValue::U32(u32::from_le_bytes(self.array(key)?)),
            5 => MetaValue::I32(i32::from_le_bytes(self.array(key)?)),
            6 => MetaValue::F32(f32::from_le_bytes(self.array(key)?)),
            7 => match self.array::<1>(key)?[0] {
                0 => MetaValue::Bool(false),
                1 => MetaValue::Bool(true),
                b => {
                    return Err(FormatError::Invalid(format!(
                        "metadata key `{key}`: bool byte {b} is neither 0 nor 1"
                    )));
                }
            },
            8 => MetaValue::String(self.string(key)?),
            9 => {
                if depth >= MAX_NESTING {
                    return Err(FormatError::Invalid(format!(
                        "metadata key `{key}`: arrays nested deeper than {MAX_NESTING}"
                    )));
                }
                let item_type = self.u32(key)?;
                let count = self.u64(key)?;
                // Every item takes at least one byte: a count beyond the remaining bytes is
                // corrupt, and checking it first avoids a huge allocation.
                if count > self.remaining() as u64 {
                    return Err(FormatError::Truncated {
                        what: format!("array `{key}` ({count} items)"),
                        offset: self.pos as u64,
                    });
                }
                let mut items = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    items.push(self.value(key, item_type, depth + 1)?);
                }
                MetaValue::Array(MetaArray { item_type, items })
            }
            10 => MetaValue::U64(u64::from_le_bytes(self.array(key)?)),
            11 => MetaValue::I64(i64::from_le_bytes(self.array(key)?)),
            12 => MetaValue::F64(f64::from_le_bytes(self.array(key)?)),
            _ => {
                return Err(FormatError::UnknownMetadataType {
                    key: key.into(),
                    type_id,
                });
            }
        })
    }

    fn tensor_info(&mut self, index: u64) -> Result<TensorInfo> {
        let name = self.string(&format!("name of tensor #{index}"))?;
        let n_dims = self.u32(&format!("tensor `{name}` dimension count"))?;
        if n_dims == 0 || n_dims > 4 {
            return Err(FormatError::Invalid(format!(
                "tensor `{name}`: {n_dims} dimensions (GGUF allows 1 to 4)"
            )));
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            dims.push(self.u64(&format!("tensor `{name}` dimensions"))?);
        }
        let type_id = self.u32(&format!("tensor `{name}` type"))?;
        let ty = GgmlType::from_id(type_id).ok_or_else(|| FormatError::UnknownTensorType {
            tensor: name.clone(),
            type_id,
        })?;
        let offset = self.u64(&format!("tensor `{name}` offset"))?;
        if dims[0] % ty.block_len() as u64 != 0 {
            return Err(FormatError::Invalid(format!(
                "tensor `{name}`: row length {} is not a multiple of the {} block size {}",
                dims[0],
                ty.name(),
                ty.block_len()
            )));
        }
        let n = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
        match n.map(|n| ty.bytes_for(n)) {
            Some(Some(_)) => {}
            // The row length is a whole number of blocks (checked above), so so is the element
            // count: `bytes_for` can only fail here because the byte size overflows u64.
            Some(None) => {
                return Err(FormatError::Invalid(format!(
                    "tensor `{name}`: size of {} {} elements overflows",
                    n.unwrap_or(0),
                    ty.name()
                )));
            }
            None => {
                return Err(FormatError::Invalid(format!(
                    "tensor `{name}`: dimensions {dims:?} overflow"
                )));
            }
        }
        Ok(TensorInfo {
            name,
            dims,
            ty,
            offset,
        })
    }
}

mod writer;
pub use writer::GgufWriter;
