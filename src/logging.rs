//! Log output: `log.level`, `log.formatter` (text or json) and `log.fields` from the configuration;
//! `RUST_LOG` overrides the level for debugging.
//!
//! `log.fields` are added to every line by the writer: as top-level keys of each JSON line, or as
//! `key=value` pairs at the end of each text line. Text lines are coloured only on a terminal, and
//! never when `NO_COLOR` is set (<https://no-color.org>), so log files and collectors get plain text.

use std::collections::BTreeMap;
use std::io::{self, IsTerminal, Write};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::config::LogConfig;

/// Installs the global subscriber (once per process; later calls are ignored).
pub fn init(log: &LogConfig) {
    let level = log.level.to_ascii_lowercase();
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{level},h2=warn,hyper=warn")));
    let json = matches!(
        log.formatter.to_ascii_lowercase().as_str(),
        "json" | "logstash"
    );
    let writer = FieldsWriter {
        fields: log.fields.clone(),
        json,
    };
    let colour = colour(
        io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(writer);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Whether text lines get colours: on a terminal, unless `NO_COLOR` is set to anything but empty.
fn colour(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Writes formatted log lines to stderr with the configured fields added.
#[derive(Clone)]
struct FieldsWriter {
    fields: BTreeMap<String, String>,
    json: bool,
}

impl FieldsWriter {
    /// One formatted line (without its newline) with the fields added.
    fn decorate(&self, line: &str) -> String {
        if self.fields.is_empty() {
            return line.to_string();
        }
        if self.json {
            if let Ok(serde_json::Value::Object(mut map)) = serde_json::from_str(line) {
                for (k, v) in &self.fields {
                    map.entry(k.clone())
                        .or_insert_with(|| serde_json::Value::String(v.clone()));
                }
                return serde_json::Value::Object(map).to_string();
            }
            return line.to_string();
        }
        let pairs: Vec<String> = self
            .fields
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!("{line} {}", pairs.join(" "))
    }
}

/// The writer for one event: collects the formatted event and writes it decorated when dropped.
struct EventWriter<'a> {
    owner: &'a FieldsWriter,
    buf: Vec<u8>,
}

impl Write for EventWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for EventWriter<'_> {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.buf);
        let mut out = String::with_capacity(text.len() + 32);
        for line in text.lines() {
            out.push_str(&self.owner.decorate(line));
            out.push('\n');
        }
        let _ = io::stderr().lock().write_all(out.as_bytes());
    }
}

impl<'a> MakeWriter<'a> for FieldsWriter {
    type Writer = EventWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        EventWriter {
            owner: self,
            buf: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer(json: bool) -> FieldsWriter {
        FieldsWriter {
            fields: BTreeMap::from([("service".to_string(), "registry".to_string())]),
            json,
        }
    }

    /// Colours only on a terminal, and not with a non-empty `NO_COLOR`.
    #[test]
    fn colour_only_on_a_terminal() {
        use std::ffi::OsStr;
        assert!(colour(true, None));
        assert!(colour(true, Some(OsStr::new(""))));
        assert!(!colour(true, Some(OsStr::new("1"))));
        assert!(!colour(false, None));
    }

    /// Fields become JSON keys (never overriding the event's own) or trailing `key=value` pairs.
    #[test]
    fn fields_are_added() {
        let line = writer(true).decorate(r#"{"level":"INFO","fields":{"message":"hi"}}"#);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["service"], "registry");
        assert_eq!(v["fields"]["message"], "hi");
        let kept = writer(true).decorate(r#"{"service":"own"}"#);
        assert!(kept.contains(r#""service":"own""#), "{kept}");
        assert_eq!(
            writer(false).decorate("INFO listening"),
            "INFO listening service=registry"
        );
    }
}
