//! Integration tests of the transform stage: simulator → ingest → transform, compared with an
//! independent oracle computed by plain SQL in Postgres (`tote_testkit::oracle`; one test binary,
//! modules by concern).

mod it {
    mod pipeline;
}
