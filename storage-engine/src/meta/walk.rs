//! The paged key walker: one implementation of S3's delimiter listing, shared by the listings of
//! objects, of versions and of multipart uploads. Each listing supplies a `KeySource` (its table,
//! order and position within a key); the walker does the prefix, delimiter, marker and paging
//! rules, fetching rows from SQL in bounded batches.
//!
//! Invariants:
//! - Entries (rows and common prefixes) come out in the source's order, at most `max` of them;
//!   `truncated` is set exactly when at least one more entry follows.
//! - A common prefix is reported once per listing and never again on a page that resumes after
//!   it: a marker inside a common prefix resumes after everything that prefix rolls up.
//! - The rows under a common prefix are skipped in SQL (the next fetch starts at the prefix's
//!   successor), so a listing reads at most about `max` rows plus one batch.

use crate::error::Result;
use crate::meta::codec::{find, prefix_successor};

/// Where a walk starts (or resumes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Start<P> {
    /// Every entry whose key is at least this.
    From(Vec<u8>),
    /// Every entry whose key is greater than this.
    AfterKey(Vec<u8>),
    /// The entries of this key after this position, then greater keys.
    Within(Vec<u8>, P),
}

/// A listing's table: rows in (key, position within the key) order.
pub(crate) trait KeySource {
    /// One row.
    type Row;
    /// A position within a key.
    type Pos;
    /// Up to `limit` rows from `start` on, with keys below `upper` (None: no bound).
    fn fetch(
        &mut self,
        start: &Start<Self::Pos>,
        upper: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Self::Row>>;
    /// A row's key.
    fn key<'r>(&self, row: &'r Self::Row) -> &'r [u8];
    /// Where the walk resumes after `row`.
    fn resume_after(&self, row: &Self::Row) -> Start<Self::Pos>;
}

/// One entry of a walk.
pub(crate) enum Entry<R> {
    /// A row.
    Row(R),
    /// A common prefix.
    Prefix(String),
}

/// The result of a walk.
pub(crate) struct Walk<R> {
    /// Entries, in order.
    pub entries: Vec<Entry<R>>,
    /// Whether more entries follow.
    pub truncated: bool,
}

/// Walks `src` from `start` over keys starting with `prefix`, rolling keys up to common prefixes
/// at the first `delimiter` after the prefix, and returns at most `max` entries.
pub(crate) fn walk<S: KeySource>(
    src: &mut S,
    prefix: &[u8],
    delimiter: Option<&str>,
    start: Start<S::Pos>,
    max: usize,
) -> Result<Walk<S::Row>> {
    let mut out = Walk {
        entries: Vec::new(),
        truncated: false,
    };
    if max == 0 {
        return Ok(out);
    }
    let delimiter = delimiter.filter(|d| !d.is_empty()).map(str::as_bytes);
    let upper = prefix_successor(prefix);
    let mut start = match start {
        Start::From(k) | Start::AfterKey(k) | Start::Within(k, _) if k.as_slice() < prefix => {
            Start::From(prefix.to_vec())
        }
        other => other,
    };
    // A marker inside a common prefix (as a page that ended on that prefix hands out) resumes
    // after everything the prefix rolled up, so the prefix is not reported twice.
    if let (Some(d), Start::AfterKey(k) | Start::Within(k, _)) = (delimiter, &start) {
        if k.starts_with(prefix) {
            if let Some(pos) = find(&k[prefix.len()..], d) {
                match prefix_successor(&k[..prefix.len() + pos + d.len()]) {
                    Some(next) => start = Start::From(next),
                    None => return Ok(out),
                }
            }
        }
    }
    let batch = max.saturating_add(1).min(1001);
    let mut count = 0usize;
    'fetch: loop {
        let rows = src.fetch(&start, upper.as_deref(), batch)?;
        let fetched = rows.len();
        for row in rows {
            let key = src.key(&row);
            if !key.starts_with(prefix) {
                break 'fetch;
            }
            let common = delimiter.and_then(|d| {
                find(&key[prefix.len()..], d)
                    .map(|pos| key[..prefix.len() + pos + d.len()].to_vec())
            });
            if count == max {
                out.truncated = true;
                break 'fetch;
            }
            count += 1;
            if let Some(cp) = common {
                out.entries
                    .push(Entry::Prefix(String::from_utf8_lossy(&cp).into_owned()));
                // Skip every other key under this common prefix.
                match prefix_successor(&cp) {
                    Some(next) => {
                        start = Start::From(next);
                        continue 'fetch;
                    }
                    None => break 'fetch,
                }
            }
            start = src.resume_after(&row);
            out.entries.push(Entry::Row(row));
        }
        if fetched < batch {
            break;
        }
    }
    Ok(out)
}
