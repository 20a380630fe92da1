//! Test databases: a fresh, empty database per test on one server per test process.
//!
//! The server is `$TOTE_TEST_PG` when set (`scripts/test` starts one private cluster for the whole
//! run), else a private cluster ([`PrivateCluster`]) started on first use and stopped when the
//! process exits. Either way it works as root (the cluster runs as `postgres`) and as a normal user.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use rand::Rng;
use tote_core::tables::quote_ident;
use tote_core::{Error, Result};
use tote_private_pg::PrivateCluster;

/// A fresh, empty database for one test, dropped again when the value is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    admin_url: String,
    name: String,
}

impl TestDatabase {
    /// The URL of this database (contains the password: never print it in an assertion message).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URL of another fresh database on the same server, e.g. a warehouse beside a source.
    pub async fn sibling(&self) -> Result<TestDatabase> {
        create_test_database(&self.admin_url).await
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs outside any async context we can rely on: use a private runtime on a thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async move {
                let client = tote_io::pg::connect(&admin_url, tote_io::pg::Role::Warehouse)
                    .await
                    .ok()?;
                let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(&name));
                client.batch_execute(&sql).await.ok()
            })
        })
        .join();
    }
}

static SHARED_CLUSTER: OnceLock<Mutex<Option<PrivateCluster>>> = OnceLock::new();

extern "C" fn stop_shared_cluster() {
    if let Some(cell) = SHARED_CLUSTER.get() {
        if let Ok(mut guard) = cell.lock() {
            guard.take();
        }
    }
}

/// The admin URL of the server tests use: `$TOTE_TEST_PG` when set, else a private cluster
/// started once per process and stopped when the process exits.
pub fn test_server_url() -> Result<String> {
    if let Ok(url) = std::env::var("TOTE_TEST_PG") {
        return Ok(url);
    }
    let cell = SHARED_CLUSTER.get_or_init(|| {
        let cluster = PrivateCluster::start_temporary().ok();
        // SAFETY: registering a plain extern "C" function with no captured state.
        unsafe { libc::atexit(stop_shared_cluster) };
        Mutex::new(cluster)
    });
    let guard = cell
        .lock()
        .map_err(|_| Error::internal("test cluster lock poisoned"))?;
    match guard.as_ref() {
        Some(cluster) => Ok(cluster.url("postgres")),
        None => {
            // Start once more outside the cache to report the real reason.
            PrivateCluster::start_temporary().map(|c| c.url("postgres"))
        }
    }
}

/// A fresh database for one test on the test server (see [`test_server_url`]).
pub async fn test_database() -> Result<TestDatabase> {
    let admin_url = tokio::task::spawn_blocking(test_server_url)
        .await
        .map_err(|e| Error::internal(format!("test cluster start panicked: {e}")))??;
    create_test_database(&admin_url).await
}

async fn create_test_database(admin_url: &str) -> Result<TestDatabase> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "tote_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        rand::rng().random::<u32>()
    );
    let client = tote_io::pg::connect(admin_url, tote_io::pg::Role::Warehouse)
        .await
        .map_err(|e| Error::internal(format!("cannot connect to the test server: {}", e.message())))?;
    client
        .batch_execute(&format!(
            "CREATE DATABASE {} TEMPLATE template0",
            quote_ident(&name)
        ))
        .await
        .map_err(|e| {
            Error::internal(format!(
                "cannot create test database: {}",
                tote_io::pg::describe(&e)
            ))
        })?;
    let url = tote_io::pg::with_database(admin_url, &name)?;
    Ok(TestDatabase {
        url,
        admin_url: admin_url.to_string(),
        name,
    })
}
