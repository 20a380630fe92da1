//! Same arguments, same bytes: for the seed and for a run of ticks.

use tote_sim::RunOptions;

use crate::it::common::{checksums, seeded, small};

#[tokio::test]
async fn the_same_seed_gives_identical_data_and_another_seed_does_not() {
    let (_a, a) = seeded(&small(7)).await;
    let (_b, b) = seeded(&small(7)).await;
    let (_c, c) = seeded(&small(8)).await;
    let (sa, sb, sc) = (checksums(&a).await, checksums(&b).await, checksums(&c).await);
    assert_eq!(sa, sb, "two seeds with the same arguments differ");
    let differing = sa.iter().zip(&sc).filter(|(x, y)| x.1 != y.1).count();
    assert!(
        differing >= 5,
        "a different --seed should change the data, changed {differing} tables"
    );
}

#[tokio::test]
async fn the_same_run_gives_identical_data() {
    let options = RunOptions {
        ticks: 12,
        update_rate: 1.0,
        delete_rate: 0.5,
        ..RunOptions::default()
    };
    let (a_db, a) = seeded(&small(3)).await;
    let (b_db, b) = seeded(&small(3)).await;
    let ra = tote_sim::run(a_db.url(), &options, |_| {}).await.unwrap();
    let rb = tote_sim::run(b_db.url(), &options, |_| {}).await.unwrap();
    assert_eq!(ra, rb, "tick reports differ");
    assert_eq!(
        checksums(&a).await,
        checksums(&b).await,
        "two identical runs differ"
    );
}
