//! Bucket replication configuration over the wire (Put/Get/DeleteBucketReplication). The XML is
//! parsed here into the lifecycle crate's types, validated there, checked against the store
//! (source and local destinations versioned), and stored by the engine in canonical JSON, which
//! the engine's replication policy reads in every committing transaction.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use strata_lifecycle::replication::{
    parse_target, Destination, RemoteReplicator, ReplicationConfiguration, ReplicationFilter,
    ReplicationRule, Target,
};
use strata_storage::{StorageClass, Versioning};

use crate::app::{blocking, S3Request};
use crate::error::{S3Error, S3Result};
use crate::request::rule_error;
use crate::s3_error;
use crate::xml::malformed;
use crate::xml::{self, XmlWriter};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct XmlConfig {
    #[serde(default)]
    role: Option<String>,
    #[serde(rename = "Rule", default)]
    rules: Vec<XmlRule>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct XmlRule {
    #[serde(rename = "ID", default)]
    id: Option<String>,
    #[serde(default)]
    priority: Option<String>,
    #[serde(default)]
    status: String,
    #[serde(default)]
    filter: Option<XmlFilter>,
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    destination: Option<XmlDestination>,
    #[serde(default)]
    delete_marker_replication: Option<XmlStatus>,
    #[serde(default)]
    existing_object_replication: Option<XmlStatus>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct XmlFilter {
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    tag: Option<xml::Tag>,
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
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct XmlDestination {
    #[serde(default)]
    bucket: Option<String>,
    #[serde(default)]
    storage_class: Option<String>,
    #[serde(default)]
    account: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct XmlStatus {
    #[serde(default)]
    status: String,
}

fn status(s: &str) -> S3Result<bool> {
    match s.trim() {
        "Enabled" => Ok(true),
        "Disabled" => Ok(false),
        _ => Err(malformed()),
    }
}

fn tags(list: &[xml::Tag]) -> Vec<(String, String)> {
    list.iter()
        .map(|t| (t.key.clone(), t.value.clone()))
        .collect()
}

/// Parses a replication configuration document (the schema only; see `validate`).
pub fn parse_configuration(body: &[u8]) -> S3Result<ReplicationConfiguration> {
    let doc: XmlConfig = xml::parse(body)?;
    let role = doc.role.ok_or_else(malformed)?;
    let mut rules = Vec::with_capacity(doc.rules.len());
    for r in doc.rules {
        let enabled = status(&r.status)?;
        let (v2, filter) = match (&r.filter, &r.prefix) {
            (Some(_), Some(_)) => return Err(malformed()),
            (None, p) => (
                false,
                ReplicationFilter {
                    prefix: p.clone().unwrap_or_default(),
                    ..Default::default()
                },
            ),
            (Some(f), None) => {
                let set = usize::from(f.prefix.is_some())
                    + usize::from(f.tag.is_some())
                    + usize::from(f.and.is_some());
                if set > 1 {
                    return Err(malformed());
                }
                let filter = match &f.and {
                    Some(and) => {
                        if usize::from(and.prefix.is_some()) + and.tags.len() < 2 {
                            return Err(malformed());
                        }
                        ReplicationFilter {
                            prefix: and.prefix.clone().unwrap_or_default(),
                            tags: tags(&and.tags),
                            and: true,
                        }
                    }
                    None => ReplicationFilter {
                        prefix: f.prefix.clone().unwrap_or_default(),
                        tags: tags(f.tag.as_slice()),
                        and: false,
                    },
                };
                (true, filter)
            }
        };
        let dest = r.destination.ok_or_else(malformed)?;
        let priority = match &r.priority {
            None => None,
            Some(p) => Some(p.trim().parse::<i64>().map_err(|_| malformed())?),
        };
        let delete_marker_replication = match &r.delete_marker_replication {
            None => None,
            Some(s) => Some(status(&s.status)?),
        };
        let existing_object_replication = match &r.existing_object_replication {
            None => None,
            Some(s) => Some(status(&s.status)?),
        };
        rules.push(ReplicationRule {
            id: r
                .id
                .filter(|i| !i.is_empty())
                .unwrap_or_else(|| format!("{:016x}", rand::random::<u64>())),
            priority,
            enabled,
            v2,
            filter,
            destination: Destination {
                bucket: dest.bucket.ok_or_else(malformed)?.trim().to_owned(),
                storage_class: dest
                    .storage_class
                    .map(|c| c.trim().parse::<StorageClass>().map_err(|_| malformed()))
                    .transpose()?,
                account: dest.account,
            },
            delete_marker_replication,
            existing_object_replication,
        });
    }
    Ok(ReplicationConfiguration { role, rules })
}

/// Renders a configuration as S3's document.
pub fn render_configuration(cfg: &ReplicationConfiguration) -> String {
    let mut w = XmlWriter::new("ReplicationConfiguration");
    w.elem("Role", &cfg.role);
    let on = |b: bool| if b { "Enabled" } else { "Disabled" };
    for r in &cfg.rules {
        w.open("Rule").elem("ID", &r.id);
        if let Some(p) = r.priority {
            w.elem("Priority", &p.to_string());
        }
        w.elem("Status", on(r.enabled));
        if let Some(dm) = r.delete_marker_replication {
            w.open("DeleteMarkerReplication")
                .elem("Status", on(dm))
                .close();
        }
        let f = &r.filter;
        if r.v2 {
            w.open("Filter");
            if f.and {
                // Always written, so that an And of an empty Prefix and one Tag reads back as
                // the two predicates it was stored with.
                w.open("And").elem("Prefix", &f.prefix);
            } else if f.tags.is_empty() {
                w.elem("Prefix", &f.prefix);
            }
            for (k, v) in &f.tags {
                w.open("Tag").elem("Key", k).elem("Value", v).close();
            }
            if f.and {
                w.close();
            }
            w.close();
        } else {
            w.elem("Prefix", &f.prefix);
        }
        w.open("Destination").elem("Bucket", &r.destination.bucket);
        w.opt("Account", r.destination.account.as_deref());
        w.opt(
            "StorageClass",
            r.destination.storage_class.map(StorageClass::as_str),
        );
        w.close();
        if let Some(existing) = r.existing_object_replication {
            w.open("ExistingObjectReplication")
                .elem("Status", on(existing))
                .close();
        }
        w.close();
    }
    w.finish()
}

/// PutBucketReplication.
pub async fn put_replication(req: &mut S3Request, payload: web::Payload) -> S3Result<HttpResponse> {
    crate::handlers::require_integrity_header(req)?;
    let body = req.read_document(payload, 1024 * 1024).await?;
    let bucket = req.bucket()?.to_owned();
    let (store, b) = (req.store().clone(), bucket.clone());
    blocking(move || store.bucket(&b).map(|_| ()).map_err(S3Error::from)).await?;
    let cfg = parse_configuration(&body)?;
    let remotes = req.state.remotes.clone();
    cfg.validate(&bucket, &|name| remotes.knows(name))
        .map_err(rule_error)?;
    let store = req.store().clone();
    let queued = blocking(move || {
        if store.bucket(&bucket)?.versioning != Versioning::Enabled {
            return Err(s3_error!(
                InvalidRequest,
                "Versioning must be 'Enabled' on the bucket to apply a replication configuration"
            )
            .with_extra("BucketName", bucket));
        }
        let source_locked = store.object_lock_config(&bucket)?.is_some();
        for r in &cfg.rules {
            if let Some(Target::Local(dest)) = parse_target(&r.destination.bucket) {
                match store.bucket(&dest) {
                    // User Guide, "Using Object Lock with S3 Replication": a source with Object
                    // Lock needs a destination with it (a remote destination that lacks it
                    // refuses the replica's lock headers, and the version goes FAILED).
                    Ok(_) if source_locked && store.object_lock_config(&dest)?.is_none() => {
                        return Err(s3_error!(
                            InvalidRequest,
                            "Destination bucket must have Object Lock enabled to replicate from a bucket with Object Lock enabled."
                        ))
                    }
                    Ok(info) if info.versioning == Versioning::Enabled => {}
                    Ok(_) => {
                        return Err(s3_error!(
                            InvalidRequest,
                            "Destination bucket must have versioning enabled."
                        ))
                    }
                    Err(strata_storage::Error::NoSuchBucket(_)) => {
                        return Err(s3_error!(InvalidRequest, "Destination bucket must exist."))
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        strata_lifecycle::replication::store_config(&store, &bucket, Some(&cfg))
            .map_err(S3Error::from)
    })
    .await?;
    if queued > 0 {
        req.state.replication.trigger();
    }
    Ok(HttpResponse::Ok().finish())
}

/// GetBucketReplication.
pub async fn get_replication(req: &S3Request) -> S3Result<HttpResponse> {
    let bucket = req.bucket()?.to_owned();
    let store = req.store().clone();
    let b = bucket.clone();
    let cfg = blocking(move || {
        strata_lifecycle::replication::load_config(&store, &b).map_err(S3Error::from)
    })
    .await?;
    match cfg {
        Some(cfg) => Ok(HttpResponse::Ok()
            .content_type("application/xml")
            .body(render_configuration(&cfg))),
        None => Err(s3_error!(
            ReplicationConfigurationNotFoundError,
            "The replication configuration was not found"
        )
        .with_extra("BucketName", bucket)),
    }
}

/// DeleteBucketReplication. Entries already queued are still carried.
pub async fn delete_replication(req: &S3Request) -> S3Result<HttpResponse> {
    let bucket = req.bucket()?.to_owned();
    let store = req.store().clone();
    blocking(move || {
        strata_lifecycle::replication::store_config(&store, &bucket, None).map_err(S3Error::from)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_renders_v2_rules() {
        let doc = br#"<ReplicationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
            <Role>arn:aws:iam::1:role/r</Role>
            <Rule><ID>a</ID><Priority>2</Priority><Status>Enabled</Status>
              <DeleteMarkerReplication><Status>Enabled</Status></DeleteMarkerReplication>
              <Filter><Prefix>logs/</Prefix></Filter>
              <Destination><Bucket>arn:aws:s3:::dst</Bucket><StorageClass>STANDARD_IA</StorageClass></Destination>
            </Rule>
            <Rule><Priority>1</Priority><Status>Disabled</Status>
              <DeleteMarkerReplication><Status>Disabled</Status></DeleteMarkerReplication>
              <Filter><And><Prefix>p</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></And></Filter>
              <Destination><Bucket>arn:strata:replication::west:dst</Bucket></Destination>
              <ExistingObjectReplication><Status>Enabled</Status></ExistingObjectReplication>
            </Rule>
        </ReplicationConfiguration>"#;
        let cfg = parse_configuration(doc).unwrap();
        assert_eq!(cfg.rules.len(), 2);
        assert!(cfg.rules[0].v2 && cfg.rules[0].enabled);
        assert_eq!(cfg.rules[0].delete_marker_replication, Some(true));
        assert_eq!(
            cfg.rules[0]
                .destination
                .storage_class
                .map(StorageClass::as_str),
            Some("STANDARD_IA")
        );
        assert_eq!(cfg.rules[1].filter.tags, vec![("k".into(), "v".into())]);
        assert_eq!(cfg.rules[1].existing_object_replication, Some(true));
        assert!(!cfg.rules[1].id.is_empty());
        // What is rendered parses back to the same configuration.
        assert_eq!(
            parse_configuration(render_configuration(&cfg).as_bytes()).unwrap(),
            cfg
        );
    }

    #[test]
    fn schema_errors() {
        let code = |doc: &str| {
            parse_configuration(doc.as_bytes())
                .unwrap_err()
                .code
                .as_str()
        };
        // No Role.
        assert_eq!(code("<ReplicationConfiguration><Rule><Status>Enabled</Status><Destination><Bucket>arn:aws:s3:::d</Bucket></Destination></Rule></ReplicationConfiguration>"), "MalformedXML");
        // Bad status.
        assert_eq!(code("<ReplicationConfiguration><Role/><Rule><Status>On</Status><Destination><Bucket>arn:aws:s3:::d</Bucket></Destination></Rule></ReplicationConfiguration>"), "MalformedXML");
        // Filter and Prefix together.
        assert_eq!(code("<ReplicationConfiguration><Role/><Rule><Status>Enabled</Status><Prefix/><Filter/><Destination><Bucket>arn:aws:s3:::d</Bucket></Destination></Rule></ReplicationConfiguration>"), "MalformedXML");
        // No destination bucket.
        assert_eq!(code("<ReplicationConfiguration><Role/><Rule><Status>Enabled</Status><Destination/></Rule></ReplicationConfiguration>"), "MalformedXML");
        // A legacy rule parses: no Filter, no Priority.
        let cfg = parse_configuration(b"<ReplicationConfiguration><Role/><Rule><Status>Enabled</Status><Prefix>x</Prefix><Destination><Bucket>arn:aws:s3:::d</Bucket></Destination></Rule></ReplicationConfiguration>").unwrap();
        assert!(!cfg.rules[0].v2);
        assert_eq!(cfg.rules[0].filter.prefix, "x");
    }
}
