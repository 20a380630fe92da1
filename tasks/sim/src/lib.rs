//! The ToteSys simulator.
