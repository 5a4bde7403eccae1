//! POST Object: a browser uploads a file with an HTML form (`multipart/form-data`) authorised by a
//! signed policy document instead of request signing.

use std::collections::BTreeMap;

use actix_multipart::Multipart;
use actix_web::http::header;
use actix_web::{web, HttpResponse};
use futures_util::{StreamExt, TryStreamExt};
use strata_storage::{NewVersion, ObjectMeta, WriteCondition};

use crate::app::S3Request;
use crate::auth::post_policy;
use crate::auth::PayloadCheck;
use crate::body::{self, BodySpec};
use crate::error::{S3Error, S3Result};
use crate::request::{self, validate_key, validate_tags, MAX_OBJECT_TAGS, MAX_PUT_SIZE};
use crate::s3_error;
use crate::write;
use crate::xml::{self, XmlWriter};

/// Most bytes of form fields before the file.
const MAX_FIELDS_BYTES: usize = 64 * 1024;

fn malformed(msg: &str) -> S3Error {
    s3_error!(
        MalformedPOSTRequest,
        "The body of your POST request is not well-formed multipart/form-data. {msg}"
    )
}

/// POST Object.
pub async fn post_object(req: &mut S3Request, payload: web::Payload) -> S3Result<HttpResponse> {
    let bucket = req.bucket()?.to_owned();
    let content_type = req.header("content-type").unwrap_or("");
    if !content_type
        .to_ascii_lowercase()
        .starts_with("multipart/form-data")
    {
        return Err(s3_error!(
            PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold"
        )
        .with_extra(
            "Condition",
            "Bucket POST must be of the enclosure-type multipart/form-data",
        ));
    }
    let mut form = Multipart::new(req.http.headers(), payload);
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut fields_bytes = 0usize;
    let mut file = None;
    let limits = &req.state.body_limits;
    while let Some(mut part) = limits
        .within(form.try_next())
        .await?
        .map_err(|e| malformed(&e.to_string()))?
    {
        let name = part.name().unwrap_or("").to_owned();
        if name.eq_ignore_ascii_case("file") {
            let filename = part
                .content_disposition()
                .and_then(|cd| cd.get_filename())
                .unwrap_or("")
                .to_owned();
            let file_type = part.content_type().map(|m| m.to_string());
            file = Some((part, filename, file_type));
            break;
        }
        let mut value = Vec::new();
        while let Some(chunk) = limits.within(part.next()).await? {
            let chunk = chunk.map_err(|e| malformed(&e.to_string()))?;
            fields_bytes += chunk.len();
            if fields_bytes > MAX_FIELDS_BYTES {
                return Err(s3_error!(
                    MaxPostPreDataLengthExceededError,
                    "Your POST request fields preceding the upload file were too large."
                ));
            }
            value.extend_from_slice(&chunk);
        }
        let value = String::from_utf8(value).map_err(|_| malformed("A field is not UTF-8."))?;
        fields.push((name, value));
    }
    let (file_part, filename, file_type) = file.ok_or_else(|| {
        s3_error!(
            InvalidArgument,
            "POST requires exactly one file upload per request."
        )
        .with_extra("ArgumentName", "file")
    })?;
    let get = |n: &str| {
        fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.as_str())
    };
    let policy =
        post_policy::verify_post(&fields, &req.state.auth, time::OffsetDateTime::now_utc())?;
    let key_template = get("key").ok_or_else(|| {
        s3_error!(InvalidArgument, "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.")
            .with_extra("ArgumentName", "key")
    })?;
    let key = key_template.replace("${filename}", &filename);
    if key.is_empty() {
        return Err(s3_error!(
            InvalidArgument,
            "User key must have a length greater than 0."
        ));
    }
    validate_key(&key)?;
    if policy.signer.is_some() {
        // An anonymous form has no policy whose conditions could name its fields.
        policy.check_fields(&fields, &bucket, &key)?;
    }
    let mut actions = vec!["s3:PutObject"];
    if get("tagging").is_some() {
        actions.push("s3:PutObjectTagging");
    }
    if get("acl").is_some() {
        actions.push("s3:PutObjectAcl");
    }
    if get(crate::lock_request::MODE).is_some() || get(crate::lock_request::RETAIN_UNTIL).is_some()
    {
        actions.push("s3:PutObjectRetention");
    }
    if get(crate::lock_request::LEGAL_HOLD).is_some() {
        actions.push("s3:PutObjectLegalHold");
    }
    crate::authz::authorize_form(req, policy.signer.clone(), &key, &actions).await?;
    let (retention, legal_hold) = crate::lock_request::new_version_lock(
        get,
        req.granted.bucket.as_ref().and_then(|b| b.lock.as_ref()),
        &req.state.clock,
    )?;
    let requested = get("acl").map(crate::acl_request::canned).transpose()?;
    let (owner, acl) = crate::acl_request::new_object(req, requested)?;

    let mut meta = ObjectMeta {
        content_type: get("content-type")
            .map(str::to_owned)
            .or(file_type)
            .or_else(|| Some("binary/octet-stream".into())),
        content_encoding: get("content-encoding").and_then(request::stored_content_encoding),
        content_disposition: get("content-disposition").map(str::to_owned),
        content_language: get("content-language").map(str::to_owned),
        cache_control: get("cache-control").map(str::to_owned),
        expires: get("expires").map(str::to_owned),
        user: BTreeMap::new(),
        owner,
        acl,
        retention,
        legal_hold,
        ..Default::default()
    };
    meta.user = request::user_metadata(fields.iter().filter_map(|(k, v)| {
        let name = k.get(..11)?;
        name.eq_ignore_ascii_case("x-amz-meta-")
            .then(|| (&k[11..], v.clone()))
    }))?;
    if let Some(doc) = get("tagging") {
        let tagging: xml::Tagging = xml::parse(doc.as_bytes())?;
        meta.tags = tagging
            .tag_set
            .tags
            .into_iter()
            .map(|t| (t.key, t.value))
            .collect();
        validate_tags(&meta.tags, MAX_OBJECT_TAGS)?;
    }
    let storage_class = request::storage_class(get("x-amz-storage-class"))?;
    let status = match get("success_action_status") {
        Some("200") => 200,
        Some("201") => 201,
        _ => 204,
    };
    let redirect = get("success_action_redirect")
        .or_else(|| get("redirect"))
        .map(str::to_owned);

    let spec = BodySpec {
        declared_len: None,
        max_len: MAX_PUT_SIZE,
        content_md5: None,
        checksum: None,
        payload: PayloadCheck::Unverified,
    };
    let writer = req.store().body_writer();
    let (writer, digests) = body::ingest(file_part, writer, spec, &req.state.body_limits).await?;
    policy.check_length(digests.len)?;
    let etag = hex::encode(digests.md5);
    let new = NewVersion {
        etag: etag.clone(),
        meta,
        storage_class,
        condition: WriteCondition::None,
        replica_of: None,
    };
    let version = write::commit_body(req.store(), &bucket, &key, writer, new).await?;
    req.state.metrics.record_bytes_in(digests.len);
    let host = req.header("host").unwrap_or("localhost");
    let location = format!("http://{host}/{bucket}/{}", request::encode_if(true, &key));
    let quoted = format!("\"{etag}\"");
    if let Some(url) = redirect {
        let sep = if url.contains('?') { '&' } else { '?' };
        let enc = |s: &str| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        let target = format!(
            "{url}{sep}bucket={}&key={}&etag={}",
            enc(&bucket),
            enc(&key),
            enc(&quoted)
        );
        return Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, target))
            .insert_header((header::ETAG, quoted))
            .finish());
    }
    let mut resp = match status {
        200 => HttpResponse::Ok(),
        201 => HttpResponse::Created(),
        _ => HttpResponse::NoContent(),
    };
    resp.insert_header((header::ETAG, quoted.clone()))
        .insert_header((header::LOCATION, location.clone()));
    if version.version_id != strata_storage::NULL_VERSION {
        resp.insert_header(("x-amz-version-id", version.version_id.as_str()));
    }
    if status == 201 {
        let mut w = XmlWriter::new("PostResponse");
        w.elem("Location", &location)
            .elem("Bucket", &bucket)
            .elem("Key", &key)
            .elem("ETag", &quoted);
        return Ok(resp.content_type("application/xml").body(w.finish()));
    }
    Ok(resp.finish())
}
