//! Retention policies compiled from `retention.policies`, and the decision they make for one
//! repository: which tags go and why. Pure: the tags' push and pull times come in, the doomed tags
//! come out, so the rules are tested as a table.

use std::time::{Duration, SystemTime};

use regex::Regex;

use crate::config::pattern::wildcard_match;
use crate::config::retention::{tag_pattern, PolicyConfig, RetentionConfig};
use crate::registry::digest::Digest;
use crate::registry::names::{RepoName, Tag};

/// Every policy, in order, and how long deleted tags stay in the trash.
#[derive(Debug, Clone)]
pub struct Policies {
    policies: Vec<Policy>,
    /// How long a deleted tag stays restorable.
    pub trash_period: Duration,
}

/// One compiled policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Its position in `retention.policies`.
    pub index: usize,
    repositories: Vec<String>,
    keep_latest: usize,
    keep_tags: Vec<Regex>,
    keep_pulled_within: Option<Duration>,
    delete_tags: Vec<Regex>,
    older_than: Option<Duration>,
    not_pulled_for: Option<Duration>,
    /// Manifests no tag reaches, pushed longer ago than this, are deleted.
    pub untagged: Option<Duration>,
    deletes_tags: bool,
}

/// A tag as a policy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagFacts {
    /// The tag.
    pub tag: Tag,
    /// The manifest it points at.
    pub digest: Digest,
    /// When it was last pushed (its link's modification time).
    pub pushed: SystemTime,
    /// When its manifest was last pulled from the repository, if ever.
    pub pulled: Option<SystemTime>,
}

impl Policies {
    /// Compiles the configured policies (validated at start-up, so patterns compile).
    pub fn new(config: &RetentionConfig) -> Result<Policies, regex::Error> {
        let policies = config
            .policies
            .iter()
            .enumerate()
            .map(|(index, p)| Policy::new(index, p))
            .collect::<Result<_, _>>()?;
        Ok(Policies {
            policies,
            trash_period: config.trashperiod.get(),
        })
    }

    /// Whether any policy is configured.
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    /// The policy governing `name`: the first whose pattern matches.
    pub fn for_repository(&self, name: &RepoName) -> Option<&Policy> {
        self.policies.iter().find(|p| {
            p.repositories
                .iter()
                .any(|pattern| wildcard_match(pattern, name.as_str()))
        })
    }
}

fn patterns(list: &[String]) -> Result<Vec<Regex>, regex::Error> {
    list.iter().map(|p| tag_pattern(p)).collect()
}

/// A duration in its largest whole unit that keeps it readable: `40d`, `36h`, `15m`, `30s`.
fn human(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        s if s >= 2 * 86_400 => format!("{}d", s / 86_400),
        s if s >= 2 * 3600 => format!("{}h", s / 3600),
        s if s >= 2 * 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

impl Policy {
    fn new(index: usize, config: &PolicyConfig) -> Result<Policy, regex::Error> {
        Ok(Policy {
            index,
            repositories: config.repositories.clone(),
            keep_latest: config.keep.latest.unwrap_or(0),
            keep_tags: patterns(&config.keep.tags)?,
            keep_pulled_within: config.keep.pulledwithin.map(|d| d.get()),
            delete_tags: patterns(&config.delete.tags)?,
            older_than: config.delete.olderthan.map(|d| d.get()),
            not_pulled_for: config.delete.notpulledfor.map(|d| d.get()),
            untagged: config.delete.untagged.map(|d| d.get()),
            deletes_tags: config.deletes_tags(),
        })
    }

    /// The tags this policy deletes at `now`, each with the reason, newest first. A tag goes when it
    /// matches `delete.tags` (when given), no `keep` rule keeps it (pattern, newest N, pulled
    /// recently), and every age rule given holds; with no age rule, being outside the newest N or
    /// matching `delete.tags` is the reason.
    pub fn doomed(&self, tags: &[TagFacts], now: SystemTime) -> Vec<(TagFacts, String)> {
        if !self.deletes_tags {
            return Vec::new();
        }
        let mut by_age: Vec<&TagFacts> = tags.iter().collect();
        by_age.sort_by(|a, b| b.pushed.cmp(&a.pushed).then_with(|| a.tag.cmp(&b.tag)));
        let age = |t: SystemTime| now.duration_since(t).unwrap_or_default();
        let mut doomed = Vec::new();
        for (rank, facts) in by_age.into_iter().enumerate() {
            let tag = facts.tag.as_str();
            let named = self.delete_tags.iter().any(|p| p.is_match(tag));
            if !self.delete_tags.is_empty() && !named {
                continue;
            }
            let kept = rank < self.keep_latest
                || self.keep_tags.iter().any(|p| p.is_match(tag))
                || self
                    .keep_pulled_within
                    .zip(facts.pulled)
                    .is_some_and(|(within, pulled)| age(pulled) <= within);
            if kept {
                continue;
            }
            let mut reasons = Vec::new();
            if let Some(limit) = self.older_than {
                if age(facts.pushed) <= limit {
                    continue;
                }
                reasons.push(format!(
                    "pushed {} ago (delete.olderthan {})",
                    human(age(facts.pushed)),
                    human(limit)
                ));
            }
            if let Some(limit) = self.not_pulled_for {
                let last = facts.pulled.unwrap_or(facts.pushed);
                if age(last) <= limit {
                    continue;
                }
                let what = if facts.pulled.is_some() {
                    "last pulled"
                } else {
                    "never pulled, pushed"
                };
                reasons.push(format!(
                    "{what} {} ago (delete.notpulledfor {})",
                    human(age(last)),
                    human(limit)
                ));
            }
            if reasons.is_empty() {
                reasons.push(if self.keep_latest > 0 {
                    format!("not among the newest {} (keep.latest)", self.keep_latest)
                } else {
                    "matches delete.tags".to_string()
                });
            }
            doomed.push((facts.clone(), reasons.join("; ")));
        }
        doomed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::duration::GoDuration;
    use crate::config::retention::{DeleteConfig, KeepConfig};

    const DAY: u64 = 86_400;

    fn facts(
        tag: &str,
        pushed_days_ago: u64,
        pulled_days_ago: Option<u64>,
        now: SystemTime,
    ) -> TagFacts {
        let ago = |days: u64| now - Duration::from_secs(days * DAY);
        TagFacts {
            tag: tag.parse().unwrap(),
            digest: Digest::compute(crate::registry::digest::Algorithm::Sha256, tag.as_bytes()),
            pushed: ago(pushed_days_ago),
            pulled: pulled_days_ago.map(ago),
        }
    }

    fn policy(keep: KeepConfig, delete: DeleteConfig) -> Policy {
        Policy::new(
            0,
            &PolicyConfig {
                repositories: vec!["*".into()],
                keep,
                delete,
            },
        )
        .unwrap()
    }

    fn days(n: u64) -> Option<GoDuration> {
        Some(GoDuration(Duration::from_secs(n * DAY)))
    }

    /// The documented cases: keep the newest N; drop CI tags after 14 days; keep releases forever;
    /// delete what nobody pulled for 30 days unless pulled recently or a release; patterns match
    /// whole tags; with no tag rule nothing goes.
    #[test]
    fn decisions_table() {
        let now = SystemTime::now();
        let tags = vec![
            facts("latest", 0, Some(0), now),
            facts("v1.2.0", 40, None, now),
            facts("v1.1.0", 90, Some(1), now),
            facts("ci-101", 20, None, now),
            facts("ci-102", 3, None, now),
            facts("build-7", 10, Some(35), now),
            facts("build-6", 12, None, now),
            facts("build-5", 50, Some(2), now),
        ];
        let release = r"v?\d+\.\d+\.\d+";
        let cases: Vec<(&str, Policy, Vec<&str>)> = vec![
            (
                "keep the newest 3",
                policy(
                    KeepConfig {
                        latest: Some(3),
                        ..Default::default()
                    },
                    DeleteConfig::default(),
                ),
                vec!["build-6", "ci-101", "v1.2.0", "build-5", "v1.1.0"],
            ),
            (
                "drop CI tags after 14 days",
                policy(
                    KeepConfig::default(),
                    DeleteConfig {
                        tags: vec!["ci-.*".into()],
                        olderthan: days(14),
                        ..Default::default()
                    },
                ),
                vec!["ci-101"],
            ),
            (
                "keep releases and latest, the newest 2 else",
                policy(
                    KeepConfig {
                        latest: Some(2),
                        tags: vec![release.into(), "latest".into()],
                        ..Default::default()
                    },
                    DeleteConfig::default(),
                ),
                vec!["build-7", "build-6", "ci-101", "build-5"],
            ),
            (
                "not pulled for 30 days, unless a release",
                policy(
                    KeepConfig {
                        tags: vec![release.into()],
                        ..Default::default()
                    },
                    DeleteConfig {
                        notpulledfor: days(30),
                        ..Default::default()
                    },
                ),
                vec!["build-7"],
            ),
            (
                "older than 11 days and not pulled for 11 days",
                policy(
                    KeepConfig::default(),
                    DeleteConfig {
                        olderthan: days(11),
                        notpulledfor: days(11),
                        ..Default::default()
                    },
                ),
                vec!["build-6", "ci-101", "v1.2.0"],
            ),
            (
                "kept if pulled within 5 days",
                policy(
                    KeepConfig {
                        pulledwithin: days(5),
                        ..Default::default()
                    },
                    DeleteConfig {
                        olderthan: days(30),
                        ..Default::default()
                    },
                ),
                vec!["v1.2.0"],
            ),
            (
                "a pattern matches whole tags only",
                policy(
                    KeepConfig::default(),
                    DeleteConfig {
                        tags: vec!["build".into()],
                        ..Default::default()
                    },
                ),
                vec![],
            ),
            (
                "untagged-only policy deletes no tag",
                policy(
                    KeepConfig::default(),
                    DeleteConfig {
                        untagged: days(1),
                        ..Default::default()
                    },
                ),
                vec![],
            ),
        ];
        for (what, policy, want) in cases {
            let got: Vec<String> = policy
                .doomed(&tags, now)
                .into_iter()
                .map(|(f, _)| f.tag.to_string())
                .collect();
            assert_eq!(got, want, "{what}");
        }
    }

    /// Each reason names the rule and the ages.
    #[test]
    fn reasons_name_the_rule() {
        let now = SystemTime::now();
        let tags = vec![
            facts("a", 20, None, now),
            facts("b", 1, None, now),
            facts("c", 2, None, now),
        ];
        let p = policy(
            KeepConfig {
                latest: Some(1),
                ..Default::default()
            },
            DeleteConfig::default(),
        );
        let doomed = p.doomed(&tags, now);
        assert_eq!(doomed[0].1, "not among the newest 1 (keep.latest)");
        let p = policy(
            KeepConfig::default(),
            DeleteConfig {
                olderthan: days(14),
                notpulledfor: days(7),
                ..Default::default()
            },
        );
        let doomed = p.doomed(&tags, now);
        assert_eq!(doomed.len(), 1);
        assert_eq!(
            doomed[0].1,
            "pushed 20d ago (delete.olderthan 14d); never pulled, pushed 20d ago (delete.notpulledfor 7d)"
        );
    }

    /// The first policy whose repository pattern matches governs a repository.
    #[test]
    fn first_matching_policy_wins() {
        let config = RetentionConfig {
            policies: vec![
                PolicyConfig {
                    repositories: vec!["team/*".into()],
                    keep: KeepConfig {
                        latest: Some(5),
                        ..Default::default()
                    },
                    ..Default::default()
                },
                PolicyConfig {
                    keep: KeepConfig {
                        latest: Some(50),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            ],
            ..RetentionConfig::default()
        };
        let policies = Policies::new(&config).unwrap();
        let index = |n: &str| {
            policies
                .for_repository(&n.parse().unwrap())
                .map(|p| p.index)
        };
        assert_eq!(index("team/app"), Some(0));
        assert_eq!(index("other/app"), Some(1));
        assert_eq!(
            Policies::new(&RetentionConfig::default())
                .unwrap()
                .for_repository(&"x".parse().unwrap())
                .map(|p| p.index),
            None
        );
    }
}
