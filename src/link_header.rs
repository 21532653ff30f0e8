//! The `Link: <…>; rel="next"` header of a paginated registry answer (tag lists, the catalog), as
//! Wharf's own clients of other registries read it: the web UI and the pull-through cache. Whether
//! the target may be followed (same origin) is the caller's to check.

/// The target of the `rel="next"` link in a `Link` header value, as written (often a path).
pub fn next_target(value: &str) -> Option<&str> {
    value
        .split(',')
        .find(|part| part.contains("rel=\"next\"") || part.contains("rel=next"))
        .and_then(|part| part.split_once('<'))
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(target, _)| target.trim())
}

#[cfg(test)]
mod tests {
    use super::next_target;

    /// The next link is found among others, quoted or not; a header without one has none.
    #[test]
    fn finds_the_next_link() {
        let header = r#"</v2/a/tags/list?n=2&last=b>; rel="next""#;
        assert_eq!(next_target(header), Some("/v2/a/tags/list?n=2&last=b"));
        let several = "<https://x/first>; rel=first, <https://x/next?last=c>; rel=next";
        assert_eq!(next_target(several), Some("https://x/next?last=c"));
        assert_eq!(next_target(r#"</v2/a>; rel="prev""#), None);
    }
}
