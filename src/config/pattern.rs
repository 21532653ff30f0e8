//! Repository patterns in settings (`auth.access`, `retention.policies`): `*` stands for any run of
//! characters, `/` included; everything else matches literally.

/// Whether `text` matches `pattern`, where `*` stands for any run of characters (`/` included).
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            backtrack = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((star, matched)) = backtrack {
            pi = star + 1;
            ti = matched + 1;
            backtrack = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `*` matches any run, slashes included; everything else matches literally.
    #[test]
    fn wildcard_table() {
        for (p, t, want) in [
            ("team/*", "team/app", true),
            ("team/*", "team/a/b", true),
            ("team/*", "team", false),
            ("team/*", "teamx/a", false),
            ("*", "anything/at/all", true),
            ("*/base", "x/y/base", true),
            ("*/base", "x/y/based", false),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
        ] {
            assert_eq!(wildcard_match(p, t), want, "{p} vs {t}");
        }
    }
}
