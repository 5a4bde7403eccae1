//! Bucket CORS: the configuration (Put/Get/DeleteBucketCors), `OPTIONS` preflight, and CORS headers
//! on responses to requests that carry an `Origin`, evaluated as S3 does (the first rule whose
//! origin, method and requested headers all match applies).

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};

use crate::app::{blocking, S3Request};
use crate::error::{S3Error, S3Result};
use crate::handlers::{setting_document, store_setting};
use crate::s3_error;
use crate::xml::{self, XmlWriter};

const CORS_SETTING: &str = "cors";
const MAX_RULES: usize = 100;
const METHODS: [&str; 5] = ["GET", "PUT", "HEAD", "POST", "DELETE"];

/// `<CORSConfiguration>`.
#[derive(Debug, Default, serde::Deserialize)]
pub struct CorsConfiguration {
    /// The rules, in order.
    #[serde(rename = "CORSRule", default)]
    pub rules: Vec<CorsRule>,
}

/// One `<CORSRule>`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct CorsRule {
    /// Optional rule id.
    #[serde(rename = "ID", default)]
    pub id: Option<String>,
    /// Allowed request headers (may contain one `*` wildcard each).
    #[serde(rename = "AllowedHeader", default)]
    pub allowed_headers: Vec<String>,
    /// Allowed methods.
    #[serde(rename = "AllowedMethod", default)]
    pub allowed_methods: Vec<String>,
    /// Allowed origins (may contain one `*` wildcard each).
    #[serde(rename = "AllowedOrigin", default)]
    pub allowed_origins: Vec<String>,
    /// Response headers the browser may expose.
    #[serde(rename = "ExposeHeader", default)]
    pub expose_headers: Vec<String>,
    /// Preflight cache time.
    #[serde(rename = "MaxAgeSeconds", default)]
    pub max_age_seconds: Option<String>,
}

/// Parses and validates a CORS configuration.
pub fn parse_config(body: &[u8]) -> S3Result<Vec<CorsRule>> {
    let cfg: CorsConfiguration = xml::parse(body)?;
    let malformed = || {
        s3_error!(
            MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema"
        )
    };
    if cfg.rules.is_empty() || cfg.rules.len() > MAX_RULES {
        return Err(malformed());
    }
    for rule in &cfg.rules {
        if rule.allowed_methods.is_empty() || rule.allowed_origins.is_empty() {
            return Err(malformed());
        }
        for m in &rule.allowed_methods {
            if !METHODS.contains(&m.as_str()) {
                return Err(s3_error!(
                    InvalidRequest,
                    "Found unsupported HTTP method in CORS config. Unsupported method is {m}"
                ));
            }
        }
        for o in &rule.allowed_origins {
            if o.matches('*').count() > 1 {
                return Err(s3_error!(
                    InvalidRequest,
                    "AllowedOrigin \"{o}\" can not have more than one wildcard."
                ));
            }
        }
        for h in &rule.allowed_headers {
            if h.matches('*').count() > 1 {
                return Err(s3_error!(
                    InvalidRequest,
                    "AllowedHeader \"{h}\" can not have more than one wildcard."
                ));
            }
        }
        if let Some(age) = &rule.max_age_seconds {
            if age.trim().parse::<u64>().is_err() {
                return Err(malformed());
            }
        }
    }
    Ok(cfg.rules)
}

/// Renders rules in S3's document form.
pub fn render(rules: &[CorsRule]) -> String {
    let mut w = XmlWriter::new("CORSConfiguration");
    for r in rules {
        w.open("CORSRule");
        w.opt("ID", r.id.as_deref());
        for h in &r.allowed_headers {
            w.elem("AllowedHeader", h);
        }
        for m in &r.allowed_methods {
            w.elem("AllowedMethod", m);
        }
        for o in &r.allowed_origins {
            w.elem("AllowedOrigin", o);
        }
        for e in &r.expose_headers {
            w.elem("ExposeHeader", e);
        }
        w.opt("MaxAgeSeconds", r.max_age_seconds.as_deref().map(str::trim));
        w.close();
    }
    w.finish()
}

/// Glob match with at most one `*`, case-sensitive for origins and insensitive for headers.
fn wildcard_match(pattern: &str, value: &str, ignore_case: bool) -> bool {
    let (p, v) = if ignore_case {
        (pattern.to_ascii_lowercase(), value.to_ascii_lowercase())
    } else {
        (pattern.to_owned(), value.to_owned())
    };
    match p.split_once('*') {
        None => p == v,
        Some((head, tail)) => {
            v.len() >= head.len() + tail.len() && v.starts_with(head) && v.ends_with(tail)
        }
    }
}

/// The first rule allowing this origin, method and every requested header.
pub fn find_rule<'r>(
    rules: &'r [CorsRule],
    origin: &str,
    method: &str,
    request_headers: &[String],
) -> Option<&'r CorsRule> {
    rules.iter().find(|r| {
        r.allowed_origins
            .iter()
            .any(|o| wildcard_match(o, origin, false))
            && r.allowed_methods.iter().any(|m| m == method)
            && request_headers
                .iter()
                .all(|h| r.allowed_headers.iter().any(|a| wildcard_match(a, h, true)))
    })
}

fn insert(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), v);
    }
}

/// Adds the CORS response headers of a matched rule.
fn apply_rule(headers: &mut HeaderMap, rule: &CorsRule, origin: &str) {
    let any_origin = rule.allowed_origins.iter().any(|o| o == "*");
    insert(
        headers,
        "access-control-allow-origin",
        if any_origin { "*" } else { origin },
    );
    if !any_origin {
        insert(headers, "access-control-allow-credentials", "true");
    }
    insert(
        headers,
        "access-control-allow-methods",
        &rule.allowed_methods.join(", "),
    );
    if !rule.expose_headers.is_empty() {
        insert(
            headers,
            "access-control-expose-headers",
            &rule.expose_headers.join(", "),
        );
    }
    if let Some(age) = &rule.max_age_seconds {
        insert(headers, "access-control-max-age", age.trim());
    }
    insert(
        headers,
        "vary",
        "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
    );
}

async fn load_rules(
    store: &strata_storage::Store,
    bucket: &str,
) -> S3Result<Option<Vec<CorsRule>>> {
    let store = store.clone();
    let b = bucket.to_owned();
    let doc = blocking(move || {
        store
            .bucket_setting(&b, CORS_SETTING)
            .map_err(S3Error::from)
    })
    .await?;
    match doc {
        Some(doc) => Ok(Some(parse_config(doc.as_bytes())?)),
        None => Ok(None),
    }
}

/// Adds CORS headers to a response when the request has an `Origin` that the bucket allows.
pub async fn decorate(
    store: &strata_storage::Store,
    bucket: Option<&str>,
    req: &HttpRequest,
    headers: &mut HeaderMap,
) {
    let (Some(bucket), Some(origin)) = (
        bucket,
        req.headers().get("origin").and_then(|v| v.to_str().ok()),
    ) else {
        return;
    };
    if let Ok(Some(rules)) = load_rules(store, bucket).await {
        if let Some(rule) = find_rule(&rules, origin, req.method().as_str(), &[]) {
            apply_rule(headers, rule, origin);
        }
    }
}

/// `OPTIONS` preflight: needs no credentials.
pub async fn preflight(
    store: &strata_storage::Store,
    bucket: Option<&str>,
    req: &HttpRequest,
) -> S3Result<HttpResponse> {
    let header = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok());
    let origin = header("origin").ok_or_else(|| {
        s3_error!(
            InvalidRequest,
            "Insufficient information. Origin request header needed."
        )
    })?;
    let method = header("access-control-request-method").ok_or_else(|| {
        s3_error!(
            InvalidRequest,
            "Invalid Access-Control-Request-Method: null"
        )
    })?;
    let bucket =
        bucket.ok_or_else(|| s3_error!(AccessForbidden, "CORSResponse: Bucket not found"))?;
    let requested: Vec<String> = header("access-control-request-headers")
        .map(|h| {
            h.split(',')
                .map(|s| s.trim().to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let rules = load_rules(store, bucket).await?.ok_or_else(|| {
        s3_error!(
            AccessForbidden,
            "CORSResponse: CORS is not enabled for this bucket."
        )
        .with_extra("Method", method)
        .with_extra("ResourceType", "BUCKET")
    })?;
    let rule = find_rule(&rules, origin, method, &requested).ok_or_else(|| {
        s3_error!(
            AccessForbidden,
            "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec."
        )
        .with_extra("Method", method)
        .with_extra("ResourceType", "OBJECT")
    })?;
    let mut resp = HttpResponse::Ok().finish();
    apply_rule(resp.headers_mut(), rule, origin);
    if !requested.is_empty() {
        insert(
            resp.headers_mut(),
            "access-control-allow-headers",
            &requested.join(", "),
        );
    }
    Ok(resp)
}

/// PutBucketCors.
pub async fn put_bucket_cors(req: &mut S3Request, payload: web::Payload) -> S3Result<HttpResponse> {
    let body = req.read_document(payload, 256 * 1024).await?;
    let rules = parse_config(&body)?;
    store_setting(req, CORS_SETTING, Some(render(&rules))).await?;
    Ok(HttpResponse::Ok().finish())
}

/// GetBucketCors.
pub async fn get_bucket_cors(req: &S3Request) -> S3Result<HttpResponse> {
    let missing = s3_error!(
        NoSuchCORSConfiguration,
        "The CORS configuration does not exist"
    );
    setting_document(req, CORS_SETTING, missing).await
}

/// DeleteBucketCors.
pub async fn delete_bucket_cors(req: &S3Request) -> S3Result<HttpResponse> {
    store_setting(req, CORS_SETTING, None).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &[u8] = br#"<CORSConfiguration><CORSRule><AllowedOrigin>http://*.example.com</AllowedOrigin><AllowedMethod>PUT</AllowedMethod><AllowedMethod>GET</AllowedMethod><AllowedHeader>x-amz-*</AllowedHeader><AllowedHeader>content-type</AllowedHeader><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>300</MaxAgeSeconds></CORSRule><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>"#;

    #[test]
    fn rules_match_as_s3_evaluates_them() {
        let rules = parse_config(DOC).unwrap();
        let h = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let r = find_rule(
            &rules,
            "http://app.example.com",
            "PUT",
            &h(&["x-amz-meta-a", "content-type"]),
        );
        assert_eq!(r.map(|r| r.allowed_methods.len()), Some(2));
        assert!(find_rule(
            &rules,
            "http://app.example.com",
            "PUT",
            &h(&["authorization"])
        )
        .is_none());
        assert!(find_rule(&rules, "http://evil.org", "PUT", &[]).is_none());
        let any = find_rule(&rules, "http://evil.org", "GET", &[]).unwrap();
        assert_eq!(any.allowed_origins, vec!["*"]);
    }

    #[test]
    fn validation() {
        assert!(parse_config(b"<CORSConfiguration></CORSConfiguration>").is_err());
        assert!(parse_config(b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>PATCH</AllowedMethod></CORSRule></CORSConfiguration>").is_err());
        assert!(parse_config(b"<CORSConfiguration><CORSRule><AllowedOrigin>**</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>").is_err());
        let rules = parse_config(DOC).unwrap();
        assert_eq!(parse_config(render(&rules).as_bytes()).unwrap().len(), 2);
    }
}
