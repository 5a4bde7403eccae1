//! The soak's short form (issue #14): `strata bench mixed` at concurrency 64, every GET's bytes
//! verified, against the debug build for 10 s: no error of any kind. The long form (10 minutes on
//! a release build, with the server's RSS sampled) is `conformance-tests/long/soak`, see
//! docs/reliability.md.

use crate::common::{strata_command, Server, SECRET_KEY};

#[tokio::test]
async fn mixed_load_at_concurrency_64_has_no_errors_and_no_wrong_bytes() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("soak.json");
    let args = [
        "bench",
        "mixed",
        "--size",
        "4KiB,256KiB,1MiB",
        "--concurrency",
        "64",
        "--objects",
        "200",
        "--duration",
        "10s",
        "--no-progress",
        "--json",
        json.to_str().expect("UTF-8 path"),
    ];
    let out = tokio::process::Command::from(strata_command(&server, &args, SECRET_KEY))
        .output()
        .await
        .expect("run strata bench");
    assert!(
        out.status.success(),
        "strata bench failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("bench JSON")).expect("JSON");
    let total = &report["total"];
    println!("soak, short form: {total}");
    assert_eq!(total["errors"], 0, "{report}");
    assert!(total["count"].as_u64().unwrap_or(0) > 100, "{report}");
}
