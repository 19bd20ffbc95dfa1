//! Bible versifications: which books, chapters and verses a SWORD module has slots for.
//!
//! A SWORD module does not store references: its verse index is a flat list of slots in
//! versification order, so the reader needs the versification's verse counts per chapter to
//! know which slot is which verse. Both Debian modules used here declare theirs in the module's
//! `.conf`: `spaRV1909eb` uses KJV, `engWEB2015eb` (with the deuterocanon) uses NRSVA.
//!
//! Slot layout per testament, as SWORD writes it: slot 0 is the module heading, slot 1 the
//! testament heading, then for each book one book-heading slot followed, for each chapter, by
//! one chapter-heading slot and one slot per verse.

use std::fmt;

use serde::Serialize;

/// A book: OSIS id, English name, verses in each chapter.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BookDef {
    osis: &'static str,
    name: &'static str,
    verses: &'static [u16],
}

/// A book in a versification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Book {
    pub osis: &'static str,
    pub name: &'static str,
    /// Number of verses in chapter `i + 1`.
    pub verses: Vec<u16>,
}

impl From<&BookDef> for Book {
    fn from(b: &BookDef) -> Self {
        Book {
            osis: b.osis,
            name: b.name,
            verses: b.verses.to_vec(),
        }
    }
}

/// Old or New Testament: SWORD keeps them in separate files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Testament {
    Old,
    New,
}

impl Testament {
    /// The file stem SWORD uses: `ot` or `nt`.
    pub fn stem(self) -> &'static str {
        match self {
            Testament::Old => "ot",
            Testament::New => "nt",
        }
    }
}

/// A verse reference, e.g. `Gen.1.1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct VerseRef {
    pub book: &'static str,
    pub chapter: u16,
    pub verse: u16,
}

impl fmt::Display for VerseRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.book, self.chapter, self.verse)
    }
}

/// A versification system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versification {
    pub name: &'static str,
    pub old: Vec<Book>,
    pub new: Vec<Book>,
}

impl Versification {
    /// The King James versification: 66 books, 1,189 chapters, 31,102 verses.
    pub fn kjv() -> Self {
        Versification {
            name: "KJV",
            old: KJV_OT.iter().map(Book::from).collect(),
            new: KJV_NT.iter().map(Book::from).collect(),
        }
    }

    /// SWORD's NRSVA (NRSV with Apocrypha): the KJV's books with the deuterocanon after
    /// Malachi, and two New Testament chapters one verse longer (3 John 1 has 15 verses and
    /// Revelation 12 has 18, where the KJV counts the same text in 1:14 and 13:1).
    pub fn nrsva() -> Self {
        let mut v = Self::kjv();
        v.name = "NRSVA";
        v.old.extend(NRSVA_DEUTEROCANON.iter().map(Book::from));
        for b in &mut v.new {
            match b.osis {
                "3John" => b.verses[0] = 15,
                "Rev" => b.verses[11] = 18,
                _ => {}
            }
        }
        v
    }

    /// A versification by the name a module's `.conf` gives (`Versification=`); SWORD's
    /// default, when the key is missing, is KJV.
    pub fn by_name(name: &str) -> Option<Self> {
        match name {
            "" | "KJV" => Some(Self::kjv()),
            "NRSVA" => Some(Self::nrsva()),
            _ => None,
        }
    }

    pub fn books(&self, t: Testament) -> &[Book] {
        match t {
            Testament::Old => &self.old,
            Testament::New => &self.new,
        }
    }

    /// Number of verses (not slots) in the whole versification.
    pub fn verse_count(&self) -> usize {
        self.old
            .iter()
            .chain(&self.new)
            .flat_map(|b| &b.verses)
            .map(|&v| v as usize)
            .sum()
    }

    /// For each slot of a testament's index, the verse it holds (`None` for heading slots).
    pub fn slots(&self, t: Testament) -> Vec<Option<VerseRef>> {
        let mut out = vec![None, None];
        for b in self.books(t) {
            out.push(None);
            for (c, &n) in b.verses.iter().enumerate() {
                out.push(None);
                out.extend((1..=n).map(|v| {
                    Some(VerseRef {
                        book: b.osis,
                        chapter: c as u16 + 1,
                        verse: v,
                    })
                }));
            }
        }
        out
    }
}

// Verses per chapter. KJV: the standard counts (checked by a test: 31,102 verses, 23,145 in
// the Old Testament and 7,957 in the New). The deuterocanonical books as in SWORD's NRSVA.
pub(crate) const KJV_OT: &[BookDef] = &[
    BookDef {
        osis: "Gen",
        name: "Genesis",
        verses: &[
            31, 25, 24, 26, 32, 22, 24, 22, 29, 32, 32, 20, 18, 24, 21, 16, 27, 33, 38, 18, 34, 24,
            20, 67, 34, 35, 46, 22, 35, 43, 55, 32, 20, 31, 29, 43, 36, 30, 23, 23, 57, 38, 34, 34,
            28, 34, 31, 22, 33, 26,
        ],
    },
    BookDef {
        osis: "Exod",
        name: "Exodus",
        verses: &[
            22, 25, 22, 31, 23, 30, 25, 32, 35, 29, 10, 51, 22, 31, 27, 36, 16, 27, 25, 26, 36, 31,
            33, 18, 40, 37, 21, 43, 46, 38, 18, 35, 23, 35, 35, 38, 29, 31, 43, 38,
        ],
    },
    BookDef {
        osis: "Lev",
        name: "Leviticus",
        verses: &[
            17, 16, 17, 35, 19, 30, 38, 36, 24, 20, 47, 8, 59, 57, 33, 34, 16, 30, 37, 27, 24, 33,
            44, 23, 55, 46, 34,
        ],
    },
    BookDef {
        osis: "Num",
        name: "Numbers",
        verses: &[
            54, 34, 51, 49, 31, 27, 89, 26, 23, 36, 35, 16, 33, 45, 41, 50, 13, 32, 22, 29, 35, 41,
            30, 25, 18, 65, 23, 31, 40, 16, 54, 42, 56, 29, 34, 13,
        ],
    },
    BookDef {
        osis: "Deut",
        name: "Deuteronomy",
        verses: &[
            46, 37, 29, 49, 33, 25, 26, 20, 29, 22, 32, 32, 18, 29, 23, 22, 20, 22, 21, 20, 23, 30,
            25, 22, 19, 19, 26, 68, 29, 20, 30, 52, 29, 12,
        ],
    },
    BookDef {
        osis: "Josh",
        name: "Joshua",
        verses: &[
            18, 24, 17, 24, 15, 27, 26, 35, 27, 43, 23, 24, 33, 15, 63, 10, 18, 28, 51, 9, 45, 34,
            16, 33,
        ],
    },
    BookDef {
        osis: "Judg",
        name: "Judges",
        verses: &[
            36, 23, 31, 24, 31, 40, 25, 35, 57, 18, 40, 15, 25, 20, 20, 31, 13, 31, 30, 48, 25,
        ],
    },
    BookDef {
        osis: "Ruth",
        name: "Ruth",
        verses: &[22, 23, 18, 22],
    },
    BookDef {
        osis: "1Sam",
        name: "1 Samuel",
        verses: &[
            28, 36, 21, 22, 12, 21, 17, 22, 27, 27, 15, 25, 23, 52, 35, 23, 58, 30, 24, 42, 15, 23,
            29, 22, 44, 25, 12, 25, 11, 31, 13,
        ],
    },
    BookDef {
        osis: "2Sam",
        name: "2 Samuel",
        verses: &[
            27, 32, 39, 12, 25, 23, 29, 18, 13, 19, 27, 31, 39, 33, 37, 23, 29, 33, 43, 26, 22, 51,
            39, 25,
        ],
    },
    BookDef {
        osis: "1Kgs",
        name: "1 Kings",
        verses: &[
            53, 46, 28, 34, 18, 38, 51, 66, 28, 29, 43, 33, 34, 31, 34, 34, 24, 46, 21, 43, 29, 53,
        ],
    },
    BookDef {
        osis: "2Kgs",
        name: "2 Kings",
        verses: &[
            18, 25, 27, 44, 27, 33, 20, 29, 37, 36, 21, 21, 25, 29, 38, 20, 41, 37, 37, 21, 26, 20,
            37, 20, 30,
        ],
    },
    BookDef {
        osis: "1Chr",
        name: "1 Chronicles",
        verses: &[
            54, 55, 24, 43, 26, 81, 40, 40, 44, 14, 47, 40, 14, 17, 29, 43, 27, 17, 19, 8, 30, 19,
            32, 31, 31, 32, 34, 21, 30,
        ],
    },
    BookDef {
        osis: "2Chr",
        name: "2 Chronicles",
        verses: &[
            17, 18, 17, 22, 14, 42, 22, 18, 31, 19, 23, 16, 22, 15, 19, 14, 19, 34, 11, 37, 20, 12,
            21, 27, 28, 23, 9, 27, 36, 27, 21, 33, 25, 33, 27, 23,
        ],
    },
    BookDef {
        osis: "Ezra",
        name: "Ezra",
        verses: &[11, 70, 13, 24, 17, 22, 28, 36, 15, 44],
    },
    BookDef {
        osis: "Neh",
        name: "Nehemiah",
        verses: &[11, 20, 32, 23, 19, 19, 73, 18, 38, 39, 36, 47, 31],
    },
    BookDef {
        osis: "Esth",
        name: "Esther",
        verses: &[22, 23, 15, 17, 14, 14, 10, 17, 32, 3],
    },
    BookDef {
        osis: "Job",
        name: "Job",
        verses: &[
            22, 13, 26, 21, 27, 30, 21, 22, 35, 22, 20, 25, 28, 22, 35, 22, 16, 21, 29, 29, 34, 30,
            17, 25, 6, 14, 23, 28, 25, 31, 40, 22, 33, 37, 16, 33, 24, 41, 30, 24, 34, 17,
        ],
    },
    BookDef {
        osis: "Ps",
        name: "Psalms",
        verses: &[
            6, 12, 8, 8, 12, 10, 17, 9, 20, 18, 7, 8, 6, 7, 5, 11, 15, 50, 14, 9, 13, 31, 6, 10,
            22, 12, 14, 9, 11, 12, 24, 11, 22, 22, 28, 12, 40, 22, 13, 17, 13, 11, 5, 26, 17, 11,
            9, 14, 20, 23, 19, 9, 6, 7, 23, 13, 11, 11, 17, 12, 8, 12, 11, 10, 13, 20, 7, 35, 36,
            5, 24, 20, 28, 23, 10, 12, 20, 72, 13, 19, 16, 8, 18, 12, 13, 17, 7, 18, 52, 17, 16,
            15, 5, 23, 11, 13, 12, 9, 9, 5, 8, 28, 22, 35, 45, 48, 43, 13, 31, 7, 10, 10, 9, 8, 18,
            19, 2, 29, 176, 7, 8, 9, 4, 8, 5, 6, 5, 6, 8, 8, 3, 18, 3, 3, 21, 26, 9, 8, 24, 13, 10,
            7, 12, 15, 21, 10, 20, 14, 9, 6,
        ],
    },
    BookDef {
        osis: "Prov",
        name: "Proverbs",
        verses: &[
            33, 22, 35, 27, 23, 35, 27, 36, 18, 32, 31, 28, 25, 35, 33, 33, 28, 24, 29, 30, 31, 29,
            35, 34, 28, 28, 27, 28, 27, 33, 31,
        ],
    },
    BookDef {
        osis: "Eccl",
        name: "Ecclesiastes",
        verses: &[18, 26, 22, 16, 20, 12, 29, 17, 18, 20, 10, 14],
    },
    BookDef {
        osis: "Song",
        name: "Song of Solomon",
        verses: &[17, 17, 11, 16, 16, 13, 13, 14],
    },
    BookDef {
        osis: "Isa",
        name: "Isaiah",
        verses: &[
            31, 22, 26, 6, 30, 13, 25, 22, 21, 34, 16, 6, 22, 32, 9, 14, 14, 7, 25, 6, 17, 25, 18,
            23, 12, 21, 13, 29, 24, 33, 9, 20, 24, 17, 10, 22, 38, 22, 8, 31, 29, 25, 28, 28, 25,
            13, 15, 22, 26, 11, 23, 15, 12, 17, 13, 12, 21, 14, 21, 22, 11, 12, 19, 12, 25, 24,
        ],
    },
    BookDef {
        osis: "Jer",
        name: "Jeremiah",
        verses: &[
            19, 37, 25, 31, 31, 30, 34, 22, 26, 25, 23, 17, 27, 22, 21, 21, 27, 23, 15, 18, 14, 30,
            40, 10, 38, 24, 22, 17, 32, 24, 40, 44, 26, 22, 19, 32, 21, 28, 18, 16, 18, 22, 13, 30,
            5, 28, 7, 47, 39, 46, 64, 34,
        ],
    },
    BookDef {
        osis: "Lam",
        name: "Lamentations",
        verses: &[22, 22, 66, 22, 22],
    },
    BookDef {
        osis: "Ezek",
        name: "Ezekiel",
        verses: &[
            28, 10, 27, 17, 17, 14, 27, 18, 11, 22, 25, 28, 23, 23, 8, 63, 24, 32, 14, 49, 32, 31,
            49, 27, 17, 21, 36, 26, 21, 26, 18, 32, 33, 31, 15, 38, 28, 23, 29, 49, 26, 20, 27, 31,
            25, 24, 23, 35,
        ],
    },
    BookDef {
        osis: "Dan",
        name: "Daniel",
        verses: &[21, 49, 30, 37, 31, 28, 28, 27, 27, 21, 45, 13],
    },
    BookDef {
        osis: "Hos",
        name: "Hosea",
        verses: &[11, 23, 5, 19, 15, 11, 16, 14, 17, 15, 12, 14, 16, 9],
    },
    BookDef {
        osis: "Joel",
        name: "Joel",
        verses: &[20, 32, 21],
    },
    BookDef {
        osis: "Amos",
        name: "Amos",
        verses: &[15, 16, 15, 13, 27, 14, 17, 14, 15],
    },
    BookDef {
        osis: "Obad",
        name: "Obadiah",
        verses: &[21],
    },
    BookDef {
        osis: "Jonah",
        name: "Jonah",
        verses: &[17, 10, 10, 11],
    },
    BookDef {
        osis: "Mic",
        name: "Micah",
        verses: &[16, 13, 12, 13, 15, 16, 20],
    },
    BookDef {
        osis: "Nah",
        name: "Nahum",
        verses: &[15, 13, 19],
    },
    BookDef {
        osis: "Hab",
        name: "Habakkuk",
        verses: &[17, 20, 19],
    },
    BookDef {
        osis: "Zeph",
        name: "Zephaniah",
        verses: &[18, 15, 20],
    },
    BookDef {
        osis: "Hag",
        name: "Haggai",
        verses: &[15, 23],
    },
    BookDef {
        osis: "Zech",
        name: "Zechariah",
        verses: &[21, 13, 10, 14, 11, 15, 14, 23, 17, 12, 17, 14, 9, 21],
    },
    BookDef {
        osis: "Mal",
        name: "Malachi",
        verses: &[14, 17, 18, 6],
    },
];

pub(crate) const KJV_NT: &[BookDef] = &[
    BookDef {
        osis: "Matt",
        name: "Matthew",
        verses: &[
            25, 23, 17, 25, 48, 34, 29, 34, 38, 42, 30, 50, 58, 36, 39, 28, 27, 35, 30, 34, 46, 46,
            39, 51, 46, 75, 66, 20,
        ],
    },
    BookDef {
        osis: "Mark",
        name: "Mark",
        verses: &[
            45, 28, 35, 41, 43, 56, 37, 38, 50, 52, 33, 44, 37, 72, 47, 20,
        ],
    },
    BookDef {
        osis: "Luke",
        name: "Luke",
        verses: &[
            80, 52, 38, 44, 39, 49, 50, 56, 62, 42, 54, 59, 35, 35, 32, 31, 37, 43, 48, 47, 38, 71,
            56, 53,
        ],
    },
    BookDef {
        osis: "John",
        name: "John",
        verses: &[
            51, 25, 36, 54, 47, 71, 53, 59, 41, 42, 57, 50, 38, 31, 27, 33, 26, 40, 42, 31, 25,
        ],
    },
    BookDef {
        osis: "Acts",
        name: "Acts",
        verses: &[
            26, 47, 26, 37, 42, 15, 60, 40, 43, 48, 30, 25, 52, 28, 41, 40, 34, 28, 41, 38, 40, 30,
            35, 27, 27, 32, 44, 31,
        ],
    },
    BookDef {
        osis: "Rom",
        name: "Romans",
        verses: &[
            32, 29, 31, 25, 21, 23, 25, 39, 33, 21, 36, 21, 14, 23, 33, 27,
        ],
    },
    BookDef {
        osis: "1Cor",
        name: "1 Corinthians",
        verses: &[
            31, 16, 23, 21, 13, 20, 40, 13, 27, 33, 34, 31, 13, 40, 58, 24,
        ],
    },
    BookDef {
        osis: "2Cor",
        name: "2 Corinthians",
        verses: &[24, 17, 18, 18, 21, 18, 16, 24, 15, 18, 33, 21, 14],
    },
    BookDef {
        osis: "Gal",
        name: "Galatians",
        verses: &[24, 21, 29, 31, 26, 18],
    },
    BookDef {
        osis: "Eph",
        name: "Ephesians",
        verses: &[23, 22, 21, 32, 33, 24],
    },
    BookDef {
        osis: "Phil",
        name: "Philippians",
        verses: &[30, 30, 21, 23],
    },
    BookDef {
        osis: "Col",
        name: "Colossians",
        verses: &[29, 23, 25, 18],
    },
    BookDef {
        osis: "1Thess",
        name: "1 Thessalonians",
        verses: &[10, 20, 13, 18, 28],
    },
    BookDef {
        osis: "2Thess",
        name: "2 Thessalonians",
        verses: &[12, 17, 18],
    },
    BookDef {
        osis: "1Tim",
        name: "1 Timothy",
        verses: &[20, 15, 16, 16, 25, 21],
    },
    BookDef {
        osis: "2Tim",
        name: "2 Timothy",
        verses: &[18, 26, 17, 22],
    },
    BookDef {
        osis: "Titus",
        name: "Titus",
        verses: &[16, 15, 15],
    },
    BookDef {
        osis: "Phlm",
        name: "Philemon",
        verses: &[25],
    },
    BookDef {
        osis: "Heb",
        name: "Hebrews",
        verses: &[14, 18, 19, 16, 14, 20, 28, 13, 28, 39, 40, 29, 25],
    },
    BookDef {
        osis: "Jas",
        name: "James",
        verses: &[27, 26, 18, 17, 20],
    },
    BookDef {
        osis: "1Pet",
        name: "1 Peter",
        verses: &[25, 25, 22, 19, 14],
    },
    BookDef {
        osis: "2Pet",
        name: "2 Peter",
        verses: &[21, 22, 18],
    },
    BookDef {
        osis: "1John",
        name: "1 John",
        verses: &[10, 29, 24, 21, 21],
    },
    BookDef {
        osis: "2John",
        name: "2 John",
        verses: &[13],
    },
    BookDef {
        osis: "3John",
        name: "3 John",
        verses: &[14],
    },
    BookDef {
        osis: "Jude",
        name: "Jude",
        verses: &[25],
    },
    BookDef {
        osis: "Rev",
        name: "Revelation",
        verses: &[
            20, 29, 22, 11, 14, 17, 17, 13, 21, 11, 19, 17, 18, 20, 8, 21, 18, 24, 21, 15, 27, 21,
        ],
    },
];

pub(crate) const NRSVA_DEUTEROCANON: &[BookDef] = &[
    BookDef {
        osis: "Tob",
        name: "Tobit",
        verses: &[22, 14, 17, 21, 22, 18, 16, 21, 6, 13, 18, 22, 17, 15],
    },
    BookDef {
        osis: "Jdt",
        name: "Judith",
        verses: &[
            16, 28, 10, 15, 24, 21, 32, 36, 14, 23, 23, 20, 20, 19, 14, 25,
        ],
    },
    BookDef {
        osis: "EsthGr",
        name: "Esther (Greek)",
        verses: &[
            22, 23, 15, 17, 14, 14, 10, 17, 32, 13, 12, 6, 18, 19, 16, 24,
        ],
    },
    BookDef {
        osis: "Wis",
        name: "Wisdom",
        verses: &[
            16, 24, 19, 20, 23, 25, 30, 21, 18, 21, 26, 27, 19, 31, 19, 29, 21, 25, 22,
        ],
    },
    BookDef {
        osis: "Sir",
        name: "Sirach",
        verses: &[
            30, 18, 31, 31, 15, 37, 36, 19, 18, 31, 34, 18, 26, 27, 20, 30, 32, 33, 30, 31, 28, 27,
            27, 34, 26, 29, 30, 26, 28, 25, 31, 24, 33, 31, 26, 31, 31, 34, 35, 30, 22, 25, 33, 23,
            26, 20, 25, 25, 16, 29, 30,
        ],
    },
    BookDef {
        osis: "Bar",
        name: "Baruch",
        verses: &[22, 35, 37, 37, 9, 73],
    },
    BookDef {
        osis: "PrAzar",
        name: "Prayer of Azariah",
        verses: &[68],
    },
    BookDef {
        osis: "Sus",
        name: "Susanna",
        verses: &[64],
    },
    BookDef {
        osis: "Bel",
        name: "Bel and the Dragon",
        verses: &[42],
    },
    BookDef {
        osis: "1Macc",
        name: "1 Maccabees",
        verses: &[
            64, 70, 60, 61, 68, 63, 50, 32, 73, 89, 74, 53, 53, 49, 41, 24,
        ],
    },
    BookDef {
        osis: "2Macc",
        name: "2 Maccabees",
        verses: &[36, 32, 40, 50, 27, 31, 42, 36, 29, 38, 38, 45, 26, 46, 39],
    },
    BookDef {
        osis: "1Esd",
        name: "1 Esdras",
        verses: &[58, 30, 24, 63, 73, 34, 15, 96, 55],
    },
    BookDef {
        osis: "PrMan",
        name: "Prayer of Manasseh",
        verses: &[15],
    },
    BookDef {
        osis: "AddPs",
        name: "Psalm 151",
        verses: &[7],
    },
    BookDef {
        osis: "3Macc",
        name: "3 Maccabees",
        verses: &[29, 33, 30, 21, 51, 41, 23],
    },
    BookDef {
        osis: "2Esd",
        name: "2 Esdras",
        verses: &[
            40, 48, 36, 52, 56, 59, 140, 63, 47, 59, 46, 51, 58, 48, 63, 78,
        ],
    },
    BookDef {
        osis: "4Macc",
        name: "4 Maccabees",
        verses: &[
            35, 24, 21, 26, 38, 35, 23, 29, 32, 21, 27, 19, 27, 20, 32, 25, 24, 24,
        ],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    fn verses(bs: &[Book]) -> usize {
        bs.iter().flat_map(|b| &b.verses).map(|&v| v as usize).sum()
    }

    #[test]
    fn kjv_has_31102_verses_in_1189_chapters() {
        let v = Versification::kjv();
        assert_eq!((v.old.len(), v.new.len()), (39, 27));
        assert_eq!(
            (verses(&v.old), verses(&v.new), v.verse_count()),
            (23_145, 7_957, 31_102)
        );
        let chapters: usize = v.old.iter().chain(&v.new).map(|b| b.verses.len()).sum();
        assert_eq!(chapters, 1_189);
        // Longest and shortest chapters.
        assert_eq!(v.old[18].verses[118], 176); // Psalm 119
        assert_eq!(v.old[18].verses[116], 2); // Psalm 117
    }

    #[test]
    fn slot_counts_match_the_module_indexes() {
        // Slot counts of the .bzv files in Debian's sword-text-sparv (KJV) and
        // sword-text-web (NRSVA): 10-byte records, 241,150 / 82,460 and 310,270 / 82,480 bytes.
        let kjv = Versification::kjv();
        assert_eq!(
            (
                kjv.slots(Testament::Old).len(),
                kjv.slots(Testament::New).len()
            ),
            (24_115, 8_246)
        );
        let nrsva = Versification::nrsva();
        assert_eq!(
            (
                nrsva.slots(Testament::Old).len(),
                nrsva.slots(Testament::New).len()
            ),
            (31_027, 8_248)
        );
        assert_eq!(nrsva.old.len(), 39 + 17);
    }

    #[test]
    fn slots_start_with_headings_then_genesis_1_1() {
        let s = Versification::kjv().slots(Testament::Old);
        assert_eq!(&s[..4], &[None, None, None, None]);
        assert_eq!(s[4].map(|r| r.to_string()).as_deref(), Some("Gen.1.1"));
        assert_eq!(s[4 + 31], None); // heading of Genesis 2
        assert_eq!(s[4 + 32].map(|r| r.to_string()).as_deref(), Some("Gen.2.1"));
        assert_eq!(
            s.last()
                .copied()
                .flatten()
                .map(|r| r.to_string())
                .as_deref(),
            Some("Mal.4.6")
        );
    }
}
