//! Durations as distribution writes them: Go duration strings (`10s`, `168h`, `2h10m`, `500ms`), or a
//! bare integer meaning nanoseconds.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration read from `config.yml` or a `REGISTRY_*` variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct GoDuration(pub Duration);

impl GoDuration {
    /// `secs` seconds.
    pub const fn secs(secs: u64) -> Self {
        GoDuration(Duration::from_secs(secs))
    }

    /// `hours` hours.
    pub const fn hours(hours: u64) -> Self {
        GoDuration(Duration::from_secs(hours * 3600))
    }

    /// The duration.
    pub fn get(self) -> Duration {
        self.0
    }

    /// Whether it is zero (for settings where zero means "off").
    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

impl From<GoDuration> for Duration {
    fn from(d: GoDuration) -> Duration {
        d.0
    }
}

impl fmt::Display for GoDuration {
    /// Go's unit letters written together, zero units left out: `168h`, `1h30m30s`, `1s500ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_zero() {
            return f.write_str("0s");
        }
        let secs = self.0.as_secs();
        let nanos = self.0.subsec_nanos();
        let parts = [
            (secs / 3600, "h"),
            (secs / 60 % 60, "m"),
            (secs % 60, "s"),
            (u64::from(nanos / 1_000_000), "ms"),
            (u64::from(nanos / 1_000 % 1_000), "us"),
            (u64::from(nanos % 1_000), "ns"),
        ];
        for (value, unit) in parts {
            if value > 0 {
                write!(f, "{value}{unit}")?;
            }
        }
        Ok(())
    }
}

/// Parses a Go duration string: units `ns`, `us`/`µs`, `ms`, `s`, `m`, `h` (and the longer forms
/// humantime knows), concatenated; `0` alone is zero.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(text)
        .map_err(|e| format!("{text:?} is not a duration like 10s, 168h or 2h10m ({e})"))
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Nanos(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Nanos(n) => Ok(GoDuration(Duration::from_nanos(n))),
            Raw::Text(t) => parse(&t).map(GoDuration).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Go-style strings, bare nanoseconds and zero parse; nonsense is refused with the value named.
    #[test]
    fn parse_table() {
        let ok: &[(&str, Duration)] = &[
            ("10s", Duration::from_secs(10)),
            ("168h", Duration::from_secs(168 * 3600)),
            ("2h10m", Duration::from_secs(2 * 3600 + 600)),
            ("1h0m0s", Duration::from_secs(3600)),
            ("500ms", Duration::from_millis(500)),
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
        ];
        for (text, want) in ok {
            assert_eq!(parse(text).unwrap(), *want, "{text}");
        }
        assert!(parse("soon").unwrap_err().contains("\"soon\""));
        let nanos: GoDuration = serde_json::from_str("1500000000").unwrap();
        assert_eq!(nanos.get(), Duration::from_millis(1500));
    }

    /// Formatting writes Go's unspaced form, which parses back to the same value.
    #[test]
    fn display_round_trips() {
        for d in [
            GoDuration::hours(168),
            GoDuration::secs(90),
            GoDuration::secs(0),
        ] {
            assert_eq!(parse(&d.to_string()).unwrap(), d.get(), "{d}");
        }
        assert_eq!(GoDuration::secs(5430).to_string(), "1h30m30s");
    }
}
