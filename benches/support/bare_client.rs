//! The bare client both fan-out benchmarks compare the gateway with.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Posts `count` copies of `body` to `url` from `concurrency` tasks.
pub async fn bare_client(url: &str, body: Bytes, count: usize, concurrency: usize) {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, next, body, url) =
            (client.clone(), next.clone(), body.clone(), url.to_owned());
        tasks.spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < count {
                let request = hyper::Request::post(&url)
                    .header("content-type", "application/json")
                    .body(Full::new(body.clone()))
                    .unwrap();
                let response = client.request(request).await.unwrap();
                assert!(response.status().is_success());
                http_body_util::BodyExt::collect(response.into_body())
                    .await
                    .unwrap();
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}
