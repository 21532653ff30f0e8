//! Access decisions: who ([`Principal`]) may do what ([`Access`]), from `auth.htpasswd.anonymousread`
//! and the `auth.access` rules, or from the grants of a bearer token. Pure functions of their input.

use crate::config::pattern::wildcard_match;
use crate::config::{AccessAction, AccessRule};

/// Who is making a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// No credentials were presented.
    Anonymous,
    /// A user of the htpasswd file, whose password was verified.
    User(String),
    /// The subject of a verified bearer token, with what the token grants.
    Token {
        /// The token's `sub` claim.
        subject: String,
        /// The token's `access` claim.
        grants: Vec<Grant>,
    },
}

impl Principal {
    /// The user name for logs (`-` when anonymous).
    pub fn name(&self) -> &str {
        match self {
            Principal::Anonymous => "-",
            Principal::User(u) => u,
            Principal::Token { subject, .. } => subject,
        }
    }
}

/// One entry of a token's `access` claim: `actions` on the resource `kind`:`name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// `repository` or `registry`.
    pub kind: String,
    /// The repository name, or `catalog`.
    pub name: String,
    /// `pull`, `push`, `delete`, `*`.
    pub actions: Vec<String>,
}

/// What a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access<'a> {
    /// `/v2/`: the API version check (`docker login` probes it).
    Base,
    /// `/v2/_catalog`.
    Catalog,
    /// An action on one repository (`Pull`, `Push` or `Delete`).
    Repository(&'a str, AccessAction),
    /// Registry-wide maintenance through Wharf's API (`/v2/_wharf/`): previewing and applying
    /// retention, listing and restoring the trash. A user needs a rule granting `delete` (or `*`) on
    /// every repository (the pattern `*` itself); a token needs `registry:admin:*`. Anonymous reads
    /// never include it.
    Admin,
}

impl Access<'_> {
    /// The token scope that grants this access (`repository:NAME:pull,push`), if any.
    pub fn scope(&self) -> Option<String> {
        match self {
            Access::Base => None,
            Access::Catalog => Some("registry:catalog:*".into()),
            Access::Admin => Some("registry:admin:*".into()),
            Access::Repository(name, AccessAction::Push) => {
                Some(format!("repository:{name}:pull,push"))
            }
            Access::Repository(name, action) => {
                Some(format!("repository:{name}:{}", action_word(*action)))
            }
        }
    }
}

fn action_word(action: AccessAction) -> &'static str {
    match action {
        AccessAction::Pull => "pull",
        AccessAction::Push => "push",
        AccessAction::Delete => "delete",
        AccessAction::Catalog | AccessAction::All => "*",
    }
}

/// The configured access policy.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Anyone may pull and list the catalog.
    pub anonymous_read: bool,
    /// `auth.access`; empty means every authenticated user may do everything.
    pub rules: Vec<AccessRule>,
}

impl Policy {
    /// Whether `principal` may do `access`.
    pub fn allows(&self, principal: &Principal, access: Access<'_>) -> bool {
        let read = matches!(
            access,
            Access::Base | Access::Catalog | Access::Repository(_, AccessAction::Pull)
        );
        if self.anonymous_read && read {
            return true;
        }
        match principal {
            Principal::Anonymous => false,
            Principal::User(user) => {
                matches!(access, Access::Base)
                    || self.rules.is_empty()
                    || self.rules.iter().any(|r| rule_allows(r, user, access))
            }
            Principal::Token { grants, .. } => {
                matches!(access, Access::Base) || grants.iter().any(|g| grant_allows(g, access))
            }
        }
    }
}

fn rule_allows(rule: &AccessRule, user: &str, access: Access<'_>) -> bool {
    if !rule.users.iter().any(|u| u == "*" || u == user) {
        return false;
    }
    let has = |wanted: AccessAction| {
        rule.actions
            .iter()
            .any(|a| *a == wanted || *a == AccessAction::All)
    };
    match access {
        Access::Base => true,
        Access::Catalog => has(AccessAction::Catalog),
        Access::Admin => has(AccessAction::Delete) && rule.repositories.iter().any(|p| p == "*"),
        Access::Repository(name, action) => {
            let granted = has(action) || (action == AccessAction::Pull && has(AccessAction::Push));
            granted && rule.repositories.iter().any(|p| wildcard_match(p, name))
        }
    }
}

fn grant_allows(grant: &Grant, access: Access<'_>) -> bool {
    let has = |word: &str| grant.actions.iter().any(|a| a == word || a == "*");
    match access {
        Access::Base => true,
        Access::Catalog => grant.kind == "registry" && grant.name == "catalog" && has("*"),
        Access::Admin => grant.kind == "registry" && grant.name == "admin" && has("*"),
        Access::Repository(name, action) => {
            grant.kind == "repository" && grant.name == name && has(action_word(action))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AccessAction::*;

    fn rule(users: &[&str], repos: &[&str], actions: &[AccessAction]) -> AccessRule {
        AccessRule {
            users: users.iter().map(|s| s.to_string()).collect(),
            repositories: repos.iter().map(|s| s.to_string()).collect(),
            actions: actions.to_vec(),
        }
    }

    /// The policy table: no rules = everything for users; rules grant per user and repository, push
    /// implies pull, catalog is its own action, admin needs delete on `*`; anonymous read opens
    /// pull, catalog and /v2/ only.
    #[test]
    fn policy_table() {
        let alice = Principal::User("alice".into());
        let bob = Principal::User("bob".into());
        let anon = Principal::Anonymous;
        let open = Policy::default();
        assert!(open.allows(&alice, Access::Repository("x", Delete)));
        assert!(open.allows(&alice, Access::Catalog));
        assert!(open.allows(&alice, Access::Admin));
        assert!(!open.allows(&anon, Access::Base));
        assert!(!open.allows(&anon, Access::Repository("x", Pull)));

        let ruled = Policy {
            anonymous_read: false,
            rules: vec![
                rule(&["alice"], &["team/*"], &[Pull]),
                rule(&["bob"], &["team/*", "bob"], &[Push]),
                rule(&["*"], &["public/*"], &[Pull, Catalog]),
                rule(&["carol"], &["*"], &[All]),
                rule(&["dave"], &["*"], &[Push]),
            ],
        };
        let cases = [
            (&alice, Access::Base, true),
            (&alice, Access::Repository("team/app", Pull), true),
            (&alice, Access::Repository("team/app", Push), false),
            (&alice, Access::Repository("other", Pull), false),
            (&alice, Access::Repository("public/x", Pull), true),
            (&alice, Access::Catalog, true),
            (&bob, Access::Repository("team/app", Push), true),
            (&bob, Access::Repository("team/app", Pull), true),
            (&bob, Access::Repository("team/app", Delete), false),
            (&bob, Access::Repository("bob", Push), true),
            (&anon, Access::Repository("public/x", Pull), false),
            (&Principal::User("carol".into()), Access::Admin, true),
            (&Principal::User("dave".into()), Access::Admin, false),
            (&bob, Access::Admin, false),
            (&anon, Access::Admin, false),
        ];
        for (who, access, want) in cases {
            assert_eq!(ruled.allows(who, access), want, "{who:?} {access:?}");
        }

        let anonymous_read = Policy {
            anonymous_read: true,
            rules: vec![],
        };
        assert!(anonymous_read.allows(&anon, Access::Base));
        assert!(anonymous_read.allows(&anon, Access::Catalog));
        assert!(anonymous_read.allows(&anon, Access::Repository("x", Pull)));
        assert!(!anonymous_read.allows(&anon, Access::Repository("x", Push)));
        assert!(!anonymous_read.allows(&anon, Access::Admin));
        assert!(anonymous_read.allows(&alice, Access::Repository("x", Push)));
    }

    /// Token grants allow exactly the named repository and actions, admin only with
    /// `registry:admin:*`; scopes are spelled as clients expect.
    #[test]
    fn token_grants() {
        let p = Principal::Token {
            subject: "ci".into(),
            grants: vec![Grant {
                kind: "repository".into(),
                name: "a/b".into(),
                actions: vec!["pull".into(), "push".into()],
            }],
        };
        let policy = Policy::default();
        assert!(policy.allows(&p, Access::Repository("a/b", Push)));
        assert!(!policy.allows(&p, Access::Repository("a/b", Delete)));
        assert!(!policy.allows(&p, Access::Repository("a/c", Pull)));
        assert!(!policy.allows(&p, Access::Catalog));
        assert!(!policy.allows(&p, Access::Admin));
        let admin = Principal::Token {
            subject: "ops".into(),
            grants: vec![Grant {
                kind: "registry".into(),
                name: "admin".into(),
                actions: vec!["*".into()],
            }],
        };
        assert!(policy.allows(&admin, Access::Admin));
        assert_eq!(Access::Admin.scope().unwrap(), "registry:admin:*");
        assert_eq!(
            Access::Repository("a/b", Push).scope().unwrap(),
            "repository:a/b:pull,push"
        );
        assert_eq!(Access::Catalog.scope().unwrap(), "registry:catalog:*");
    }
}
