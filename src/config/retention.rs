//! `retention:` (Wharf only): the policies that delete old tags and untagged manifests, how often the
//! server applies them, and how long a deleted tag stays restorable in the trash. One policy per
//! repository pattern, the first that matches wins; `docs/retention.md` has worked examples.

use serde::{Deserialize, Serialize};

use super::duration::GoDuration;

/// `retention:` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RetentionConfig {
    /// Time between two runs of the policies inside the server, each followed by a garbage
    /// collection; `0` (the default) schedules none (`wharf retention --apply` runs them on demand).
    pub schedule: GoDuration,
    /// Scheduled runs only log what they would delete.
    pub dryrun: bool,
    /// How long a tag deleted by a policy stays in the trash, restorable with `wharf trash restore`,
    /// before garbage collection may free its content.
    pub trashperiod: GoDuration,
    /// The policies, in order: a repository follows the first one whose pattern matches it.
    pub policies: Vec<PolicyConfig>,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            schedule: GoDuration::secs(0),
            dryrun: false,
            trashperiod: GoDuration::hours(24),
            policies: Vec::new(),
        }
    }
}

/// One policy (`retention.policies[]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PolicyConfig {
    /// Repositories it governs: patterns where `*` stands for any run of characters (`/` included),
    /// as in `auth.access`.
    pub repositories: Vec<String>,
    /// Tags never deleted.
    pub keep: KeepConfig,
    /// What is deleted.
    pub delete: DeleteConfig,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            repositories: vec!["*".into()],
            keep: KeepConfig::default(),
            delete: DeleteConfig::default(),
        }
    }
}

/// `keep:` of a policy: a tag any of these keeps is never deleted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KeepConfig {
    /// The newest N tags by push time (`0` or unset: none by count).
    pub latest: Option<usize>,
    /// Tags matching any of these regular expressions (matched against the whole tag).
    pub tags: Vec<String>,
    /// Tags pulled within this time.
    pub pulledwithin: Option<GoDuration>,
}

/// `delete:` of a policy. A tag is deleted when it matches `tags` (when given), nothing keeps it, and
/// every age rule given holds; with no age rule, being outside `keep.latest` is enough.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeleteConfig {
    /// Only tags matching one of these regular expressions (whole tag) may be deleted; empty: any.
    pub tags: Vec<String>,
    /// Tags pushed longer ago than this.
    pub olderthan: Option<GoDuration>,
    /// Tags not pulled for this long (a tag never pulled counts from its push).
    pub notpulledfor: Option<GoDuration>,
    /// Manifests no tag reaches (directly, as an index child or as a referrer) whose last push is
    /// older than this.
    pub untagged: Option<GoDuration>,
}

impl RetentionConfig {
    /// Checks every pattern: repository patterns must not be empty, tag patterns must be regular
    /// expressions. Errors name the setting, e.g. `retention.policies[0].keep.tags[1]`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        for (i, policy) in self.policies.iter().enumerate() {
            let at = format!("retention.policies[{i}]");
            if policy.repositories.is_empty() || policy.repositories.iter().any(String::is_empty) {
                return Err((
                    format!("{at}.repositories"),
                    "needs at least one repository pattern, e.g. [\"*\"] or [\"team/*\"]".into(),
                ));
            }
            for (field, patterns) in [
                ("keep.tags", &policy.keep.tags),
                ("delete.tags", &policy.delete.tags),
            ] {
                for (j, pattern) in patterns.iter().enumerate() {
                    if let Err(e) = tag_pattern(pattern) {
                        // The parser's message spans lines; its last one says what is wrong.
                        let text = e.to_string();
                        let why = text.lines().last().unwrap_or_default();
                        return Err((
                            format!("{at}.{field}[{j}]"),
                            format!(
                                "{pattern:?} is not a regular expression ({})",
                                why.trim_start_matches("error: ")
                            ),
                        ));
                    }
                }
            }
            if !policy.deletes_anything() {
                return Err((
                    at,
                    "deletes nothing: give keep.latest, delete.tags, delete.olderthan, delete.notpulledfor or delete.untagged".into(),
                ));
            }
        }
        Ok(())
    }
}

impl PolicyConfig {
    /// Whether the policy can delete anything at all.
    pub fn deletes_anything(&self) -> bool {
        self.deletes_tags() || self.delete.untagged.is_some()
    }

    /// Whether the policy can delete tags: it names them, ages them or keeps only the newest.
    pub fn deletes_tags(&self) -> bool {
        !self.delete.tags.is_empty()
            || self.delete.olderthan.is_some()
            || self.delete.notpulledfor.is_some()
            || self.keep.latest.is_some_and(|n| n > 0)
    }
}

/// A tag pattern compiled to match whole tags.
pub fn tag_pattern(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::Regex::new(&format!("^(?:{pattern})$"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Good policies pass; an empty pattern list, a bad regular expression and a policy that deletes
    /// nothing are refused with the setting named.
    #[test]
    fn validation_names_the_setting() {
        let good = PolicyConfig {
            keep: KeepConfig {
                latest: Some(10),
                tags: vec!["latest".into(), r"v?\d+\.\d+\.\d+".into()],
                ..KeepConfig::default()
            },
            ..PolicyConfig::default()
        };
        let mut config = RetentionConfig {
            policies: vec![good.clone()],
            ..RetentionConfig::default()
        };
        assert_eq!(config.validate(), Ok(()));

        config.policies[0].repositories.clear();
        assert_eq!(
            config.validate().unwrap_err().0,
            "retention.policies[0].repositories"
        );

        config.policies = vec![good.clone(), good.clone()];
        config.policies[1].delete.tags = vec!["ok".into(), "(unclosed".into()];
        assert_eq!(
            config.validate().unwrap_err().0,
            "retention.policies[1].delete.tags[1]"
        );

        config.policies = vec![PolicyConfig {
            keep: KeepConfig {
                tags: vec!["latest".into()],
                ..KeepConfig::default()
            },
            ..PolicyConfig::default()
        }];
        let (key, message) = config.validate().unwrap_err();
        assert_eq!(key, "retention.policies[0]");
        assert!(message.contains("deletes nothing"), "{message}");
    }

    /// Tag patterns match whole tags only.
    #[test]
    fn tag_patterns_are_anchored() {
        let p = tag_pattern(r"v\d+").unwrap();
        assert!(p.is_match("v12"));
        assert!(!p.is_match("v12-rc"));
        assert!(!p.is_match("dev12"));
        let alternatives = tag_pattern("latest|stable").unwrap();
        assert!(alternatives.is_match("stable"));
        assert!(!alternatives.is_match("latest-1"));
    }
}
