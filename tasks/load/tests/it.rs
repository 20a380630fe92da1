//! Integration tests of the load stage: simulator → ingest → transform → load into a real
//! Postgres warehouse, compared with the independent oracle (one test binary; modules by concern;
//! the chain harness and the oracle are in `tote-testkit`).

mod it {
    mod chain;
    mod declarations;
    mod failures;
    mod freshness;
}
