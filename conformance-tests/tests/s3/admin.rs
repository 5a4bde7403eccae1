//! The `/_strata/` admin prefix: health and Prometheus metrics.

use crate::common::{create_bucket, get_bytes, put, send_with_headers, Answer, RawRequest, Server};

#[tokio::test]
async fn health_is_ok_without_credentials() {
    let server = Server::start();
    let answer =
        Answer::read(send_with_headers(&server, "GET", "/_strata/health", &[], Vec::new()).await)
            .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
}

#[tokio::test]
async fn metrics_are_authenticated_prometheus_text() {
    let server = Server::start();
    let client = server.client();
    let bucket = create_bucket(&client, "metrics").await;
    put(&client, &bucket, "k", &[7u8; 4096]).await;
    let _ = get_bytes(&client, &bucket, "k").await;
    client.list_buckets().send().await.expect("ListBuckets");

    let unsigned =
        Answer::read(send_with_headers(&server, "GET", "/_strata/metrics", &[], Vec::new()).await)
            .await;
    assert_eq!(
        unsigned.status,
        403,
        "metrics need credentials: {}",
        unsigned.text()
    );

    let answer = Answer::read(
        RawRequest::new("GET", "/_strata/metrics")
            .send(&server)
            .await,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let content_type = answer.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("text/plain"),
        "Content-Type {content_type:?}"
    );
    let text = answer.text();
    assert!(
        text.contains("# TYPE"),
        "Prometheus exposition format:\n{text}"
    );
    assert!(text.contains("_bucket{"), "a latency histogram:\n{text}");
    // Requests by operation: the operations just made are named in labels.
    let folded = text.to_lowercase().replace(['_', '-'], "");
    for operation in ["putobject", "getobject", "listbuckets"] {
        assert!(
            folded.contains(operation),
            "no {operation} in metrics:\n{text}"
        );
    }
}

#[tokio::test]
async fn admin_prefix_is_not_a_bucket() {
    let server = Server::start();
    let answer = Answer::read(RawRequest::new("PUT", "/_strata").send(&server).await).await;
    assert!(
        (400..500).contains(&answer.status),
        "creating a bucket named _strata must fail, got {} {}",
        answer.status,
        answer.text()
    );
}
