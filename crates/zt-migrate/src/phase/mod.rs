//! The phases of a run, in the order their V2 ids are needed.

pub mod accounts;
pub mod cases;
pub mod lookups;
pub mod org;
pub mod unreferenced;
