//! Parsing of the sizes and durations given to `strata bench`.
//!
//! Invariant: `KiB`/`MiB`/`GiB` (and the short `K`/`M`/`G`) are powers of 1024, `KB`/`MB`/`GB`
//! powers of 1000, as warp and the AWS CLI read them; case does not matter; a bare number is bytes
//! (or seconds for a duration).

use std::time::Duration;

/// Parses one object size: `4096`, `4KiB`, `1MiB`, `1.5MiB`, `64M`, `10MB`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() {
        return Err(format!(
            "invalid size {s:?}: expected a number and a unit, e.g. 4KiB"
        ));
    }
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        other => {
            return Err(format!(
                "invalid size {s:?}: unknown unit {other:?} (use B, KiB, MiB, GiB, KB, MB or GB)"
            ))
        }
    };
    let bytes = if num.contains('.') {
        let v: f64 = num
            .parse()
            .map_err(|_| format!("invalid size {s:?}: bad number"))?;
        (v * multiplier as f64).round()
    } else {
        let v: u64 = num
            .parse()
            .map_err(|_| format!("invalid size {s:?}: bad number"))?;
        return v
            .checked_mul(multiplier)
            .filter(|&b| b <= MAX_SIZE)
            .ok_or_else(|| format!("invalid size {s:?}: larger than 5 TiB"));
    };
    if !(0.0..=MAX_SIZE as f64).contains(&bytes) {
        return Err(format!("invalid size {s:?}: larger than 5 TiB"));
    }
    Ok(bytes as u64)
}

/// S3's largest object.
const MAX_SIZE: u64 = 5 << 40;

/// Parses a duration: `30s`, `2m`, `500ms`, `1h`, `1m30s`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(secs) = t.parse::<f64>() {
        return seconds(secs, s);
    }
    let mut total = 0f64;
    let mut rest = t;
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(split);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let v: f64 = num
            .parse()
            .map_err(|_| format!("invalid duration {s:?} (e.g. 30s, 2m, 500ms)"))?;
        let scale = match unit.trim() {
            "ms" => 0.001,
            "s" | "sec" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            _ => return Err(format!("invalid duration {s:?} (e.g. 30s, 2m, 500ms)")),
        };
        total += v * scale;
        rest = next;
    }
    seconds(total, s)
}

fn seconds(secs: f64, original: &str) -> Result<Duration, String> {
    if !(0.0..=31_536_000.0).contains(&secs) || secs == 0.0 {
        return Err(format!(
            "invalid duration {original:?}: must be positive and at most a year"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A size for people: `4 KiB`, `64 MiB`, `1000 B`.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (name, unit) in UNITS {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("{} {name}", bytes / unit);
        }
    }
    for (name, unit) in UNITS {
        if bytes >= unit {
            return format!("{:.2} {name}", bytes as f64 / unit as f64);
        }
    }
    format!("{bytes} B")
}

/// Microseconds as milliseconds with a precision that suits the magnitude.
pub fn format_ms(micros: u64) -> String {
    let ms = micros as f64 / 1000.0;
    if ms < 10.0 {
        format!("{ms:.3}")
    } else if ms < 100.0 {
        format!("{ms:.2}")
    } else {
        format!("{ms:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("0").unwrap(), 0);
        assert_eq!(parse_size("4KiB").unwrap(), 4096);
        assert_eq!(parse_size("4kib").unwrap(), 4096);
        assert_eq!(parse_size("4K").unwrap(), 4096);
        assert_eq!(parse_size("1MiB").unwrap(), 1 << 20);
        assert_eq!(parse_size("64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_size("64 MiB").unwrap(), 64 << 20);
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("10KB").unwrap(), 10_000);
        assert_eq!(parse_size("2MB").unwrap(), 2_000_000);
        assert_eq!(parse_size("1.5MiB").unwrap(), 3 << 19);
        assert_eq!(parse_size("12B").unwrap(), 12);
        for bad in [
            "",
            "KiB",
            "4XB",
            "-1",
            "1.2.3K",
            "99999999999TiB",
            "6000GiB",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("0.5s").unwrap(), Duration::from_millis(500));
        for bad in ["", "0", "0s", "-1s", "10x", "s", "2y"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn formatting() {
        assert_eq!(format_size(4096), "4 KiB");
        assert_eq!(format_size(64 << 20), "64 MiB");
        assert_eq!(format_size(1000), "1000 B");
        assert_eq!(format_size(1536), "1.50 KiB");
        assert_eq!(format_ms(412), "0.412");
        assert_eq!(format_ms(12_345), "12.35");
        assert_eq!(format_ms(1_234_567), "1234.6");
    }
}
