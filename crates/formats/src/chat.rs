//! Chat templates (Jinja, as in Hugging Face `tokenizer_config.json` and GGUF
//! `tokenizer.chat_template`), rendered with minijinja in an environment that mimics
//! `transformers`' `apply_chat_template`:
//!
//! * `trim_blocks` and `lstrip_blocks` on, a single trailing newline removed (jinja2 default);
//! * `loop_controls` (`{% break %}`, `{% continue %}`), as HF enables `jinja2.ext.loopcontrols`;
//! * undefined values are chainable: attribute access on an undefined value gives undefined,
//!   printing it gives an empty string, testing it is falsy;
//! * Python string/dict/list methods (`.strip()`, `.startswith()`, `.split()`, `.items()`, …)
//!   through minijinja-contrib's `pycompat`;
//! * `raise_exception(msg)` fails the render with `msg`; `strftime_now(fmt)` formats the
//!   current UTC time (strftime subset: `%Y %y %m %d %e %H %I %M %S %p %b %B %a %A %j %%`);
//! * `tojson` behaves like Python's `json.dumps(x, ensure_ascii=False)` as HF uses it: no HTML
//!   escaping, `", "`/`": "` separators, `indent=` supported, keys kept in insertion order;
//! * context: `messages`, `add_generation_prompt`, `bos_token`, `eos_token`; `tools`,
//!   `documents` and everything else are undefined unless passed with [`ChatTemplate::render_with`].

use minijinja::value::{Kwargs, ValueKind};

use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior};
/// Template values (for [`ChatTemplate::render_with`]'s extra context); build maps with
/// [`context!`](minijinja::context) or `Value::from_serialize`.
pub use minijinja::{Value, context};
use serde::{Deserialize, Serialize};

use crate::error::{FormatError, Result};
use crate::gguf::GgufHeader;

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage {
            role: role.into(),
            content: content.into(),
        }
    }
    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }
}

const TEMPLATE_NAME: &str = "chat_template";

/// A compiled chat template with the BOS/EOS strings it is rendered with.
pub struct ChatTemplate {
    env: Environment<'static>,
    source: String,
    bos: String,
    eos: String,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .field("source_len", &self.source.len())
            .finish()
    }
}

fn template_err(e: Error) -> FormatError {
    // Show the chain of causes: minijinja puts the interesting part in `source()`.
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    FormatError::Template(msg)
}

impl ChatTemplate {
    /// Compile `source` (Jinja) with the given BOS/EOS token strings.
    pub fn new(source: &str, bos: &str, eos: &str) -> Result<Self> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_keep_trailing_newline(false);
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        minijinja_contrib::add_to_environment(&mut env);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        env.add_filter("tojson", tojson);
        env.add_test("iterable", is_iterable);
        env.add_template_owned(TEMPLATE_NAME, rewrite_generation_tags(source))
            .map_err(template_err)?;
        Ok(ChatTemplate {
            env,
            source: source.to_string(),
            bos: bos.to_string(),
            eos: eos.to_string(),
        })
    }

    /// The template in a GGUF file (`tokenizer.chat_template`), with BOS/EOS strings from the
    /// token list (`tokenizer.ggml.bos_token_id`/`eos_token_id`). `None` if there is none.
    pub fn from_gguf(h: &GgufHeader) -> Result<Option<Self>> {
        if h.get("tokenizer.chat_template").is_none() {
            return Ok(None);
        }
        let source = h.get_str("tokenizer.chat_template")?;
        let tokens = h.get_str_array("tokenizer.ggml.tokens").unwrap_or_default();
        let (bos_id, eos_id) = match crate::tokenizer::TokenizerInfo::from_gguf(h) {
            Ok(info) => (info.bos_id, info.eos_id),
            Err(_) => (None, None),
        };
        let text = |id: Option<u32>| {
            id.and_then(|i| tokens.get(i as usize).copied())
                .unwrap_or("")
        };
        Ok(Some(Self::new(source, text(bos_id), text(eos_id))?))
    }

    /// The template in a Hugging Face `tokenizer_config.json`: `chat_template` is a string or
    /// a list of `{name, template}` (the one named "default" is used, else the first);
    /// `bos_token`/`eos_token` are strings or objects with `content`. `None` if there is none.
    pub fn from_tokenizer_config_json(bytes: &[u8]) -> Result<Option<Self>> {
        let cfg: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| FormatError::Json {
                path: "tokenizer_config.json".into(),
                message: e.to_string(),
            })?;
        let source = match cfg.get("chat_template") {
            None | Some(serde_json::Value::Null) => return Ok(None),
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Array(list)) => {
                let named = |name: &str| {
                    list.iter()
                        .find(|t| t.get("name").and_then(|n| n.as_str()) == Some(name))
                };
                let entry = named("default").or_else(|| list.first());
                match entry
                    .and_then(|t| t.get("template"))
                    .and_then(|t| t.as_str())
                {
                    Some(s) => s.to_string(),
                    None => return Ok(None),
                }
            }
            Some(_) => {
                return Err(FormatError::Template(
                    "tokenizer_config.json: chat_template is neither a string nor a list".into(),
                ));
            }
        };
        let token = |key: &str| -> String {
            match cfg.get(key) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Object(o)) => o
                    .get("content")
                    .and_then(|c| c.as_str())
                    .unwrap_or("")
                    .to_string(),
                _ => String::new(),
            }
        };
        Ok(Some(Self::new(
            &source,
            &token("bos_token"),
            &token("eos_token"),
        )?))
    }

    pub fn source(&self) -> &str {
        &self.source
    }
    pub fn bos_token(&self) -> &str {
        &self.bos
    }
    pub fn eos_token(&self) -> &str {
        &self.eos
    }

    /// Render a conversation. `add_generation_prompt` appends the assistant turn's header.
    pub fn render(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        self.render_with(messages, add_generation_prompt, Value::from(()))
    }

    /// Like [`render`](Self::render), with extra context variables (e.g. `tools`,
    /// `documents`, `enable_thinking`) given as a map value; they override the defaults.
    pub fn render_with(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
        extra: Value,
    ) -> Result<String> {
        // As transformers' `apply_chat_template`: `tools` and `documents` are passed as None.
        let base = minijinja::context! {
            messages => Value::from_serialize(messages),
            add_generation_prompt => add_generation_prompt,
            bos_token => self.bos.as_str(),
            eos_token => self.eos.as_str(),
            tools => Value::from(()),
            documents => Value::from(()),
        };
        let ctx = if extra.kind() == ValueKind::Map {
            minijinja::context! { ..extra, ..base }
        } else {
            base
        };
        let tmpl = self.env.get_template(TEMPLATE_NAME).map_err(template_err)?;
        tmpl.render(ctx).map_err(template_err)
    }
}

/// transformers renders `{% generation %}…{% endgeneration %}` (which marks assistant text
/// for training masks) as its plain body. minijinja has no such tag, so each becomes an
/// equivalent no-op block (`{% if true %}…{% endif %}`), keeping its whitespace-control marks.
fn rewrite_generation_tags(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(start) = rest.find("{%") {
        out.push_str(&rest[..start]);
        let tag = &rest[start..];
        let Some(end) = tag.find("%}") else {
            out.push_str(tag);
            return out;
        };
        let inner = &tag[2..end];
        let (open_mark, body) = match inner.chars().next() {
            Some(c @ ('-' | '+')) => (c.to_string(), &inner[1..]),
            _ => (String::new(), inner),
        };
        let (body, close_mark) = match body.chars().last() {
            Some(c @ ('-' | '+')) => (&body[..body.len() - 1], c.to_string()),
            _ => (body, String::new()),
        };
        let replacement = match body.trim() {
            "generation" => Some("if true"),
            "endgeneration" => Some("endif"),
            _ => None,
        };
        match replacement {
            Some(r) => out.push_str(&format!("{{%{open_mark} {r} {close_mark}%}}")),
            None => out.push_str(&tag[..end + 2]),
        }
        rest = &tag[end + 2..];
    }
    out.push_str(rest);
    out
}

/// jinja2's `iterable` test: None and undefined are not iterable (minijinja's built-in says
/// they are, which makes `tools is iterable and tools | length > 0` fail on `tools=None`).
fn is_iterable(v: &Value) -> bool {
    matches!(
        v.kind(),
        ValueKind::Seq | ValueKind::Map | ValueKind::Iterable | ValueKind::String
    )
}

fn raise_exception(msg: String) -> std::result::Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, msg))
}

// ---------------------------------------------------------------------------------------------
// tojson, Python style
// ---------------------------------------------------------------------------------------------

fn tojson(value: Value, kwargs: Kwargs) -> std::result::Result<Value, Error> {
    let indent: Option<Value> = kwargs.get("indent")?;
    let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
    let separators: Option<Value> = kwargs.get("separators")?;
    let _: Option<bool> = kwargs.get("ensure_ascii")?;
    kwargs.assert_all_used()?;
    let indent = match indent {
        None => None,
        Some(v) if v.is_none() || v.is_undefined() => None,
        Some(v) => match v.as_i64() {
            Some(n) => Some(" ".repeat(n.max(0) as usize)),
            None => Some(v.as_str().unwrap_or("").to_string()),
        },
    };
    let (item_sep, key_sep) = match separators {
        Some(s) if s.kind() == ValueKind::Seq && s.len() == Some(2) => (
            s.get_item(&Value::from(0))?.to_string(),
            s.get_item(&Value::from(1))?.to_string(),
        ),
        _ if indent.is_some() => (",".to_string(), ": ".to_string()),
        _ => (", ".to_string(), ": ".to_string()),
    };
    let opts = JsonOpts {
        indent,
        item_sep,
        key_sep,
        sort_keys: sort_keys.unwrap_or(false),
    };
    let mut out = String::new();
    write_json(&value, &opts, 0, &mut out)?;
    Ok(Value::from_safe_string(out))
}

struct JsonOpts {
    indent: Option<String>,
    item_sep: String,
    key_sep: String,
    sort_keys: bool,
}

fn json_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn newline_indent(opts: &JsonOpts, level: usize, out: &mut String) {
    if let Some(ind) = &opts.indent {
        out.push('\n');
        for _ in 0..level {
            out.push_str(ind);
        }
    }
}

fn write_json(
    v: &Value,
    opts: &JsonOpts,
    level: usize,
    out: &mut String,
) -> std::result::Result<(), Error> {
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number => {
            if let Some(i) = v.as_i64() {
                out.push_str(&i.to_string());
            } else {
                let f = f64::try_from(v.clone()).unwrap_or(f64::NAN);
                if f.is_finite() {
                    let s = f.to_string();
                    out.push_str(&s);
                    if !s.contains(['.', 'e', 'E']) {
                        out.push_str(".0");
                    }
                } else if f.is_nan() {
                    out.push_str("NaN");
                } else if f > 0.0 {
                    out.push_str("Infinity");
                } else {
                    out.push_str("-Infinity");
                }
            }
        }
        ValueKind::String => json_str(v.as_str().unwrap_or(""), out),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = v.try_iter()?.collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(&opts.item_sep);
                }
                newline_indent(opts, level + 1, out);
                write_json(item, opts, level + 1, out)?;
            }
            newline_indent(opts, level, out);
            out.push(']');
        }
        ValueKind::Map => {
            let mut keys: Vec<Value> = v.try_iter()?.collect();
            if keys.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            if opts.sort_keys {
                keys.sort();
            }
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(&opts.item_sep);
                }
                newline_indent(opts, level + 1, out);
                match k.as_str() {
                    Some(s) => json_str(s, out),
                    None => json_str(&k.to_string(), out),
                }
                out.push_str(&opts.key_sep);
                write_json(&v.get_item(k)?, opts, level + 1, out)?;
            }
            newline_indent(opts, level, out);
            out.push('}');
        }
        _ => json_str(&v.to_string(), out),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// strftime_now
// ---------------------------------------------------------------------------------------------

fn unix_now() -> i64 {
    #[cfg(not(target_family = "wasm"))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
    #[cfg(target_family = "wasm")]
    {
        // No clock without JS bindings; templates get a fixed, plausible date.
        1_735_689_600 // 2025-01-01T00:00:00Z
    }
}

/// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// `strftime` for a UTC Unix time, the common specifiers only.
pub fn strftime_utc(format: &str, unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (secs / 3600, secs / 60 % 60, secs % 60);
    let weekday = (days + 3).rem_euclid(7) as usize; // 1970-01-01 was a Thursday
    let is_leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let cum = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let yday = cum[(m - 1) as usize] + d + u32::from(is_leap && m > 2);
    let month = MONTHS[(m - 1) as usize];
    let wd = WEEKDAYS[weekday];
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('Y') => out.push_str(&y.to_string()),
            Some('y') => out.push_str(&format!("{:02}", y.rem_euclid(100))),
            Some('m') => out.push_str(&format!("{m:02}")),
            Some('d') => out.push_str(&format!("{d:02}")),
            Some('e') => out.push_str(&format!("{d:>2}")),
            Some('-') => match chars.next() {
                // glibc's "no padding" flag, used by some templates ("%-d").
                Some('d') => out.push_str(&d.to_string()),
                Some('m') => out.push_str(&m.to_string()),
                Some('H') => out.push_str(&hh.to_string()),
                Some(o) => {
                    out.push_str("%-");
                    out.push(o);
                }
                None => out.push_str("%-"),
            },
            Some('H') => out.push_str(&format!("{hh:02}")),
            Some('I') => out.push_str(&format!("{:02}", (hh + 11) % 12 + 1)),
            Some('M') => out.push_str(&format!("{mm:02}")),
            Some('S') => out.push_str(&format!("{ss:02}")),
            Some('p') => out.push_str(if hh < 12 { "AM" } else { "PM" }),
            Some('b') | Some('h') => out.push_str(&month[..3]),
            Some('B') => out.push_str(month),
            Some('a') => out.push_str(&wd[..3]),
            Some('A') => out.push_str(wd),
            Some('j') => out.push_str(&format!("{yday:03}")),
            Some('%') => out.push('%'),
            Some(o) => {
                out.push('%');
                out.push(o);
            }
            None => out.push('%'),
        }
    }
    out
}

fn strftime_now(format: String) -> String {
    strftime_utc(&format, unix_now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strftime_known_dates() {
        assert_eq!(strftime_utc("%Y-%m-%d %H:%M:%S", 0), "1970-01-01 00:00:00");
        // 2024-07-26 13:45:30 UTC, a Friday, day 208 of a leap year.
        let t = 1_722_001_530;
        assert_eq!(strftime_utc("%d %b %Y", t), "26 Jul 2024");
        assert_eq!(
            strftime_utc("%A %B %-d, %j %I%p", t),
            "Friday July 26, 208 01PM"
        );
        assert_eq!(strftime_utc("%%%y", t), "%24");
    }

    #[test]
    fn tojson_is_python_style() {
        let t = ChatTemplate::new(
            "{% set x = {'b': [1, 2.5, 'é'], 'a': none, 'c': true} %}\
             {{ x | tojson }}|{{ x | tojson(indent=2) }}|{{ 'a<b' | tojson }}",
            "",
            "",
        )
        .unwrap();
        let out = t.render(&[], false).unwrap();
        assert_eq!(
            out,
            "{\"b\": [1, 2.5, \"é\"], \"a\": null, \"c\": true}|{\n  \"b\": [\n    1,\n    2.5,\n    \"é\"\n  ],\n  \"a\": null,\n  \"c\": true\n}|\"a<b\""
        );
    }

    #[test]
    fn hf_environment_features() {
        let src = "{% for m in messages %}{% if m.role == 'skip' %}{% continue %}{% endif %}\
                   [{{ m.content.strip() | upper }}]{% endfor %}\
                   {{ nothing.attr.deeper }}{% if tools is none and documents is none %}no tools{% endif %}\
                   {{ bos_token }}{{ 'a,b'.split(',') | length }}\
                   {{ tools is iterable }}{{ messages is iterable }}";
        let t = ChatTemplate::new(src, "<s>", "</s>").unwrap();
        let msgs = [
            ChatMessage::user("  hi "),
            ChatMessage::new("skip", "x"),
            ChatMessage::assistant("yo"),
        ];
        assert_eq!(
            t.render(&msgs, false).unwrap(),
            "[HI][YO]no tools<s>2FalseTrue"
        );

        let t = ChatTemplate::new("{{ raise_exception('bad role') }}", "", "").unwrap();
        let err = t.render(&msgs, false).unwrap_err().to_string();
        assert!(err.contains("bad role"), "{err}");
    }

    #[test]
    fn generation_tags_are_plain_blocks() {
        let src =
            "a{%- generation -%} b {%+ endgeneration %}c{% raw %}{% generation %}{% endraw %}";
        assert_eq!(
            rewrite_generation_tags(src),
            "a{%- if true -%} b {%+ endif %}c{% raw %}{% if true %}{% endraw %}"
        );
        let t = ChatTemplate::new("x {%- generation -%} y {%- endgeneration %}", "", "").unwrap();
        assert_eq!(t.render(&[], false).unwrap(), "xy");
    }

    #[test]
    fn tokenizer_config_json_forms() {
        let cfg = br#"{"chat_template": [{"name": "tool_use", "template": "T"},
                        {"name": "default", "template": "{{ bos_token }}D{{ eos_token }}"}],
                       "bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>"}"#;
        let t = ChatTemplate::from_tokenizer_config_json(cfg)
            .unwrap()
            .unwrap();
        assert_eq!(t.render(&[], false).unwrap(), "<s>D</s>");
        assert!(
            ChatTemplate::from_tokenizer_config_json(b"{}")
                .unwrap()
                .is_none()
        );
    }
}
