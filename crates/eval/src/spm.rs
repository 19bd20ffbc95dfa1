//! SentencePiece, as far as spBLEU needs it: load a `.model` file (the ModelProto protobuf) and
//! split text into pieces exactly as `SentencePieceProcessor.encode(text, out_type=str)` does,
//! for BPE models (FLORES-101's and FLORES-200's) and unigram models.
//!
//! What it reproduces, from SentencePiece's normalizer, bpe_model, unigram_model and processor:
//! - normalisation by the model's precompiled character map (a darts-clone double-array trie
//!   of byte strings; the longest match at each position is replaced, otherwise one character
//!   is copied), user-defined symbols kept as they are, extra whitespace removed, a dummy `▁`
//!   prefix, and spaces written as `▁`;
//! - BPE: start from characters and repeatedly merge the adjacent pair whose joined piece is in
//!   the vocabulary with the highest score (the leftmost on a tie);
//! - unigram: the Viterbi path over the vocabulary's pieces, unknown characters scored as the
//!   lowest piece score minus 10;
//! - unknown pieces: spelled as UTF-8 byte pieces (`<0xE4>`) with byte fallback, else a run of
//!   them is one piece with the original text.

use std::collections::{BinaryHeap, HashMap};

use thiserror::Error;

/// A `.model` file that cannot be used, with the field at fault.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("SentencePiece model {file}: {message}")]
pub struct SpmError {
    pub file: String,
    pub message: String,
}

/// What a piece is (SentencePiece's `ModelProto.SentencePiece.Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PieceType {
    Normal,
    Unknown,
    Control,
    UserDefined,
    Unused,
    Byte,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ModelType {
    Unigram,
    Bpe,
}

/// A loaded SentencePiece model.
#[derive(Debug, Clone)]
pub struct SentencePiece {
    pieces: Vec<(String, f32, PieceType)>,
    /// Normal, user-defined and unused pieces: what segmentation may produce.
    vocab: HashMap<String, usize>,
    /// Control and byte pieces (looked up first, as SentencePiece does).
    reserved: HashMap<String, usize>,
    user_defined: Vec<String>,
    model: ModelType,
    byte_fallback: bool,
    normalizer: Normalizer,
    /// Unigram's extreme normal-piece scores.
    min_score: f32,
    max_score: f32,
}

impl SentencePiece {
    /// Parses a `.model` file's bytes; `file` names it in errors.
    pub fn from_bytes(file: &str, bytes: &[u8]) -> Result<Self, SpmError> {
        let err = |message: String| SpmError {
            file: file.to_owned(),
            message,
        };
        let proto = parse_model_proto(bytes).map_err(err)?;
        let mut spm = SentencePiece {
            pieces: Vec::new(),
            vocab: HashMap::new(),
            reserved: HashMap::new(),
            user_defined: Vec::new(),
            model: match proto.model_type {
                1 => ModelType::Unigram,
                2 => ModelType::Bpe,
                3 => return Err(err("trainer_spec.model_type is WORD, not supported".into())),
                4 => return Err(err("trainer_spec.model_type is CHAR, not supported".into())),
                t => return Err(err(format!("trainer_spec.model_type {t} is unknown"))),
            },
            byte_fallback: proto.byte_fallback,
            normalizer: Normalizer::new(&proto).map_err(err)?,
            min_score: f32::INFINITY,
            max_score: f32::NEG_INFINITY,
        };
        if proto.pieces.is_empty() {
            return Err(err("no pieces".into()));
        }
        for (id, (piece, score, kind)) in proto.pieces.into_iter().enumerate() {
            let kind = match kind {
                1 => PieceType::Normal,
                2 => PieceType::Unknown,
                3 => PieceType::Control,
                4 => PieceType::UserDefined,
                5 => PieceType::Unused,
                6 => PieceType::Byte,
                t => {
                    return Err(err(format!(
                        "pieces[{id}] ({piece:?}) has unknown type {t}"
                    )));
                }
            };
            match kind {
                PieceType::Normal | PieceType::UserDefined | PieceType::Unused => {
                    spm.vocab.insert(piece.clone(), id);
                }
                _ => {
                    spm.reserved.insert(piece.clone(), id);
                }
            }
            if kind == PieceType::UserDefined {
                spm.user_defined.push(piece.clone());
            }
            if kind == PieceType::Normal {
                spm.min_score = spm.min_score.min(score);
                spm.max_score = spm.max_score.max(score);
            }
            spm.pieces.push((piece, score, kind));
        }
        if !spm.pieces.iter().any(|p| p.2 == PieceType::Unknown) {
            return Err(err("no piece of type UNKNOWN".into()));
        }
        spm.normalizer.user_defined = spm.user_defined.clone();
        Ok(spm)
    }

    /// `sp.encode(text, out_type=str)`.
    pub fn encode(&self, text: &str) -> Vec<String> {
        let normalized = self.normalizer.normalize(text);
        let segments = match self.model {
            ModelType::Bpe => self.bpe(&normalized),
            ModelType::Unigram => self.unigram(&normalized),
        };
        self.spell(segments)
    }

    fn id_of(&self, piece: &str) -> Option<usize> {
        self.reserved
            .get(piece)
            .or_else(|| self.vocab.get(piece))
            .copied()
    }

    fn is_unknown(&self, id: Option<usize>) -> bool {
        id.is_none_or(|i| self.pieces[i].2 == PieceType::Unknown)
    }

    /// The processor's output: pieces as they are, unknown ones as bytes or merged runs.
    fn spell(&self, segments: Vec<(String, Option<usize>)>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut prev_unknown = false;
        for (piece, id) in segments {
            let unknown = self.is_unknown(id);
            if unknown && self.byte_fallback {
                out.extend(piece.bytes().map(|b| format!("<0x{b:02X}>")));
            } else if unknown && prev_unknown {
                out.last_mut().expect("a previous piece").push_str(&piece);
            } else {
                out.push(piece);
            }
            prev_unknown = unknown;
        }
        out
    }

    /// User-defined symbol at the start of `s` (the longest), in bytes.
    fn user_defined_prefix(&self, s: &str) -> Option<usize> {
        self.user_defined
            .iter()
            .filter(|u| s.starts_with(u.as_str()))
            .map(|u| u.len())
            .max()
    }

    /// The length in bytes of the first symbol of `s`: a user-defined piece or one character.
    fn symbol_len(&self, s: &str) -> usize {
        self.user_defined_prefix(s)
            .unwrap_or_else(|| s.chars().next().map_or(0, char::len_utf8))
    }

    fn bpe(&self, text: &str) -> Vec<(String, Option<usize>)> {
        // Symbols as a linked list over `text`'s byte ranges; merged ones grow, the right one empties.
        let mut spans = Vec::new();
        let mut at = 0;
        while at < text.len() {
            let len = self.symbol_len(&text[at..]);
            spans.push(at..at + len);
            at += len;
        }
        let n = spans.len();
        let mut prev: Vec<Option<usize>> = (0..n).map(|i| i.checked_sub(1)).collect();
        let mut next: Vec<Option<usize>> = (0..n).map(|i| (i + 1 < n).then_some(i + 1)).collect();
        let mut merged_from: HashMap<String, (String, String)> = HashMap::new();
        let mut agenda = BinaryHeap::new();
        let pair = |agenda: &mut BinaryHeap<Candidate>,
                    spans: &[std::ops::Range<usize>],
                    l: usize,
                    r: usize| {
            let joined = &text[spans[l].start..spans[r].end];
            if let Some(&id) = self.vocab.get(joined) {
                agenda.push(Candidate {
                    score: self.pieces[id].1,
                    left: l,
                    right: r,
                    len: joined.len(),
                });
            }
        };
        for i in 1..n {
            pair(&mut agenda, &spans, i - 1, i);
        }
        while let Some(c) = agenda.pop() {
            let (l, r) = (c.left, c.right);
            // Stale: one side was merged into something else since.
            if spans[l].is_empty()
                || spans[r].is_empty()
                || spans[l].len() + spans[r].len() != c.len
            {
                continue;
            }
            let whole = spans[l].start..spans[r].end;
            merged_from.insert(
                text[whole.clone()].to_owned(),
                (
                    text[spans[l].clone()].to_owned(),
                    text[spans[r].clone()].to_owned(),
                ),
            );
            spans[l] = whole;
            spans[r] = 0..0;
            next[l] = next[r];
            if let Some(nn) = next[r] {
                prev[nn] = Some(l);
            }
            if let Some(p) = prev[l] {
                pair(&mut agenda, &spans, p, l);
            }
            if let Some(nn) = next[l] {
                pair(&mut agenda, &spans, l, nn);
            }
        }
        let mut out = Vec::new();
        let mut i = (n > 0).then_some(0);
        while let Some(k) = i {
            self.resegment(&text[spans[k].clone()], &merged_from, &mut out);
            i = next[k];
        }
        out
    }

    /// An unused piece is not output: it is split back into the two it was merged from.
    fn resegment(
        &self,
        piece: &str,
        merged_from: &HashMap<String, (String, String)>,
        out: &mut Vec<(String, Option<usize>)>,
    ) {
        let id = self.id_of(piece);
        if let Some(i) = id
            && self.pieces[i].2 == PieceType::Unused
            && let Some((l, r)) = merged_from.get(piece)
        {
            self.resegment(l, merged_from, out);
            self.resegment(r, merged_from, out);
            return;
        }
        out.push((piece.to_owned(), id));
    }

    fn unigram(&self, text: &str) -> Vec<(String, Option<usize>)> {
        const UNKNOWN_PENALTY: f32 = 10.0;
        let unknown_score = self.min_score - UNKNOWN_PENALTY;
        // best[end] = (score, start, id) of the best path over text[..end].
        let mut best: Vec<Option<(f32, usize, Option<usize>)>> = vec![None; text.len() + 1];
        best[0] = Some((0.0, 0, None));
        let mut start = 0;
        while start < text.len() {
            let here = best[start].map_or(0.0, |b| b.0);
            let char_len = text[start..].chars().next().map_or(1, char::len_utf8);
            let mut has_single = false;
            for end in text[start..]
                .char_indices()
                .map(|(i, c)| start + i + c.len_utf8())
            {
                let Some(&id) = self.vocab.get(&text[start..end]) else {
                    continue;
                };
                let (_, score, kind) = &self.pieces[id];
                let score = match kind {
                    PieceType::Unused => continue,
                    PieceType::UserDefined => (end - start) as f32 * self.max_score - 0.1,
                    _ => *score,
                };
                let candidate = here + score;
                if best[end].is_none_or(|b| candidate > b.0) {
                    best[end] = Some((candidate, start, Some(id)));
                }
                has_single |= end - start == char_len;
            }
            if !has_single {
                let end = start + char_len;
                let candidate = here + unknown_score;
                if best[end].is_none_or(|b| candidate > b.0) {
                    best[end] = Some((candidate, start, None));
                }
            }
            start += char_len;
        }
        let mut out = Vec::new();
        let mut end = text.len();
        while end > 0 {
            // A step with no piece id is an unknown character.
            let (_, start, id) = best[end].expect("every character boundary is reached");
            out.push((text[start..end].to_owned(), id));
            end = start;
        }
        out.reverse();
        out
    }
}

/// A BPE merge candidate: higher score first, then the leftmost.
#[derive(Debug, PartialEq)]
struct Candidate {
    score: f32,
    left: usize,
    right: usize,
    len: usize,
}

impl Eq for Candidate {}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.left.cmp(&self.left))
    }
}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// SentencePiece's normaliser: the precompiled character map, whitespace handling and `▁`.
#[derive(Debug, Clone)]
struct Normalizer {
    trie: Vec<u32>,
    normalized: Vec<u8>,
    add_dummy_prefix: bool,
    remove_extra_whitespaces: bool,
    escape_whitespaces: bool,
    treat_whitespace_as_suffix: bool,
    user_defined: Vec<String>,
}

const SPACE_MARK: &str = "\u{2581}";

impl Normalizer {
    fn new(proto: &ModelProtoFields) -> Result<Self, String> {
        let (trie, normalized) = decode_charsmap(&proto.charsmap)?;
        Ok(Normalizer {
            trie,
            normalized,
            add_dummy_prefix: proto.add_dummy_prefix,
            remove_extra_whitespaces: proto.remove_extra_whitespaces,
            escape_whitespaces: proto.escape_whitespaces,
            treat_whitespace_as_suffix: proto.treat_whitespace_as_suffix,
            user_defined: Vec::new(),
        })
    }

    /// The normalised form of the prefix of `s` that is replaced at once, and its length.
    fn prefix<'a>(&'a self, s: &'a str) -> (&'a [u8], usize) {
        if let Some(len) = self
            .user_defined
            .iter()
            .filter(|u| s.starts_with(u.as_str()))
            .map(|u| u.len())
            .max()
        {
            return (&s.as_bytes()[..len], len);
        }
        match self.longest_match(s.as_bytes()) {
            Some((len, value)) => {
                let tail = &self.normalized[value..];
                let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
                (&tail[..end], len)
            }
            None => {
                let len = s.chars().next().map_or(0, char::len_utf8);
                (&s.as_bytes()[..len], len)
            }
        }
    }

    /// darts-clone's common-prefix search, keeping the longest key: (length, value).
    fn longest_match(&self, key: &[u8]) -> Option<(usize, usize)> {
        let units = &self.trie;
        let unit = |i: usize| units.get(i).copied();
        let offset = |u: u32| ((u >> 10) << ((u & (1 << 9)) >> 6)) as usize;
        let label = |u: u32| u & ((1 << 31) | 0xFF);
        let has_leaf = |u: u32| (u >> 8) & 1 == 1;
        let value = |u: u32| (u & ((1 << 31) - 1)) as usize;
        let mut node = offset(unit(0)?);
        let mut found = None;
        for (i, &byte) in key.iter().enumerate() {
            node ^= byte as usize;
            let u = unit(node)?;
            if label(u) != byte as u32 {
                return found;
            }
            node ^= offset(u);
            if has_leaf(u) {
                found = Some((i + 1, value(unit(node)?)));
            }
        }
        found
    }

    fn normalize(&self, text: &str) -> String {
        let mut input = text;
        if self.remove_extra_whitespaces {
            while !input.is_empty() {
                let (piece, len) = self.prefix(input);
                if piece != b" " {
                    break;
                }
                input = &input[len..];
            }
        }
        let mut out: Vec<u8> = Vec::with_capacity(text.len() * 3);
        if input.is_empty() {
            return String::new();
        }
        let space: &[u8] = if self.escape_whitespaces {
            SPACE_MARK.as_bytes()
        } else {
            b" "
        };
        if self.add_dummy_prefix && !self.treat_whitespace_as_suffix {
            out.extend_from_slice(space);
        }
        let mut prev_space = self.remove_extra_whitespaces;
        while !input.is_empty() {
            let (mut piece, len) = self.prefix(input);
            while prev_space && piece.first() == Some(&b' ') {
                piece = &piece[1..];
            }
            if !piece.is_empty() {
                for &b in piece {
                    if b == b' ' {
                        out.extend_from_slice(space);
                    } else {
                        out.push(b);
                    }
                }
                prev_space = piece.last() == Some(&b' ');
            }
            input = &input[len..];
            if !self.remove_extra_whitespaces {
                prev_space = false;
            }
        }
        if self.remove_extra_whitespaces {
            while out.ends_with(space) {
                out.truncate(out.len() - space.len());
            }
        }
        if self.add_dummy_prefix && self.treat_whitespace_as_suffix {
            out.extend_from_slice(space);
        }
        // The map's replacements are UTF-8; a corrupt map must not make invalid text.
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// `<trie size: u32 LE><double-array units: u32 LE…><NUL-terminated replacements>`.
fn decode_charsmap(blob: &[u8]) -> Result<(Vec<u32>, Vec<u8>), String> {
    if blob.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let size = blob
        .get(..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or("normalizer_spec.precompiled_charsmap is shorter than its 4-byte header")?;
    let trie = blob
        .get(4..4 + size)
        .filter(|t| t.len() % 4 == 0)
        .ok_or_else(|| {
            format!(
                "normalizer_spec.precompiled_charsmap: a trie of {size} bytes does not fit in {} bytes",
                blob.len()
            )
        })?;
    let units = trie
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok((units, blob[4 + size..].to_vec()))
}

/// The fields of ModelProto that encoding uses.
struct ModelProtoFields {
    pieces: Vec<(String, f32, u64)>,
    model_type: u64,
    byte_fallback: bool,
    treat_whitespace_as_suffix: bool,
    charsmap: Vec<u8>,
    add_dummy_prefix: bool,
    remove_extra_whitespaces: bool,
    escape_whitespaces: bool,
}

fn parse_model_proto(bytes: &[u8]) -> Result<ModelProtoFields, String> {
    let mut m = ModelProtoFields {
        pieces: Vec::new(),
        model_type: 1,
        byte_fallback: false,
        treat_whitespace_as_suffix: false,
        charsmap: Vec::new(),
        add_dummy_prefix: true,
        remove_extra_whitespaces: true,
        escape_whitespaces: true,
    };
    for field in Fields::new(bytes, "ModelProto") {
        match field? {
            (1, Value::Bytes(b)) => m.pieces.push(parse_piece(b, m.pieces.len())?),
            (2, Value::Bytes(b)) => {
                for f in Fields::new(b, "trainer_spec") {
                    match f? {
                        (3, Value::Varint(v)) => m.model_type = v,
                        (24, Value::Varint(v)) => m.treat_whitespace_as_suffix = v != 0,
                        (35, Value::Varint(v)) => m.byte_fallback = v != 0,
                        _ => {}
                    }
                }
            }
            (3, Value::Bytes(b)) => {
                for f in Fields::new(b, "normalizer_spec") {
                    match f? {
                        (2, Value::Bytes(c)) => m.charsmap = c.to_vec(),
                        (3, Value::Varint(v)) => m.add_dummy_prefix = v != 0,
                        (4, Value::Varint(v)) => m.remove_extra_whitespaces = v != 0,
                        (5, Value::Varint(v)) => m.escape_whitespaces = v != 0,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(m)
}

fn parse_piece(bytes: &[u8], index: usize) -> Result<(String, f32, u64), String> {
    let (mut piece, mut score, mut kind) = (None, 0.0, 1);
    for f in Fields::new(bytes, "pieces") {
        match f.map_err(|e| format!("{e} (piece {index})"))? {
            (1, Value::Bytes(b)) => {
                piece = Some(
                    String::from_utf8(b.to_vec())
                        .map_err(|_| format!("pieces[{index}].piece is not UTF-8"))?,
                )
            }
            (2, Value::Fixed32(v)) => score = f32::from_bits(v),
            (3, Value::Varint(v)) => kind = v,
            _ => {}
        }
    }
    let piece = piece.ok_or_else(|| format!("pieces[{index}] has no piece string"))?;
    Ok((piece, score, kind))
}

enum Value<'a> {
    Varint(u64),
    Fixed64,
    Bytes(&'a [u8]),
    Fixed32(u32),
}

/// The (field number, value) pairs of one protobuf message; `name` is used in errors.
struct Fields<'a> {
    bytes: &'a [u8],
    at: usize,
    name: &'static str,
    failed: bool,
}

impl<'a> Fields<'a> {
    fn new(bytes: &'a [u8], name: &'static str) -> Self {
        Fields {
            bytes,
            at: 0,
            name,
            failed: false,
        }
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self
                .bytes
                .get(self.at)
                .ok_or_else(|| format!("{}: truncated at byte {}", self.name, self.at))?;
            self.at += 1;
            v |= ((b & 0x7F) as u64) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(format!(
            "{}: a varint longer than 10 bytes at byte {}",
            self.name, self.at
        ))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| {
            format!(
                "{}: a field of {n} bytes at byte {} runs past the end ({} bytes)",
                self.name,
                self.at,
                self.bytes.len()
            )
        })?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn field(&mut self) -> Result<(u64, Value<'a>), String> {
        let key = self.varint()?;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Value::Fixed64
            }
            2 => {
                let len = self.varint()?;
                let len =
                    usize::try_from(len).map_err(|_| format!("{}: length {len}", self.name))?;
                Value::Bytes(self.take(len)?)
            }
            5 => {
                let b = self.take(4)?;
                Value::Fixed32(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            }
            w => {
                return Err(format!(
                    "{}: wire type {w} at byte {} (not a SentencePiece model?)",
                    self.name, self.at
                ));
            }
        };
        Ok((key >> 3, value))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Value<'a>), String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.at >= self.bytes.len() {
            return None;
        }
        let f = self.field();
        self.failed = f.is_err();
        Some(f)
    }
}
