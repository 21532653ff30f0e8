//! `quotas:` (Wharf only): how many bytes the repositories matching a pattern may each hold. A push
//! that would go over is refused with `DENIED`, naming the quota; `docs/retention.md#quotas` says
//! how usage is counted.

use serde::{Deserialize, Serialize};

/// One quota (`quotas[]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct QuotaConfig {
    /// Repositories it applies to, each on its own: patterns where `*` stands for any run of
    /// characters (`/` included), as in `auth.access`. The first quota whose pattern matches applies.
    pub repositories: Vec<String>,
    /// The most a repository may hold: `500MB`, `10GiB`, or a number of bytes.
    pub size: bytesize::ByteSize,
}

impl Default for QuotaConfig {
    fn default() -> Self {
        QuotaConfig {
            repositories: vec!["*".into()],
            size: bytesize::ByteSize(0),
        }
    }
}

/// Checks every quota: a pattern and a size above zero. Errors name the setting, e.g. `quotas[1].size`.
pub fn validate(quotas: &[QuotaConfig]) -> Result<(), (String, String)> {
    for (i, quota) in quotas.iter().enumerate() {
        if quota.repositories.is_empty() || quota.repositories.iter().any(String::is_empty) {
            return Err((
                format!("quotas[{i}].repositories"),
                "needs at least one repository pattern, e.g. [\"*\"] or [\"team/*\"]".into(),
            ));
        }
        if quota.size.as_u64() == 0 {
            return Err((
                format!("quotas[{i}].size"),
                "must be above zero, e.g. 10GiB or 500MB".into(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sizes read with binary and decimal units or as bytes; an empty pattern list or a zero size is
    /// refused with the setting named.
    #[test]
    fn sizes_and_validation() {
        let quotas: Vec<QuotaConfig> = serde_yaml::from_str(
            "[{repositories: ['team/*'], size: 10GiB}, {size: 500MB}, {size: 1024}]",
        )
        .unwrap();
        assert_eq!(quotas[0].size.as_u64(), 10 << 30);
        assert_eq!(quotas[1].size.as_u64(), 500_000_000);
        assert_eq!(quotas[1].repositories, ["*"]);
        assert_eq!(quotas[2].size.as_u64(), 1024);
        assert_eq!(validate(&quotas), Ok(()));
        let zero: Vec<QuotaConfig> = serde_yaml::from_str("[{size: 1KiB}, {size: 0}]").unwrap();
        assert_eq!(validate(&zero).unwrap_err().0, "quotas[1].size");
        let none: Vec<QuotaConfig> =
            serde_yaml::from_str("[{repositories: [], size: 1KiB}]").unwrap();
        assert_eq!(validate(&none).unwrap_err().0, "quotas[0].repositories");
    }
}
