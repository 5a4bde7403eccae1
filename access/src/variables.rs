//! IAM policy variables: `${aws:username}` and the like in a statement's resources and condition
//! values, replaced by the request's value of that key (IAM User Guide, "IAM policy elements:
//! Variables and tags"). Only policies of version 2012-10-17 have variables; in 2008-10-17 the
//! text is literal.
//!
//! Invariant: a variable whose key the request lacks, and which gives no default
//! (`${aws:username, 'nobody'}`), makes the text match nothing, as IAM does.

use std::borrow::Cow;

use crate::condition::{normalize_condition_key, ConditionContext};

/// `text` with its variables replaced; None when one names an absent key without a default.
/// `${*}`, `${?}` and `${$}` stand for the characters themselves.
pub(crate) fn substitute<'t>(text: &'t str, ctx: &dyn ConditionContext) -> Option<Cow<'t, str>> {
    if !text.contains("${") {
        return Some(Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            // An unterminated variable is literal text.
            out.push_str(&rest[start..]);
            return Some(Cow::Owned(out));
        };
        let inner = after[..end].trim();
        match inner {
            "*" | "?" | "$" => out.push_str(inner),
            _ => {
                let (key, default) = match inner.split_once(',') {
                    Some((k, d)) => (k.trim(), Some(d.trim().trim_matches('\''))),
                    None => (inner, None),
                };
                let value = ctx
                    .values(&normalize_condition_key(key))
                    .and_then(|v| v.into_iter().next());
                match (value, default) {
                    (Some(v), _) => out.push_str(&v),
                    (None, Some(d)) => out.push_str(d),
                    (None, None) => return None,
                }
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::condition::MapContext;

    #[test]
    fn variables_take_the_request_values() {
        let ctx = MapContext::new().with("aws:username", "alice");
        let sub = |t: &str| substitute(t, &ctx).map(|c| c.into_owned());
        assert_eq!(
            sub("arn:aws:s3:::b/home/${aws:username}/*").as_deref(),
            Some("arn:aws:s3:::b/home/alice/*")
        );
        assert_eq!(sub("${AWS:UserName}").as_deref(), Some("alice"));
        assert_eq!(sub("a${*}b${?}c${$}").as_deref(), Some("a*b?c$"));
        assert_eq!(sub("${aws:userid}"), None);
        assert_eq!(sub("${aws:userid, 'none'}").as_deref(), Some("none"));
        assert_eq!(sub("plain").as_deref(), Some("plain"));
        assert_eq!(sub("${unterminated").as_deref(), Some("${unterminated"));
    }
}
