//! The date formats of signed requests: SigV4's ISO 8601 basic timestamp and HTTP `Date` values.

use time::OffsetDateTime;

/// Parses an ISO 8601 basic timestamp (`20130524T000000Z`), SigV4's `x-amz-date` format.
pub fn parse_amz_date(value: &str) -> Option<OffsetDateTime> {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    if value.len() != 16 {
        return None;
    }
    time::PrimitiveDateTime::parse(value, format)
        .ok()
        .map(|t| t.assume_utc())
}

/// Formats a time as an ISO 8601 basic timestamp (`20130524T000000Z`).
pub fn format_amz_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Formats a time the way S3 shows it in error documents (`2013-05-24T00:00:00Z`).
pub fn format_iso8601(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Parses an HTTP `Date` value: RFC 1123 with `GMT` or a numeric zone (`+0000`, as in AWS's
/// SigV2 examples), RFC 850, asctime, or an ISO 8601 basic timestamp.
pub fn parse_http_date(value: &str) -> Option<OffsetDateTime> {
    let value = value.trim();
    if let Ok(t) = httpdate::parse_http_date(value) {
        return Some(OffsetDateTime::from(t));
    }
    if let Ok(t) = OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822) {
        return Some(t);
    }
    parse_amz_date(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn request_dates() {
        assert_eq!(
            parse_amz_date("20130524T000000Z"),
            Some(datetime!(2013-05-24 00:00:00 UTC))
        );
        assert_eq!(parse_amz_date("2013-05-24T00:00:00Z"), None);
        assert_eq!(
            parse_http_date("Tue, 27 Mar 2007 19:36:42 +0000"),
            Some(datetime!(2007-03-27 19:36:42 UTC))
        );
        assert_eq!(
            parse_http_date("Tue, 27 Mar 2007 19:36:42 GMT"),
            Some(datetime!(2007-03-27 19:36:42 UTC))
        );
        assert_eq!(
            format_amz_date(datetime!(2013-05-24 01:02:03 UTC)),
            "20130524T010203Z"
        );
        assert_eq!(
            format_iso8601(datetime!(2013-05-24 01:02:03 UTC)),
            "2013-05-24T01:02:03Z"
        );
    }
}
