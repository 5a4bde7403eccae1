//! S3's XML: a small writer for response documents and serde-based readers for request bodies.

use serde::de::DeserializeOwned;

use crate::error::{xml_escape, S3Result};
use crate::s3_error;

/// The namespace of S3 response documents.
pub const S3_NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// Builds an XML document with the declaration S3 sends.
pub struct XmlWriter {
    out: String,
    stack: Vec<&'static str>,
}

impl XmlWriter {
    /// Starts a document whose root element carries the S3 namespace.
    pub fn new(root: &'static str) -> Self {
        let mut out = String::with_capacity(1024);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<");
        out.push_str(root);
        out.push_str(" xmlns=\"");
        out.push_str(S3_NS);
        out.push_str("\">");
        Self {
            out,
            stack: vec![root],
        }
    }

    /// Opens an element.
    pub fn open(&mut self, name: &'static str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        self.stack.push(name);
        self
    }

    /// Opens an element with attributes written as given (`name="value" ...`, already escaped).
    pub fn open_with(&mut self, name: &'static str, attributes: &str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push(' ');
        self.out.push_str(attributes);
        self.out.push('>');
        self.stack.push(name);
        self
    }

    /// Closes the innermost open element.
    pub fn close(&mut self) -> &mut Self {
        if let Some(name) = self.stack.pop() {
            self.out.push_str("</");
            self.out.push_str(name);
            self.out.push('>');
        }
        self
    }

    /// Writes `<name>text</name>`.
    pub fn elem(&mut self, name: &str, text: &str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        self.out.push_str(&xml_escape(text));
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    /// Writes `<name>text</name>` when `text` is present.
    pub fn opt(&mut self, name: &str, text: Option<&str>) -> &mut Self {
        if let Some(t) = text {
            self.elem(name, t);
        }
        self
    }

    /// Closes every open element and returns the document.
    pub fn finish(mut self) -> String {
        while !self.stack.is_empty() {
            self.close();
        }
        self.out
    }
}

/// Parses a request body into `T`; anything that is not the expected document is `MalformedXML`.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> S3Result<T> {
    let text = std::str::from_utf8(body).map_err(|_| malformed())?;
    let text = prepare(text)?;
    quick_xml::de::from_str(&text).map_err(|_| malformed())
}

/// Readies a request document for quick-xml's deserializer, or refuses it:
///
/// - A character XML 1.0 does not allow (a control character other than tab, line feed and
///   carriage return; U+FFFE, U+FFFF) makes the document malformed. The deserializer would take
///   a raw NUL, which the documents the server renders could then only show as `&#x0;`, a
///   reference no XML parser reads.
/// - A document type declaration inside the root element is malformed (XML allows one only
///   before it); the deserializer would panic on one between two pieces of an element's text.
/// - NEL (U+0085) and LINE SEPARATOR (U+2028) in text and CDATA are handed over as character
///   references. The deserializer normalises line ends by XML 1.1's rules, which turn them into
///   `\n`; XML 1.0, the version S3 speaks, keeps them, so that a key `a\u{2028}b` stays itself.
///
/// A document without a DOCTYPE, NEL or LINE SEPARATOR (almost every one) is checked for its
/// characters only, and handed over untouched.
fn prepare(text: &str) -> S3Result<std::borrow::Cow<'_, str>> {
    use quick_xml::events::Event;
    use std::borrow::Cow;
    let xml_char = |c: char| {
        matches!(c, '\t' | '\n' | '\r' | ' '..='\u{d7ff}' | '\u{e000}'..='\u{fffd}')
            || c >= '\u{10000}'
    };
    if !text.chars().all(xml_char) {
        return Err(malformed());
    }
    let doctype = text
        .as_bytes()
        .windows(3)
        .any(|w| w[0] == b'<' && w[1] == b'!' && w[2].eq_ignore_ascii_case(&b'd'));
    let mut line_ends = text.contains(['\u{85}', '\u{2028}']);
    if !doctype && !line_ends {
        return Ok(Cow::Borrowed(text));
    }
    // The deserializer's tokenizer, configured as the deserializer configures it.
    let mut reader = quick_xml::NsReader::from_str(text);
    reader.config_mut().expand_empty_elements = true;
    let mut out = String::new();
    let mut copied = 0;
    let mut depth = 0usize;
    loop {
        let start = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        // A document the tokenizer refuses is refused by the deserializer as well.
        let Ok(event) = reader.read_event() else {
            break;
        };
        let end = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let cdata = matches!(event, Event::CData(_));
        match event {
            Event::Eof => break,
            Event::Decl(decl) if decl.version().is_ok_and(|v| v.as_ref() == b"1.1") => {
                line_ends = false;
            }
            Event::Start(_) => depth += 1,
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::DocType(_) if depth > 0 => return Err(malformed()),
            Event::Text(_) | Event::CData(_) if line_ends => {
                // Events start and end at markup, so these are character boundaries.
                let (Some(before), Some(span)) = (text.get(copied..start), text.get(start..end))
                else {
                    return Ok(Cow::Borrowed(text));
                };
                if !span.contains(['\u{85}', '\u{2028}']) {
                    continue;
                }
                out.push_str(before);
                for c in span.chars() {
                    match (c, cdata) {
                        ('\u{85}', false) => out.push_str("&#x85;"),
                        ('\u{2028}', false) => out.push_str("&#x2028;"),
                        ('\u{85}', true) => out.push_str("]]>&#x85;<![CDATA["),
                        ('\u{2028}', true) => out.push_str("]]>&#x2028;<![CDATA["),
                        (c, _) => out.push(c),
                    }
                }
                copied = end;
            }
            _ => {}
        }
    }
    match text.get(copied..) {
        Some(rest) if copied > 0 => {
            out.push_str(rest);
            Ok(Cow::Owned(out))
        }
        _ => Ok(Cow::Borrowed(text)),
    }
}

/// S3's `MalformedXML`: a body that is not the operation's document.
pub fn malformed() -> crate::error::S3Error {
    s3_error!(
        MalformedXML,
        "The XML you provided was not well-formed or did not validate against our published schema"
    )
}

/// `<CreateBucketConfiguration>`.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateBucketConfiguration {
    /// Region the bucket is meant for.
    #[serde(default)]
    pub location_constraint: Option<String>,
}

/// `<Delete>` of DeleteObjects.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteRequest {
    /// Quiet mode: report only errors.
    #[serde(default)]
    pub quiet: Option<bool>,
    /// The objects.
    #[serde(default, rename = "Object")]
    pub objects: Vec<DeleteObjectEntry>,
}

/// One `<Object>` of DeleteObjects.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteObjectEntry {
    /// Key.
    pub key: String,
    /// Version id.
    #[serde(default)]
    pub version_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_nested_documents() {
        let mut w = XmlWriter::new("ListBucketResult");
        w.elem("Name", "b&c")
            .open("Contents")
            .elem("Key", "<k>")
            .close();
        let xml = w.finish();
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b&amp;c</Name><Contents><Key>&lt;k&gt;</Key></Contents></ListBucketResult>"
        );
    }

    #[test]
    fn parses_delete_requests() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>
<Object><Key>a &amp; b</Key></Object><Object><Key>c</Key><VersionId>v1</VersionId></Object></Delete>"#;
        let d: DeleteRequest = parse(body).unwrap();
        assert_eq!(d.quiet, Some(true));
        assert_eq!(d.objects.len(), 2);
        assert_eq!(d.objects[0].key, "a & b");
        assert_eq!(d.objects[1].version_id.as_deref(), Some("v1"));
        assert!(parse::<DeleteRequest>(b"<Delete><Object>").is_err());
    }

    #[test]
    fn parses_bucket_configuration() {
        let c: CreateBucketConfiguration = parse(
            b"<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>",
        )
        .unwrap();
        assert_eq!(c.location_constraint.as_deref(), Some("eu-west-1"));
    }
}

/// `<CompleteMultipartUpload>`.
#[derive(Debug, serde::Deserialize)]
pub struct CompleteMultipartUpload {
    /// The parts, in the order given.
    #[serde(default, rename = "Part")]
    pub parts: Vec<CompletedPart>,
}

/// One `<Part>` of CompleteMultipartUpload.
#[derive(Debug, serde::Deserialize)]
pub struct CompletedPart {
    /// Part number.
    #[serde(rename = "PartNumber")]
    pub part_number: String,
    /// ETag as returned by UploadPart (quoted or not).
    #[serde(rename = "ETag", default)]
    pub etag: Option<String>,
}

#[cfg(test)]
mod complete_tests {
    use super::*;

    #[test]
    fn parses_complete_requests() {
        let c: CompleteMultipartUpload = parse(
            br#"<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><ETag>"a"</ETag><PartNumber>1</PartNumber><ChecksumCRC32>x</ChecksumCRC32></Part><Part><PartNumber>2</PartNumber><ETag>b</ETag></Part></CompleteMultipartUpload>"#,
        )
        .unwrap();
        assert_eq!(c.parts.len(), 2);
        assert_eq!(c.parts[0].etag.as_deref(), Some("\"a\""));
        assert_eq!(c.parts[1].part_number, "2");
    }
}

/// `<Tagging>` (object and bucket tagging).
#[derive(Debug, serde::Deserialize)]
pub struct Tagging {
    /// The tag set.
    #[serde(rename = "TagSet")]
    pub tag_set: TagSet,
}

/// `<TagSet>`.
#[derive(Debug, Default, serde::Deserialize)]
pub struct TagSet {
    /// The tags.
    #[serde(rename = "Tag", default)]
    pub tags: Vec<Tag>,
}

/// One `<Tag>`.
#[derive(Debug, serde::Deserialize)]
pub struct Tag {
    /// Key.
    #[serde(rename = "Key")]
    pub key: String,
    /// Value (may be empty).
    #[serde(rename = "Value", default)]
    pub value: String,
}

/// `<VersioningConfiguration>`.
#[derive(Debug, serde::Deserialize)]
pub struct VersioningConfiguration {
    /// `Enabled` or `Suspended`.
    #[serde(rename = "Status", default)]
    pub status: Option<String>,
    /// `Enabled` or `Disabled`.
    #[serde(rename = "MfaDelete", default)]
    pub mfa_delete: Option<String>,
}

/// `<RestoreRequest>`.
#[derive(Debug, Default, serde::Deserialize)]
pub struct RestoreRequest {
    /// Days the restored copy stays readable.
    #[serde(rename = "Days", default)]
    pub days: Option<String>,
    /// Retrieval options.
    #[serde(rename = "GlacierJobParameters", default)]
    pub glacier_job_parameters: Option<GlacierJobParameters>,
    /// `SELECT` restores are not supported.
    #[serde(rename = "Type", default)]
    pub restore_type: Option<String>,
}

/// `<GlacierJobParameters>`.
#[derive(Debug, Default, serde::Deserialize)]
pub struct GlacierJobParameters {
    /// Expedited, Standard or Bulk.
    #[serde(rename = "Tier", default)]
    pub tier: Option<String>,
}
