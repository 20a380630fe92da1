//! The private Postgres harness: starts as root (server as `postgres`) or as a normal user,
//! hands out fresh databases, and cleans up after itself.

use tote_io::pg::{self, Role};
use tote_private_pg::PrivateCluster;
use tote_testkit::postgres::test_database;

fn owner_of(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().uid()
}

#[tokio::test]
async fn private_cluster_starts_for_this_user_and_is_removed_on_drop() {
    let cluster = tokio::task::spawn_blocking(PrivateCluster::start_temporary)
        .await
        .unwrap()
        .expect("cluster starts");
    let root = cluster.root().to_path_buf();
    let client = pg::connect(&cluster.url("postgres"), Role::Source)
        .await
        .expect("connects");
    let user: String = client
        .query_one("SELECT current_user::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(user, "tote");
    // As root, initdb refuses to run: the data directory must belong to the postgres user.
    let data_owner = owner_of(&root.join("data"));
    // SAFETY: geteuid cannot fail.
    let me = unsafe { libc::geteuid() };
    if me == 0 {
        assert_ne!(data_owner, 0, "as root the cluster must run as the postgres user");
    } else {
        assert_eq!(data_owner, me);
    }
    // Password authentication is on: a wrong password is refused, and the message hides it.
    let wrong = cluster
        .url("postgres")
        .replace(&format!(":{}@", cluster_password(&cluster)), ":not-the-password@");
    let err = pg::connect(&wrong, Role::Source)
        .await
        .expect_err("wrong password refused");
    assert_eq!(err.kind(), tote_core::ErrorKind::Config, "{err}");
    assert!(
        !err.to_string().contains("not-the-password"),
        "password leaked: {err}"
    );
    drop(client);
    drop(cluster);
    assert!(!root.exists(), "temporary cluster directory left behind");
}

fn cluster_password(cluster: &PrivateCluster) -> String {
    let url = url_password(&cluster.url("x"));
    url.expect("url has a password")
}

fn url_password(url: &str) -> Option<String> {
    let after_scheme = url.split("://").nth(1)?;
    let userinfo = after_scheme.split('@').next()?;
    userinfo.split(':').nth(1).map(str::to_string)
}

#[tokio::test]
async fn test_databases_are_fresh_and_dropped() {
    let a = test_database().await.unwrap();
    let b = a.sibling().await.unwrap();
    assert_ne!(a.name(), b.name());
    let client = pg::connect(a.url(), Role::Source).await.unwrap();
    let tables: i64 = client
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 0, "a fresh database has no tables");
    let name = b.name().to_string();
    drop(b);
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .unwrap();
    assert!(exists.is_none(), "dropped test database still exists");
}

/// As root, runs the cluster test above again as the unprivileged `nobody` user, so both ways
/// the harness can start a server are exercised in every run. As a normal user, the test above
/// already is that case.
#[test]
fn private_cluster_also_starts_as_a_normal_user() {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let output = std::process::Command::new("runuser")
        .args(["-u", "nobody", "--"])
        .arg(&exe)
        .args([
            "--exact",
            "it::harness::private_cluster_starts_for_this_user_and_is_removed_on_drop",
        ])
        .env_remove("TOTE_TEST_PG")
        .env("TMPDIR", "/tmp")
        .current_dir("/")
        .output()
        .expect("runuser runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "as nobody: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}
