//! OpenID Connect discovery and JWKS documents per second served by Gatehouse (`serve_on`: its
//! routes, edge headers, metrics and tracing layers) against a bare axum handler returning the
//! same bytes with the same headers, measured in the same run. C = 32 clients on kept-alive
//! connections (`support/load_client.rs`); bare and Gatehouse phases alternate, each Gatehouse
//! phase held against the mean of the bare phases either side (the machine's speed drifts).
//! Prints each round's ratio and their median; never fails on a timing.
//!
//! `GATEHOUSE_BENCH_SECONDS` sets each phase's length (default 5), `GATEHOUSE_BENCH_ROUNDS` the
//! number of Gatehouse phases (default 3); the store is SQLite, or PostgreSQL with
//! `GATEHOUSE_BENCH_STORE=postgres` (`support/store.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, header};

mod support;

use support::{load_client, serve, store};

// The allocator of the `gatehouse` binary, so that the bench measures what it runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const C: usize = 32;
const DOCUMENTS: [(&str, &str); 2] = [
    ("discovery", "/realms/main/.well-known/openid-configuration"),
    ("JWKS", "/realms/main/jwks"),
];

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

fn main() {
    let phase = Duration::from_secs(env_number("GATEHOUSE_BENCH_SECONDS", 5));
    let rounds = env_number("GATEHOUSE_BENCH_ROUNDS", 3) as usize;
    let _dir = support::temp_working_dir();
    let runtime = support::runtime();
    println!(
        "discovery benchmark: {C} connections, {} store, {} s a phase, {rounds} rounds, {} cores",
        store::backend(),
        phase.as_secs(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    runtime.block_on(async {
        let db = store::fresh().await;
        let gatehouse = serve::gatehouse(Arc::new(store::database_realm(&db).await)).await;
        for (name, path) in DOCUMENTS {
            let gatehouse_url = format!("{}{path}", gatehouse.base);
            let (headers, body) = fetch(&gatehouse_url).await;
            let bare = serve_bare(path, headers, body.clone()).await;
            let bare_url = format!("{}{path}", bare.base);
            println!("\n{name}: {path}, {} bytes", body.len());
            let mut bares = vec![requests_per_second(&bare_url, body.len(), phase).await];
            println!("  bare axum handler       {:>9.0}/s", bares[0]);
            let mut ratios = Vec::new();
            for round in 1..=rounds {
                let served = requests_per_second(&gatehouse_url, body.len(), phase).await;
                println!("  Gatehouse #{round}            {served:>9.0}/s");
                bares.push(requests_per_second(&bare_url, body.len(), phase).await);
                println!("  bare axum handler again {:>9.0}/s", bares[round]);
                ratios.push(served / ((bares[round - 1] + bares[round]) / 2.0));
            }
            bare.stop().await;
            let by_round: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
            ratios.sort_by(f64::total_cmp);
            println!(
                "  {name} Gatehouse / bare axum: {:.2} (goal >= 0.90)  (median; by round: {})",
                ratios[ratios.len() / 2],
                by_round.join(" ")
            );
        }
    });
}

/// What Gatehouse answers at `url`: its headers (less those a server sets per response) and body.
async fn fetch(url: &str) -> (HeaderMap, Bytes) {
    let response = reqwest::get(url).await.expect("GET");
    assert_eq!(response.status().as_u16(), 200, "{url}");
    let mut headers = HeaderMap::new();
    for (name, value) in response.headers() {
        if ![header::DATE, header::CONTENT_LENGTH].contains(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    (headers, response.bytes().await.expect("body"))
}

/// The smallest axum server answering `path` with `body` and `headers`: the ceiling.
async fn serve_bare(path: &str, headers: HeaderMap, body: Bytes) -> serve::Server {
    serve::bare(axum::Router::new().route(
        path,
        axum::routing::get(move || {
            let answer = (headers.clone(), body.clone());
            async move { answer }
        }),
    ))
    .await
}

/// [`C`] clients GETting `url` for `phase`, each on its own kept-alive connection; every answer
/// must be a 200 of `length` bytes.
async fn requests_per_second(url: &str, length: usize, phase: Duration) -> f64 {
    let count = Arc::new(AtomicU64::new(0));
    let path = Arc::new(load_client::path_of(url));
    let mut connections = Vec::new();
    for _ in 0..C {
        connections.push(load_client::Connection::open(url).await);
    }
    let started = Instant::now();
    let tasks: Vec<_> = connections
        .into_iter()
        .map(|mut connection| {
            let (count, path) = (count.clone(), path.clone());
            tokio::spawn(async move {
                while started.elapsed() < phase {
                    assert_eq!(connection.get(&path).await, (200, length));
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("client");
    }
    count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}
