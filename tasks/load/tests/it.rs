//! Integration tests of the load stage: simulator → ingest → transform → load into a real
//! Postgres warehouse, compared with the transform's independent oracle (one test binary;
//! modules by concern).

mod it {
    // The transform's independent oracle, shared rather than copied; not every helper is used here.
    #[path = "../../../transform/tests/it/oracle.rs"]
    #[allow(dead_code)]
    pub mod oracle;

    mod chain;
    pub mod common;
    mod declarations;
    mod failures;
    mod freshness;
}
