//! Integration tests of the ingest stage against a real Postgres (one test binary; each concern
//! is a module). Sources are simulator databases or hand-made tables with ToteSys names.

mod it {
    mod chunks;
    mod commit;
    pub mod common;
    mod deletions;
    mod drift;
    mod incremental;
    mod refused;
    mod types;
}
