//! Integration tests of the ToteSys simulator against a real Postgres (one test binary; each
//! concern is a module). Each test gets a fresh database from the private test cluster, or from
//! `$TOTE_TEST_PG` when set.

mod it {
    pub mod common;
    mod determinism;
    mod harness;
    mod rules;
    mod schema;
}
