//! Wake-ups for idle workers: whoever queues work says so, and a worker
//! waiting for its next poll starts at once.

use tokio::sync::Notify;

#[derive(Default)]
pub struct Wake {
    deliveries: Notify,
    webhook_tests: Notify,
}

impl Wake {
    /// New deliveries are in the outbox.
    pub fn deliveries_queued(&self) {
        self.deliveries.notify_one();
    }

    /// An admin queued a test delivery.
    pub fn webhook_test_queued(&self) {
        self.webhook_tests.notify_one();
    }

    pub async fn deliveries(&self) {
        self.deliveries.notified().await;
    }

    pub async fn webhook_tests(&self) {
        self.webhook_tests.notified().await;
    }
}
