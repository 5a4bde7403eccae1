//! SigV4's URI encoding and the raw query string as signatures see it.
//!
//! Invariant: encoding keeps exactly the RFC 3986 unreserved set (and `/` in paths), upper-case
//! hex, so an encoded path or query is both what is sent and what is signed.

/// The query string split into pairs, kept raw (still percent-encoded) and in wire order.
#[derive(Debug)]
pub struct RawQuery<'q> {
    /// The pairs, in wire order.
    pub pairs: Vec<RawPair<'q>>,
}

/// One `key[=value]` item of a query string.
#[derive(Debug, Clone, Copy)]
pub struct RawPair<'q> {
    /// The key as sent.
    pub key: &'q str,
    /// The value as sent (empty when there is none).
    pub value: &'q str,
    /// Whether the item had an `=`.
    pub has_equals: bool,
}

impl<'q> RawQuery<'q> {
    /// Splits on `&`; empty items (`a=1&&b=2`) are dropped, as every SDK's parser does.
    pub fn parse(raw: &'q str) -> Self {
        let pairs = raw
            .split('&')
            .filter(|item| !item.is_empty())
            .map(|item| match item.split_once('=') {
                Some((key, value)) => RawPair {
                    key,
                    value,
                    has_equals: true,
                },
                None => RawPair {
                    key: item,
                    value: "",
                    has_equals: false,
                },
            })
            .collect();
        Self { pairs }
    }

    /// Whether a parameter with this (decoded) name is present.
    pub fn contains(&self, name: &str) -> bool {
        self.pairs
            .iter()
            .any(|pair| percent_decode(pair.key, false) == name.as_bytes())
    }

    /// The decoded values of every parameter with this (decoded) name.
    pub fn values(&self, name: &str, plus_as_space: bool) -> Vec<Vec<u8>> {
        self.pairs
            .iter()
            .filter(|pair| percent_decode(pair.key, false) == name.as_bytes())
            .map(|pair| percent_decode(pair.value, plus_as_space))
            .collect()
    }
}

/// Decodes `%XX` escapes; a `%` not followed by two hex digits is kept literally.
/// With `plus_as_space`, `+` decodes to a space (form encoding, as the AWS SDKs parse queries).
pub fn percent_decode(input: &str, plus_as_space: bool) -> Vec<u8> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex_value);
            let lo = bytes.get(i + 2).copied().and_then(hex_value);
            if let (Some(hi), Some(lo)) = (hi, lo) {
                out.push((hi << 4) | lo);
                i += 3;
                continue;
            }
        }
        out.push(if plus_as_space && b == b'+' { b' ' } else { b });
        i += 1;
    }
    out
}

/// The value of one hex digit.
fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Appends `bytes` percent-encoded with the RFC 3986 unreserved set (plus `/` when `keep_slash`),
/// upper-case hex, as SigV4's `UriEncode` does.
pub fn uri_encode_into(out: &mut String, bytes: &[u8], keep_slash: bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}

/// Percent-encodes an object key for the request path (`/` kept; S3 encodes once, no normalisation).
pub fn encode_path(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 8);
    uri_encode_into(&mut out, key.as_bytes(), true);
    out
}

/// The canonical (and wire) query string of `pairs`: each side encoded, sorted by name then value.
pub fn encode_query(pairs: &[(&str, &str)]) -> String {
    let mut encoded: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| {
            let (mut key, mut value) = (String::new(), String::new());
            uri_encode_into(&mut key, k.as_bytes(), false);
            uri_encode_into(&mut value, v.as_bytes(), false);
            (key, value)
        })
        .collect();
    encoded.sort();
    let mut out = String::new();
    for (k, v) in encoded {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&k);
        out.push('=');
        out.push_str(&v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_and_decoding() {
        let mut s = String::new();
        uri_encode_into(&mut s, "a b/c~d+é".as_bytes(), true);
        assert_eq!(s, "a%20b/c~d%2B%C3%A9");
        assert_eq!(percent_decode("a%2Fb%zz%4", false), b"a/b%zz%4");
        assert_eq!(percent_decode("a+b", true), b"a b");
        assert_eq!(percent_decode("a+b", false), b"a+b");
        let q = RawQuery::parse("a=1&&b&c=%2F");
        assert_eq!(q.pairs.len(), 3);
        assert!(q.contains("b") && !q.pairs[1].has_equals);
        assert_eq!(q.values("c", false), vec![b"/".to_vec()]);
    }

    #[test]
    fn paths_keep_slashes() {
        assert_eq!(
            encode_path("dir/some key+ü~.bin"),
            "dir/some%20key%2B%C3%BC~.bin"
        );
    }
}
