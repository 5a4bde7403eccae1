//! Bucket lifecycle configuration over the wire (Put/Get/DeleteBucketLifecycle) and the
//! `x-amz-expiration` header. The XML is parsed here into the lifecycle crate's types, validated
//! there, and stored by the engine in canonical (JSON) form.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use strata_lifecycle::rules::{
    Expiration, Filter, NoncurrentExpiration, NoncurrentTransition, Rule, Transition,
};
use strata_lifecycle::LifecycleConfiguration;
use strata_storage::StorageClass;

use crate::app::{blocking, S3Request};
use crate::error::{S3Error, S3Result};
use crate::lifecycle_cache;
use crate::request::rule_error;
use crate::s3_error;
use crate::xml::malformed;
use crate::xml::{self, XmlWriter};

#[derive(Debug, Deserialize)]
struct XmlConfig {
    #[serde(rename = "Rule", default)]
    rules: Vec<XmlRule>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct XmlRule {
    #[serde(rename = "ID", default)]
    id: Option<String>,
    #[serde(default)]
    status: String,
    #[serde(default)]
    filter: Option<XmlFilter>,
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    expiration: Option<XmlExpiration>,
    #[serde(rename = "Transition", default)]
    transitions: Vec<XmlTransition>,
    #[serde(default)]
    noncurrent_version_expiration: Option<XmlNoncurrentExpiration>,
    #[serde(rename = "NoncurrentVersionTransition", default)]
    noncurrent_transitions: Vec<XmlNoncurrentTransition>,
    #[serde(default)]
    abort_incomplete_multipart_upload: Option<XmlAbort>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct XmlFilter {
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    tag: Option<xml::Tag>,
    #[serde(default)]
    object_size_greater_than: Option<String>,
    #[serde(default)]
    object_size_less_than: Option<String>,
    #[serde(default)]
    and: Option<XmlAnd>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct XmlAnd {
    #[serde(default)]
    prefix: Option<String>,
    #[serde(rename = "Tag", default)]
    tags: Vec<xml::Tag>,
    #[serde(default)]
    object_size_greater_than: Option<String>,
    #[serde(default)]
    object_size_less_than: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct XmlExpiration {
    #[serde(default)]
    days: Option<String>,
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    expired_object_delete_marker: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct XmlTransition {
    #[serde(default)]
    days: Option<String>,
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    storage_class: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct XmlNoncurrentExpiration {
    #[serde(default)]
    noncurrent_days: Option<String>,
    #[serde(default)]
    newer_noncurrent_versions: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct XmlNoncurrentTransition {
    #[serde(default)]
    noncurrent_days: Option<String>,
    #[serde(default)]
    newer_noncurrent_versions: Option<String>,
    #[serde(default)]
    storage_class: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct XmlAbort {
    #[serde(default)]
    days_after_initiation: Option<String>,
}

/// A transition's `StorageClass`: a name that is no storage class at all is malformed, as S3
/// answers; a class that cannot be a transition target is refused by the rules' validation.
fn transition_class(name: &str) -> S3Result<StorageClass> {
    name.parse().map_err(|_| malformed())
}

fn int<T: std::str::FromStr>(v: &Option<String>) -> S3Result<Option<T>> {
    match v {
        None => Ok(None),
        Some(s) => s.trim().parse::<T>().map(Some).map_err(|_| malformed()),
    }
}

fn date_ms(v: &Option<String>) -> S3Result<Option<i64>> {
    let Some(s) = v else { return Ok(None) };
    crate::handlers::parse_rfc3339_ms(s.trim())
        .map(Some)
        .ok_or_else(|| s3_error!(InvalidArgument, "Invalid date format: {s}"))
}

/// Parses and validates a lifecycle configuration document.
pub fn parse_configuration(body: &[u8]) -> S3Result<LifecycleConfiguration> {
    let doc: XmlConfig = xml::parse(body)?;
    let mut rules = Vec::with_capacity(doc.rules.len());
    for r in doc.rules {
        let enabled = match r.status.as_str() {
            "Enabled" => true,
            "Disabled" => false,
            _ => return Err(malformed()),
        };
        let filter = match (&r.filter, &r.prefix) {
            (Some(_), Some(_)) => return Err(malformed()),
            (None, Some(p)) => Filter {
                prefix: p.clone(),
                ..Default::default()
            },
            (None, None) => Filter::default(),
            (Some(f), None) => {
                let set = [
                    f.prefix.is_some(),
                    f.tag.is_some(),
                    f.object_size_greater_than.is_some(),
                    f.object_size_less_than.is_some(),
                    f.and.is_some(),
                ]
                .iter()
                .filter(|b| **b)
                .count();
                if set > 1 {
                    return Err(malformed());
                }
                match &f.and {
                    Some(and) => Filter {
                        prefix: and.prefix.clone().unwrap_or_default(),
                        tags: and
                            .tags
                            .iter()
                            .map(|t| (t.key.clone(), t.value.clone()))
                            .collect(),
                        object_size_greater_than: int(&and.object_size_greater_than)?,
                        object_size_less_than: int(&and.object_size_less_than)?,
                    },
                    None => Filter {
                        prefix: f.prefix.clone().unwrap_or_default(),
                        tags: f
                            .tag
                            .iter()
                            .map(|t| (t.key.clone(), t.value.clone()))
                            .collect(),
                        object_size_greater_than: int(&f.object_size_greater_than)?,
                        object_size_less_than: int(&f.object_size_less_than)?,
                    },
                }
            }
        };
        let expiration = match &r.expiration {
            None => None,
            Some(e) => Some(Expiration {
                days: int(&e.days)?,
                date_ms: date_ms(&e.date)?,
                expired_object_delete_marker: match e
                    .expired_object_delete_marker
                    .as_deref()
                    .map(str::trim)
                {
                    None => None,
                    Some("true") => Some(true),
                    Some("false") => Some(false),
                    Some(_) => return Err(malformed()),
                },
            }),
        };
        let mut transitions = Vec::new();
        for t in &r.transitions {
            transitions.push(Transition {
                days: int(&t.days)?,
                date_ms: date_ms(&t.date)?,
                storage_class: transition_class(&t.storage_class)?,
            });
        }
        let noncurrent_expiration = match &r.noncurrent_version_expiration {
            None => None,
            Some(n) => Some(NoncurrentExpiration {
                noncurrent_days: int(&n.noncurrent_days)?,
                newer_noncurrent_versions: int(&n.newer_noncurrent_versions)?,
            }),
        };
        let mut noncurrent_transitions = Vec::new();
        for t in &r.noncurrent_transitions {
            noncurrent_transitions.push(NoncurrentTransition {
                noncurrent_days: int(&t.noncurrent_days)?.ok_or_else(malformed)?,
                newer_noncurrent_versions: int(&t.newer_noncurrent_versions)?,
                storage_class: transition_class(&t.storage_class)?,
            });
        }
        let abort_incomplete_multipart_days = match &r.abort_incomplete_multipart_upload {
            None => None,
            Some(a) => Some(int(&a.days_after_initiation)?.ok_or_else(malformed)?),
        };
        rules.push(Rule {
            id: r
                .id
                .filter(|i| !i.is_empty())
                .unwrap_or_else(|| format!("{:016x}", rand::random::<u64>())),
            enabled,
            filter,
            expiration,
            transitions,
            noncurrent_expiration,
            noncurrent_transitions,
            abort_incomplete_multipart_days,
            legacy_prefix: r.filter.is_none() && r.prefix.is_some(),
        });
    }
    let cfg = LifecycleConfiguration { rules };
    cfg.validate().map_err(rule_error)?;
    Ok(cfg)
}

fn iso_date(ms: i64) -> String {
    crate::handlers::iso8601(ms)
}

/// Renders a configuration as S3's document.
pub fn render_configuration(cfg: &LifecycleConfiguration) -> String {
    let mut w = XmlWriter::new("LifecycleConfiguration");
    for r in &cfg.rules {
        w.open("Rule").elem("ID", &r.id);
        let f = &r.filter;
        // A rule written with the legacy top-level <Prefix> reads back with it, as S3 returns it
        // (GetBucketLifecycleConfiguration echoes the form it was given; tools such as Terraform
        // compare the two and would see drift in a rewritten <Filter>).
        if r.legacy_prefix {
            w.elem("Prefix", &f.prefix);
            render_actions(&mut w, r);
            w.close();
            continue;
        }
        w.open("Filter");
        let parts = usize::from(!f.prefix.is_empty())
            + f.tags.len()
            + usize::from(f.object_size_greater_than.is_some())
            + usize::from(f.object_size_less_than.is_some());
        if parts > 1 {
            w.open("And");
        }
        if !f.prefix.is_empty() || parts == 0 {
            w.elem("Prefix", &f.prefix);
        }
        for (k, v) in &f.tags {
            w.open("Tag").elem("Key", k).elem("Value", v).close();
        }
        if let Some(n) = f.object_size_greater_than {
            w.elem("ObjectSizeGreaterThan", &n.to_string());
        }
        if let Some(n) = f.object_size_less_than {
            w.elem("ObjectSizeLessThan", &n.to_string());
        }
        if parts > 1 {
            w.close();
        }
        w.close();
        render_actions(&mut w, r);
        w.close();
    }
    w.finish()
}

/// A rule's Status and actions, after its filter.
fn render_actions(w: &mut XmlWriter, r: &Rule) {
    w.elem("Status", if r.enabled { "Enabled" } else { "Disabled" });
    for t in &r.transitions {
        w.open("Transition");
        if let Some(d) = t.days {
            w.elem("Days", &d.to_string());
        }
        if let Some(ms) = t.date_ms {
            w.elem("Date", &iso_date(ms));
        }
        w.elem("StorageClass", t.storage_class.as_str()).close();
    }
    if let Some(e) = &r.expiration {
        w.open("Expiration");
        if let Some(d) = e.days {
            w.elem("Days", &d.to_string());
        }
        if let Some(ms) = e.date_ms {
            w.elem("Date", &iso_date(ms));
        }
        if let Some(m) = e.expired_object_delete_marker {
            w.elem(
                "ExpiredObjectDeleteMarker",
                if m { "true" } else { "false" },
            );
        }
        w.close();
    }
    for t in &r.noncurrent_transitions {
        w.open("NoncurrentVersionTransition")
            .elem("NoncurrentDays", &t.noncurrent_days.to_string())
            .elem("StorageClass", t.storage_class.as_str());
        if let Some(n) = t.newer_noncurrent_versions {
            w.elem("NewerNoncurrentVersions", &n.to_string());
        }
        w.close();
    }
    if let Some(n) = &r.noncurrent_expiration {
        w.open("NoncurrentVersionExpiration");
        if let Some(d) = n.noncurrent_days {
            w.elem("NoncurrentDays", &d.to_string());
        }
        if let Some(v) = n.newer_noncurrent_versions {
            w.elem("NewerNoncurrentVersions", &v.to_string());
        }
        w.close();
    }
    if let Some(d) = r.abort_incomplete_multipart_days {
        w.open("AbortIncompleteMultipartUpload")
            .elem("DaysAfterInitiation", &d.to_string())
            .close();
    }
}

/// PutBucketLifecycleConfiguration.
pub async fn put_lifecycle(req: &mut S3Request, payload: web::Payload) -> S3Result<HttpResponse> {
    let body = req.read_document(payload, 1024 * 1024).await?;
    let cfg = parse_configuration(&body)?;
    let b = req.bucket()?.to_owned();
    let store = req.store().clone();
    blocking(move || {
        strata_lifecycle::worker::store_config(&store, &b, Some(&cfg)).map_err(S3Error::from)
    })
    .await?;
    lifecycle_cache::forget(&req.state, req.bucket()?);
    Ok(HttpResponse::Ok().finish())
}

/// GetBucketLifecycleConfiguration.
pub async fn get_lifecycle(req: &S3Request) -> S3Result<HttpResponse> {
    match lifecycle_cache::load(&req.state, req.bucket()?).await? {
        Some(cfg) => Ok(HttpResponse::Ok()
            .content_type("application/xml")
            .body(render_configuration(&cfg))),
        None => Err(s3_error!(
            NoSuchLifecycleConfiguration,
            "The lifecycle configuration does not exist"
        )),
    }
}

/// DeleteBucketLifecycle.
pub async fn delete_lifecycle(req: &S3Request) -> S3Result<HttpResponse> {
    let b = req.bucket()?.to_owned();
    let store = req.store().clone();
    blocking(move || {
        strata_lifecycle::worker::store_config(&store, &b, None).map_err(S3Error::from)
    })
    .await?;
    lifecycle_cache::forget(&req.state, req.bucket()?);
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_renders_and_validates() {
        let doc = br#"<LifecycleConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
<Rule><ID>logs</ID><Filter><And><Prefix>logs/</Prefix><Tag><Key>t</Key><Value>1</Value></Tag><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan></And></Filter><Status>Enabled</Status>
<Transition><Days>30</Days><StorageClass>STANDARD_IA</StorageClass></Transition>
<Expiration><Days>365</Days></Expiration>
<NoncurrentVersionExpiration><NoncurrentDays>7</NoncurrentDays><NewerNoncurrentVersions>3</NewerNoncurrentVersions></NoncurrentVersionExpiration></Rule>
<Rule><ID>mpu</ID><Filter><Prefix></Prefix></Filter><Status>Disabled</Status><AbortIncompleteMultipartUpload><DaysAfterInitiation>2</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>
</LifecycleConfiguration>"#;
        let cfg = parse_configuration(doc).unwrap();
        assert_eq!(cfg.rules.len(), 2);
        assert_eq!(cfg.rules[0].filter.prefix, "logs/");
        assert_eq!(cfg.rules[0].filter.object_size_greater_than, Some(10));
        assert!(!cfg.rules[1].enabled);
        let again = parse_configuration(render_configuration(&cfg).as_bytes()).unwrap();
        assert_eq!(again, cfg);
    }

    #[test]
    fn refuses_bad_documents() {
        let bad_status = b"<LifecycleConfiguration><Rule><ID>a</ID><Status>On</Status><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>";
        assert_eq!(
            parse_configuration(bad_status).unwrap_err().code.as_str(),
            "MalformedXML"
        );
        let zero = b"<LifecycleConfiguration><Rule><ID>a</ID><Filter/><Status>Enabled</Status><Expiration><Days>0</Days></Expiration></Rule></LifecycleConfiguration>";
        assert_eq!(
            parse_configuration(zero).unwrap_err().code.as_str(),
            "InvalidArgument"
        );
        let not_midnight = b"<LifecycleConfiguration><Rule><ID>a</ID><Filter/><Status>Enabled</Status><Expiration><Date>2030-01-01T05:00:00Z</Date></Expiration></Rule></LifecycleConfiguration>";
        assert_eq!(
            parse_configuration(not_midnight).unwrap_err().code.as_str(),
            "InvalidArgument"
        );
        let both = b"<LifecycleConfiguration><Rule><ID>a</ID><Prefix>x</Prefix><Filter/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>";
        assert_eq!(
            parse_configuration(both).unwrap_err().code.as_str(),
            "MalformedXML"
        );
    }
}
