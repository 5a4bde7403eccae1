//! ListObjectsV2 and ListObjects (V1): prefix, delimiter and CommonPrefixes, max-keys,
//! continuation-token, start-after, marker, encoding-type=url, byte order of keys.

use aws_sdk_s3::types::EncodingType;
use aws_sdk_s3::Client;

use crate::common::{create_bucket, error_code, put, xml_value, Answer, RawRequest, Server};

const TREE: [&str; 9] = [
    "a",
    "a/b",
    "a/b/c",
    "a/c",
    "b",
    "b/x",
    "c",
    "photos/2024/jan.jpg",
    "photos/2025/feb.jpg",
];

async fn bucket_with(client: &Client, tag: &str, keys: &[&str]) -> String {
    let bucket = create_bucket(client, tag).await;
    for key in keys {
        put(client, &bucket, key, key.as_bytes()).await;
    }
    bucket
}

fn keys_of(contents: &[aws_sdk_s3::types::Object]) -> Vec<String> {
    contents
        .iter()
        .map(|o| o.key().expect("Key").to_string())
        .collect()
}

fn prefixes_of(prefixes: &[aws_sdk_s3::types::CommonPrefix]) -> Vec<String> {
    prefixes
        .iter()
        .map(|p| p.prefix().expect("Prefix").to_string())
        .collect()
}

#[tokio::test]
async fn list_v2_prefix_and_delimiter() {
    let server = Server::start();
    let client = server.client();
    let bucket = bucket_with(&client, "v2tree", &TREE).await;

    let all = client
        .list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .expect("ListObjectsV2");
    assert_eq!(keys_of(all.contents()), TREE);
    assert_eq!(all.key_count(), Some(TREE.len() as i32));
    assert_eq!(all.is_truncated(), Some(false));
    assert_eq!(all.name(), Some(bucket.as_str()));
    assert_eq!(all.max_keys(), Some(1000), "default max-keys is 1000");
    for object in all.contents() {
        let key = object.key().expect("key");
        assert_eq!(object.size(), Some(key.len() as i64), "{key}");
        assert_eq!(
            object.e_tag(),
            Some(format!("\"{}\"", crate::common::md5_hex(key.as_bytes())).as_str())
        );
        assert!(object.last_modified().is_some());
    }

    let out = client
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("a/")
        .send()
        .await
        .expect("prefix");
    assert_eq!(keys_of(out.contents()), ["a/b", "a/b/c", "a/c"]);
    assert_eq!(out.prefix(), Some("a/"));

    let out = client
        .list_objects_v2()
        .bucket(&bucket)
        .delimiter("/")
        .send()
        .await
        .expect("delimiter");
    assert_eq!(keys_of(out.contents()), ["a", "b", "c"]);
    assert_eq!(prefixes_of(out.common_prefixes()), ["a/", "b/", "photos/"]);
    assert_eq!(out.delimiter(), Some("/"));
    assert_eq!(
        out.key_count(),
        Some(6),
        "KeyCount counts keys and prefixes"
    );

    let out = client
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("a/")
        .delimiter("/")
        .send()
        .await
        .expect("prefix + delimiter");
    assert_eq!(keys_of(out.contents()), ["a/b", "a/c"]);
    assert_eq!(prefixes_of(out.common_prefixes()), ["a/b/"]);

    let out = client
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("photos/")
        .delimiter("/")
        .send()
        .await
        .expect("nested prefixes");
    assert!(out.contents().is_empty());
    assert_eq!(
        prefixes_of(out.common_prefixes()),
        ["photos/2024/", "photos/2025/"]
    );

    let out = client
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("nothing-here")
        .send()
        .await
        .expect("empty prefix");
    assert!(out.contents().is_empty());
    assert_eq!(out.key_count(), Some(0));

    let out = client
        .list_objects_v2()
        .bucket(&bucket)
        .start_after("a/b/c")
        .send()
        .await
        .expect("start-after");
    assert_eq!(
        keys_of(out.contents()),
        [
            "a/c",
            "b",
            "b/x",
            "c",
            "photos/2024/jan.jpg",
            "photos/2025/feb.jpg"
        ]
    );
    assert_eq!(out.start_after(), Some("a/b/c"));

    let err = client
        .list_objects_v2()
        .bucket("no-such-bucket-list")
        .send()
        .await
        .expect_err("ListObjectsV2 on a missing bucket");
    assert_eq!(error_code(&err), "NoSuchBucket");
}

#[tokio::test]
async fn list_v2_pagination_with_continuation_token() {
    let server = Server::start();
    let client = server.client();
    let bucket = bucket_with(&client, "v2page", &TREE).await;

    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let out = client
            .list_objects_v2()
            .bucket(&bucket)
            .max_keys(2)
            .set_continuation_token(token.clone())
            .send()
            .await
            .expect("ListObjectsV2 page");
        pages += 1;
        assert!(out.contents().len() <= 2, "page {pages} over max-keys");
        assert_eq!(out.max_keys(), Some(2));
        assert_eq!(out.key_count(), Some(out.contents().len() as i32));
        assert_eq!(out.continuation_token(), token.as_deref());
        seen.extend(keys_of(out.contents()));
        if out.is_truncated() == Some(true) {
            token = Some(
                out.next_continuation_token()
                    .expect("truncated page has NextContinuationToken")
                    .to_string(),
            );
        } else {
            assert_eq!(out.next_continuation_token(), None);
            break;
        }
        assert!(pages < 20, "pagination does not end");
    }
    assert_eq!(seen, TREE);
    assert_eq!(pages, 5);

    // start-after with max-keys.
    let out = client
        .list_objects_v2()
        .bucket(&bucket)
        .start_after("b")
        .max_keys(2)
        .send()
        .await
        .expect("start-after + max-keys");
    assert_eq!(keys_of(out.contents()), ["b/x", "c"]);
    assert_eq!(out.is_truncated(), Some(true));
}

/// max-keys bounds keys and CommonPrefixes together; a prefix is never split across pages.
#[tokio::test]
async fn list_v2_pagination_with_delimiter() {
    let server = Server::start();
    let client = server.client();
    let bucket = bucket_with(
        &client,
        "v2pdel",
        &["a/1", "a/2", "a/3", "b", "c/1", "c/2", "d"],
    )
    .await;

    let mut keys = Vec::new();
    let mut prefixes = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..20 {
        let out = client
            .list_objects_v2()
            .bucket(&bucket)
            .delimiter("/")
            .max_keys(1)
            .set_continuation_token(token.clone())
            .send()
            .await
            .expect("ListObjectsV2 page");
        assert!(
            out.contents().len() + out.common_prefixes().len() <= 1,
            "max-keys=1 page holds {:?} {:?}",
            out.contents(),
            out.common_prefixes()
        );
        keys.extend(keys_of(out.contents()));
        prefixes.extend(prefixes_of(out.common_prefixes()));
        if out.is_truncated() != Some(true) {
            token = None;
            break;
        }
        token = out.next_continuation_token().map(str::to_string);
        assert!(token.is_some(), "truncated page has NextContinuationToken");
    }
    assert!(token.is_none(), "pagination does not end");
    assert_eq!(keys, ["b", "d"]);
    assert_eq!(prefixes, ["a/", "c/"]);
}

#[tokio::test]
async fn list_v1_marker_prefix_delimiter() {
    let server = Server::start();
    let client = server.client();
    let bucket = bucket_with(&client, "v1tree", &TREE).await;

    let out = client
        .list_objects()
        .bucket(&bucket)
        .send()
        .await
        .expect("ListObjects");
    assert_eq!(keys_of(out.contents()), TREE);
    assert_eq!(out.is_truncated(), Some(false));
    assert_eq!(out.name(), Some(bucket.as_str()));

    let out = client
        .list_objects()
        .bucket(&bucket)
        .marker("b")
        .send()
        .await
        .expect("marker");
    assert_eq!(
        keys_of(out.contents()),
        ["b/x", "c", "photos/2024/jan.jpg", "photos/2025/feb.jpg"]
    );
    assert_eq!(out.marker(), Some("b"));

    let out = client
        .list_objects()
        .bucket(&bucket)
        .prefix("a/")
        .delimiter("/")
        .send()
        .await
        .expect("prefix + delimiter");
    assert_eq!(keys_of(out.contents()), ["a/b", "a/c"]);
    assert_eq!(prefixes_of(out.common_prefixes()), ["a/b/"]);

    // Paging without a delimiter: the next marker is the last key returned.
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..20 {
        let out = client
            .list_objects()
            .bucket(&bucket)
            .max_keys(4)
            .set_marker(marker.clone())
            .send()
            .await
            .expect("ListObjects page");
        assert!(out.contents().len() <= 4);
        assert_eq!(out.max_keys(), Some(4));
        let page = keys_of(out.contents());
        seen.extend(page.clone());
        if out.is_truncated() != Some(true) {
            marker = None;
            break;
        }
        marker = Some(
            out.next_marker()
                .map(str::to_string)
                .unwrap_or_else(|| page.last().expect("a truncated page has keys").clone()),
        );
    }
    assert!(marker.is_none(), "pagination does not end");
    assert_eq!(seen, TREE);

    // With a delimiter, a truncated V1 response carries NextMarker (S3 API reference).
    let out = client
        .list_objects()
        .bucket(&bucket)
        .delimiter("/")
        .max_keys(2)
        .send()
        .await
        .expect("ListObjects delimiter + max-keys");
    assert_eq!(out.is_truncated(), Some(true));
    assert_eq!(
        keys_of(out.contents()).len() + out.common_prefixes().len(),
        2
    );
    let next = out.next_marker().expect("NextMarker with a delimiter");
    let rest = client
        .list_objects()
        .bucket(&bucket)
        .delimiter("/")
        .marker(next)
        .send()
        .await
        .expect("ListObjects from NextMarker");
    let mut all_keys = keys_of(out.contents());
    all_keys.extend(keys_of(rest.contents()));
    let mut all_prefixes = prefixes_of(out.common_prefixes());
    all_prefixes.extend(prefixes_of(rest.common_prefixes()));
    assert_eq!(all_keys, ["a", "b", "c"]);
    assert_eq!(all_prefixes, ["a/", "b/", "photos/"]);

    let err = client
        .list_objects()
        .bucket("no-such-bucket-v1")
        .send()
        .await
        .expect_err("ListObjects on a missing bucket");
    assert_eq!(error_code(&err), "NoSuchBucket");
}

/// Keys are listed in the lexicographic order of their UTF-8 bytes (not UTF-16, not a collation).
#[tokio::test]
async fn keys_are_listed_in_byte_order() {
    let server = Server::start();
    let client = server.client();
    let keys = [
        "b",
        "B",
        "a",
        "A",
        "aa",
        "a-",
        "a/",
        "a0",
        "a~",
        "_under",
        "é",
        "\u{ff61}halfwidth",
        "\u{1f600}emoji",
        "z",
        "Z",
        "~tilde",
        "0",
        "9",
        " space",
    ];
    let bucket = bucket_with(&client, "order", &keys).await;
    let mut want: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    want.sort_by(|x, y| x.as_bytes().cmp(y.as_bytes()));

    let out = client
        .list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .expect("ListObjectsV2");
    assert_eq!(keys_of(out.contents()), want, "ListObjectsV2 order");

    let out = client
        .list_objects()
        .bucket(&bucket)
        .send()
        .await
        .expect("ListObjects");
    assert_eq!(keys_of(out.contents()), want, "ListObjects order");

    // The same order across pages.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..20 {
        let out = client
            .list_objects_v2()
            .bucket(&bucket)
            .max_keys(3)
            .set_continuation_token(token.clone())
            .send()
            .await
            .expect("ListObjectsV2 page");
        seen.extend(keys_of(out.contents()));
        token = out.next_continuation_token().map(str::to_string);
        if out.is_truncated() != Some(true) {
            break;
        }
    }
    assert_eq!(seen, want, "paginated order");

    // start-after between a 3-byte and a 4-byte UTF-8 sequence.
    let out = client
        .list_objects_v2()
        .bucket(&bucket)
        .start_after("\u{ff61}halfwidth")
        .send()
        .await
        .expect("start-after unicode");
    assert_eq!(keys_of(out.contents()), ["\u{1f600}emoji"]);
}

/// `application/x-www-form-urlencoded` decoding, as boto3 applies to `encoding-type=url` lists.
fn form_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("ascii");
                out.push(
                    u8::from_str_radix(hex, 16)
                        .unwrap_or_else(|_| panic!("bad escape in {value:?}")),
                );
                i += 2;
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| panic!("{value:?} decodes to invalid UTF-8"))
}

fn xml_unescape(value: &str) -> String {
    value
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#13;", "\r")
        .replace("&amp;", "&")
}

fn all_values(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let end = after.find(&close).expect("closing tag");
        out.push(xml_unescape(&after[..end]));
        rest = &after[end + close.len()..];
    }
    out
}

const AWKWARD: [&str; 9] = [
    "dir with space/file one",
    "dir with space/file+two",
    "percent%25literal",
    "amp&lt<gt>",
    "ctrl\u{1}char",
    "unicode-é-日本",
    "quote\"apos'",
    "plus+sign",
    "tab\there",
];

#[tokio::test]
async fn list_encoding_type_url() {
    let server = Server::start();
    let client = server.client();
    let bucket = bucket_with(&client, "enc", &AWKWARD).await;
    let mut want: Vec<String> = AWKWARD.iter().map(|k| k.to_string()).collect();
    want.sort();

    // V2, no delimiter: every Key is URL-encoded; decoding gives the key back.
    let answer = Answer::read(
        RawRequest::new("GET", &format!("/{bucket}?list-type=2&encoding-type=url"))
            .send(&server)
            .await,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let xml = answer.text();
    assert_eq!(xml_value(&xml, "EncodingType").as_deref(), Some("url"));
    let raw_keys = all_values(&xml, "Key");
    assert!(
        raw_keys
            .iter()
            .all(|k| !k.contains(' ') && !k.contains('\u{1}') && !k.contains('é')),
        "keys are not URL-encoded: {raw_keys:?}"
    );
    let decoded: Vec<String> = raw_keys.iter().map(|k| form_decode(k)).collect();
    assert_eq!(decoded, want);

    // V2 with a prefix and a delimiter: Prefix and CommonPrefixes are encoded too.
    let answer = Answer::read(
        RawRequest::new(
            "GET",
            &format!("/{bucket}?list-type=2&encoding-type=url&delimiter=%2F&prefix=dir%20with%20space%2F"),
        )
        .send(&server)
        .await,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let xml = answer.text();
    let keys: Vec<String> = all_values(&xml, "Key")
        .iter()
        .map(|k| form_decode(k))
        .collect();
    assert_eq!(keys, ["dir with space/file one", "dir with space/file+two"]);
    let prefix = xml_value(&xml, "Prefix").expect("Prefix");
    assert_ne!(prefix, "dir with space/", "Prefix is encoded");
    assert_eq!(form_decode(&prefix), "dir with space/");

    let answer = Answer::read(
        RawRequest::new(
            "GET",
            &format!("/{bucket}?list-type=2&encoding-type=url&delimiter=%2F"),
        )
        .send(&server)
        .await,
    )
    .await;
    let xml = answer.text();
    let common: Vec<String> = all_values(&xml, "Prefix")
        .iter()
        .filter(|p| !p.is_empty())
        .map(|p| form_decode(p))
        .collect();
    assert!(
        common.contains(&"dir with space/".to_string()),
        "CommonPrefixes {common:?}"
    );

    // V1 as well.
    let answer = Answer::read(
        RawRequest::new("GET", &format!("/{bucket}?encoding-type=url"))
            .send(&server)
            .await,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let xml = answer.text();
    assert_eq!(xml_value(&xml, "EncodingType").as_deref(), Some("url"));
    let decoded: Vec<String> = all_values(&xml, "Key")
        .iter()
        .map(|k| form_decode(k))
        .collect();
    assert_eq!(decoded, want);

    // Through the SDK: EncodingType is echoed and keys decode to the originals.
    let out = client
        .list_objects_v2()
        .bucket(&bucket)
        .encoding_type(EncodingType::Url)
        .send()
        .await
        .expect("ListObjectsV2 encoding-type=url");
    assert_eq!(out.encoding_type(), Some(&EncodingType::Url));
    let decoded: Vec<String> = keys_of(out.contents())
        .iter()
        .map(|k| form_decode(k))
        .collect();
    assert_eq!(decoded, want);
}

/// Without encoding-type, keys come back verbatim (XML-escaped only).
#[tokio::test]
async fn list_without_encoding_returns_raw_keys() {
    let server = Server::start();
    let client = server.client();
    let keys = ["a b", "c+d", "e%f", "g&h", "<i>", "j\"k"];
    let bucket = bucket_with(&client, "raw", &keys).await;
    let out = client
        .list_objects_v2()
        .bucket(&bucket)
        .send()
        .await
        .expect("ListObjectsV2");
    let mut want: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    want.sort();
    assert_eq!(keys_of(out.contents()), want);
    assert_eq!(out.encoding_type(), None);
}

// Issue 14: what a listing carries for a key holding NUL (which no XML 1.0 document can hold):
// with encoding-type=url the key is percent-encoded; without it, a numeric character reference,
// as docs/s3-api-coverage.md says.
#[tokio::test]
async fn keys_holding_nul_are_listed_url_encoded_on_request() {
    let server = Server::start();
    let client = server.client();
    let bucket = bucket_with(&client, "nulkey", &["nul\u{0}key", "tab\tkey"]).await;
    let encoded = Answer::read(
        RawRequest::new("GET", &format!("/{bucket}?list-type=2&encoding-type=url"))
            .send(&server)
            .await,
    )
    .await;
    assert_eq!(encoded.status, 200, "{}", encoded.text());
    let keys = crate::common::xml_values(&encoded.text(), "Key");
    assert_eq!(keys, ["nul%00key", "tab%09key"]);
    let plain = Answer::read(
        RawRequest::new("GET", &format!("/{bucket}?list-type=2"))
            .send(&server)
            .await,
    )
    .await;
    assert_eq!(plain.status, 200);
    let keys = crate::common::xml_values(&plain.text(), "Key");
    assert_eq!(keys, ["nul&#x0;key", "tab&#x9;key"]);
}
