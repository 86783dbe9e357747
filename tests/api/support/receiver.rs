//! An in-process webhook receiver: records every request, answers each path
//! with a scripted sequence of statuses (then 200), or hangs until released;
//! it may hold every request open a while, as a slow endpoint does.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use tokio::sync::{watch, Notify};

#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct Script {
    requests: Vec<Received>,
    statuses: HashMap<String, VecDeque<u16>>,
    hanging: HashSet<String>,
    /// How long every request is held open before it is answered.
    held_for: Option<Duration>,
    /// Requests being answered now, and the most ever at once, by path.
    in_flight: HashMap<String, usize>,
    most_in_flight: HashMap<String, usize>,
}

/// Counts a request in flight on its path until it is answered or dropped.
struct InFlight {
    script: Arc<Mutex<Script>>,
    path: String,
}

impl InFlight {
    fn start(script: &Arc<Mutex<Script>>, path: &str) -> Self {
        let mut locked = script.lock().unwrap();
        let now = locked.in_flight.entry(path.to_owned()).or_default();
        *now += 1;
        let now = *now;
        let most = locked.most_in_flight.entry(path.to_owned()).or_default();
        *most = (*most).max(now);
        Self {
            script: script.clone(),
            path: path.to_owned(),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut script = self.script.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(now) = script.in_flight.get_mut(&self.path) {
            *now -= 1;
        }
    }
}

#[derive(Clone)]
struct Shared {
    script: Arc<Mutex<Script>>,
    arrived: Arc<Notify>,
    released: watch::Receiver<bool>,
}

pub struct Receiver {
    pub base: String,
    shared: Shared,
    release: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (release, released) = watch::channel(false);
        let shared = Shared {
            script: Default::default(),
            arrived: Default::default(),
            released,
        };
        let app = Router::new()
            .route("/{*path}", post(receive))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            base,
            shared,
            release,
            server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base)
    }

    /// The next answers on `path`; 200 once they are used up.
    pub fn respond(&self, path: &str, statuses: &[u16]) {
        self.shared
            .script
            .lock()
            .unwrap()
            .statuses
            .insert(path.to_owned(), statuses.iter().copied().collect());
    }

    /// Requests on `path` get no answer until [`Receiver::release`].
    pub fn hang(&self, path: &str) {
        self.shared
            .script
            .lock()
            .unwrap()
            .hanging
            .insert(path.to_owned());
    }

    /// Every request from now on is answered only after `delay`.
    pub fn hold_open(&self, delay: Duration) {
        self.shared.script.lock().unwrap().held_for = Some(delay);
    }

    pub fn release(&self) {
        self.release.send_replace(true);
    }

    pub fn requests(&self, path: &str) -> Vec<Received> {
        self.shared
            .script
            .lock()
            .unwrap()
            .requests
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Per path, the distinct `webhook-id` headers its requests carried.
    pub fn webhook_ids(&self) -> HashMap<String, HashSet<String>> {
        let mut ids: HashMap<String, HashSet<String>> = HashMap::new();
        for request in &self.shared.script.lock().unwrap().requests {
            ids.entry(request.path.clone())
                .or_default()
                .insert(request.header("webhook-id"));
        }
        ids
    }

    /// The most requests any one path was answering at once.
    pub fn most_in_flight(&self) -> usize {
        let script = self.shared.script.lock().unwrap();
        script.most_in_flight.values().copied().max().unwrap_or(0)
    }

    /// Per path, the most requests it was answering at once.
    pub fn most_in_flight_by_path(&self) -> HashMap<String, usize> {
        self.shared.script.lock().unwrap().most_in_flight.clone()
    }

    pub fn all_requests(&self) -> Vec<Received> {
        self.shared.script.lock().unwrap().requests.clone()
    }

    /// Waits (without polling on a timer) until `done` holds for the requests so far.
    pub async fn wait_until(&self, done: impl Fn(&[Received]) -> bool) {
        loop {
            // Registered before the check, so an arrival in between is not missed.
            let arrived = self.shared.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            if done(&self.shared.script.lock().unwrap().requests) {
                return;
            }
            arrived.await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.release.send_replace(true);
        self.server.abort();
    }
}

async fn receive(
    State(shared): State<Shared>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let _in_flight = InFlight::start(&shared.script, &path);
    let (status, hang, held_for) = {
        let mut script = shared.script.lock().unwrap();
        script.requests.push(Received {
            path: path.clone(),
            headers,
            body,
        });
        let status = script
            .statuses
            .get_mut(&path)
            .and_then(VecDeque::pop_front)
            .unwrap_or(200);
        (status, script.hanging.contains(&path), script.held_for)
    };
    shared.arrived.notify_waiters();
    if hang {
        let mut released = shared.released.clone();
        let _ = released.wait_for(|r| *r).await;
    }
    if let Some(delay) = held_for {
        tokio::time::sleep(delay).await;
    }
    StatusCode::from_u16(status).unwrap()
}
